"""``python -m benchmarks.retried_call``: the SDK's CPU per retried call.

For each case a sandbox server runs in its own process with a script that makes the
first request of every call fail once (``--script ENDPOINT:N:KIND``); this process makes
single calls one after another (``ZyntroClient.fetch_contact`` or
``add_profile_to_contact``), in blocks of 25 that alternate between faulted calls and
clean ones (the script skips those), ``--calls`` of each. The figure is the client's CPU
(``time.process_time()``) per call with the fault, minus the same per call without it
(medians over the blocks): what one retry costs, the server's work left out. ``--count``
gives function calls per call instead (cProfile's count), which the machine's load does
not move: the figure to compare two trees by on a busy machine; ``retry_sdk_calls``
leaves out the calls made in aiohttp and the event loop (the re-sent request's own cost).
Sleeps are zeroed (``set_testing``), which changes no decision, only the waiting.

Cases: ``fetch_500`` (a read answered 500, re-sent), ``add_429`` (an add refused with
429, re-sent) and ``add_drop`` (an add applied but its answer lost: reconciled by a
fetch that finds the record). ``--sdk-path DIR`` measures the ``zyntro_async`` in DIR
(e.g. a worktree of an older commit) against this tree's sandbox; ``--pairs`` repeats
every case that many times and prints the median.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import statistics
import sys
import time
from typing import Any

from ._common import payload, sandbox_server

BLOCK = 25  # calls per block; faulted and clean blocks alternate

#: name -> (endpoint scripted, fault, requests to that endpoint per faulted call)
CASES: dict[str, tuple[str, str, int]] = {
    "fetch_500": ("fetchContact", "server_error", 2),
    "add_429": ("addProfileToContact", "rate_limit", 2),
    "add_drop": ("addProfileToContact", "drop_after_commit", 1),
}


#: Where the request's own transport and the event loop live: not the SDK's work.
_TRANSPORT = (
    "aiohttp",
    "yarl",
    "multidict",
    "propcache",
    "aiohappyeyeballs",
    "asyncio",
    "selectors",
)


def _function_calls(profiler: cProfile.Profile) -> tuple[int, int]:
    """All Python-level calls, and those outside the transport and the event loop (the
    SDK's own functions and the libraries it calls: logging, attrs, json, ...)."""
    total = sdk = 0
    for entry in profiler.getstats():
        total += entry.callcount
        filename = getattr(entry.code, "co_filename", None)
        if filename is not None and not any(f"/{name}/" in filename for name in _TRANSPORT):
            sdk += entry.callcount
    return total, sdk


async def _calls(
    env: dict[str, str], case: str, plan: list[bool], count: bool
) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Per call, for each block of faulted calls and each clean block: CPU seconds, or
    with ``count`` the Python and C function calls made (cProfile's count)."""
    from zyntro_async import ZyntroClient
    from zyntro_async.testing import seeded_contact_ids, set_testing

    set_testing(True)
    contact_ids = seeded_contact_ids(0, 100)
    client = ZyntroClient(
        api_key=env["ZYNTRO_API_KEY"],
        developer_secret=env["ZYNTRO_DEVELOPER_SECRET"],
        org_id=env["ZYNTRO_ORG_ID"],
        member_id=env.get("ZYNTRO_MEMBER_ID"),
        base_url=env["ZYNTRO_BASE_URL"],
        allow_insecure_http=True,
    )
    faulted: list[tuple[float, float]] = []
    clean: list[tuple[float, float]] = []
    async with client:
        for block, is_faulted in enumerate(plan):
            profiler = cProfile.Profile() if count else None
            if profiler is not None:
                profiler.enable()
            started = time.process_time()
            for i in range(BLOCK):
                seq = block * BLOCK + i
                contact = contact_ids[seq % len(contact_ids)]
                if case == "fetch_500":
                    await client.fetch_contact(contact)
                else:
                    await client.add_profile_to_contact(contact, payload(seq), "bench")
            spent = ((time.process_time() - started) / BLOCK, 0.0)
            if profiler is not None:
                profiler.disable()
                total, sdk = _function_calls(profiler)
                spent = (total / BLOCK, sdk / BLOCK)
            if block >= 2:  # the first two blocks warm every path up
                (faulted if is_faulted else clean).append(spent)
    return faulted, clean


def measure(case: str, calls: int, count: bool = False) -> dict[str, float]:
    """Blocks of faulted and clean calls, alternating; medians per block."""
    endpoint, fault, per_call = CASES[case]
    plan = [block % 2 == 0 for block in range(2 + 2 * max(1, calls // BLOCK))]
    # The server queues each script after the ones before it: N counts from there.
    scripts = []
    gap = 0  # clean requests to ``endpoint`` since the last scripted one
    for is_faulted in plan:
        for _ in range(BLOCK):
            if is_faulted:
                scripts.append(f"{endpoint}:{gap + 1}:{fault}")
                gap = per_call - 1
            else:
                gap += 1
    with sandbox_server(contacts=100, seed=0, scripts=tuple(scripts)) as server:
        faulted, clean = asyncio.run(_calls(server.env, case, plan, count))
    f = statistics.median(x for x, _ in faulted)
    c = statistics.median(x for x, _ in clean)
    if count:
        fs = statistics.median(x for _, x in faulted)
        cs = statistics.median(x for _, x in clean)
        return {
            "faulted_calls": f,
            "clean_calls": c,
            "retry_calls": f - c,
            "retry_sdk_calls": fs - cs,
        }
    return {"faulted_us": f * 1e6, "clean_us": c * 1e6, "retry_us": (f - c) * 1e6}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.retried_call")
    parser.add_argument("--calls", type=int, default=400, help="timed calls per half")
    parser.add_argument("--pairs", type=int, default=1, help="repeat each case; median")
    parser.add_argument("--case", action="append", choices=sorted(CASES))
    parser.add_argument("--sdk-path", help="import zyntro_async from this directory")
    parser.add_argument(
        "--count",
        action="store_true",
        help="count function calls per call (cProfile) instead of CPU: the same on a busy "
        "machine as on an idle one",
    )
    args = parser.parse_args(argv)
    if args.sdk_path:
        sys.path.insert(0, os.path.abspath(args.sdk_path))
    import zyntro_async

    out: dict[str, Any] = {"sdk": os.path.dirname(zyntro_async.__file__)}
    for case in args.case or sorted(CASES):
        runs = [measure(case, args.calls, args.count) for _ in range(args.pairs)]
        out[case] = {key: round(statistics.median(run[key] for run in runs), 1) for key in runs[0]}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
