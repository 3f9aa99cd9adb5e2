"""``python -m benchmarks.server``: the sandbox in its own process, on uvloop when installed.

A launcher around :class:`zyntro_async.testing.ZyntroSandbox` (127.0.0.1 only, requests
not recorded) that seeds ``--contacts`` contacts, prints the ``export ZYNTRO_...=`` lines
and then serves until one of these happens:

* SIGTERM or SIGINT (the benchmark runner terminates it after each run);
* its stdin reaches end of file (the runner holds a pipe open: if the runner dies, even
  by SIGKILL, the pipe closes and the server exits by itself);
* ``--max-seconds`` have passed (a last-resort bound on its lifetime).

Next to the sandbox it serves ``GET /stats`` on a second loopback port (printed as
``BENCH_STATS_URL``; the sandbox's own port serves only the API): the sandbox's counters
per endpoint (requests, successes, errors, injected faults by kind, quota refusals
included) as JSON, and with ``?census=1`` a census of the stored profiles:

* ``profiles``: records stored;
* ``duplicates``: records whose contact, ``profile_source`` and payload (canonical JSON)
  equal an earlier record's. Every benchmark item has a unique payload, so each one is
  an add applied twice;
* ``items_stored``: distinct (contact, source, payload) among the measured items (payload
  ``seq`` below the warm-up offset), to set against the successes a client reported.

A worker reads it before and after its timed part, so the counts cover exactly that part
(the census covers the whole run, warm-up included: a duplicate is one wherever it is).
``--script ENDPOINT:N:KIND`` makes the N-th request to ENDPOINT answer with fault KIND
(a :class:`~zyntro_async.testing.Fault` value), e.g. ``addProfileToContact:20:rate_limit``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shlex
import signal
import sys
import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from zyntro_async.testing import ENDPOINTS, Fault, Faults, ZyntroSandbox

from ._common import WARMUP_OFFSET, run_loop, uvloop_available


def _script(spec: str) -> tuple[str, int, Fault]:
    endpoint, n, kind = spec.split(":")
    if endpoint not in ENDPOINTS or int(n) < 1:
        raise argparse.ArgumentTypeError(f"bad --script {spec!r}: ENDPOINT:N:KIND")
    return endpoint, int(n), Fault(kind)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.server", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    parser.add_argument("--contacts", type=int, default=1000, help="seed this many contacts")
    parser.add_argument("--faults", type=Faults.parse, default=None, help="fault spec")
    parser.add_argument("--seed", type=int, default=0, help="seed for contacts and faults")
    parser.add_argument(
        "--script",
        type=_script,
        action="append",
        default=[],
        help="ENDPOINT:N:KIND, the N-th request to ENDPOINT answers with fault KIND",
    )
    parser.add_argument("--no-uvloop", action="store_true", help="serve on the stdlib asyncio loop")
    parser.add_argument(
        "--max-seconds", type=float, default=3600.0, help="exit after this long (default 3600)"
    )
    parser.add_argument(
        "--watch-stdin",
        action="store_true",
        help="exit when stdin reaches EOF (the parent process went away)",
    )
    return parser


def counters(sandbox: ZyntroSandbox) -> dict[str, Any]:
    """The sandbox's counters, JSON-ready: per endpoint, faults by kind name."""
    out: dict[str, Any] = {}
    for endpoint in ENDPOINTS:
        stats = sandbox.stats[endpoint]
        out[endpoint] = {
            "requests": stats.requests,
            "successes": stats.successes,
            "errors": dict(stats.errors),
            "faults": {kind.value: count for kind, count in stats.faults.items()},
        }
    return out


def census(sandbox: ZyntroSandbox, contact_ids: list[str]) -> dict[str, int]:
    """Profiles stored, duplicates (same contact, source and payload twice), measured items."""
    records = duplicates = items = 0
    for contact_id in contact_ids:
        seen: Counter[str] = Counter()
        for record in sandbox.profiles(contact_id):
            records += 1
            payload = record["profile_payload"]
            key = json.dumps([record["profile_source"], payload], sort_keys=True)
            seen[key] += 1
            if seen[key] > 1:
                duplicates += 1
            elif not (isinstance(payload, dict) and payload.get("seq", 0) >= WARMUP_OFFSET):
                items += 1
    return {"profiles": records, "duplicates": duplicates, "items_stored": items}


async def _serve(args: argparse.Namespace) -> None:
    sandbox = ZyntroSandbox(
        host="127.0.0.1", port=args.port, faults=args.faults, seed=args.seed, record_requests=0
    )
    for endpoint, n, kind in args.script:
        sandbox.script(endpoint, *([None] * (n - 1)), kind)
    async with sandbox:
        ids = sandbox.seed(args.contacts) if args.contacts > 0 else []

        async def stats(request: web.Request) -> web.Response:
            out = {"counters": counters(sandbox)}
            if request.query.get("census") == "1":
                out["census"] = census(sandbox, ids)
            return web.json_response(out)

        app = web.Application()
        app.router.add_get("/stats", stats)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            stats_port = int(runner.addresses[0][1])
            creds = sandbox.credentials
            lines = [
                f"# Zyntro sandbox at {sandbox.base_url} ({len(ids)} contacts, seed {args.seed})",
                f"export ZYNTRO_BASE_URL={shlex.quote(sandbox.base_url)}",
                f"export ZYNTRO_API_KEY={shlex.quote(creds['api_key'])}",
                f"export ZYNTRO_DEVELOPER_SECRET={shlex.quote(creds['developer_secret'])}",
                f"export ZYNTRO_ORG_ID={shlex.quote(creds['org_id'])}",
                f"export ZYNTRO_MEMBER_ID={shlex.quote(creds['member_id'])}",
                f"export BENCH_STATS_URL=http://127.0.0.1:{stats_port}/stats",
                "# ready",
            ]
            sys.stdout.write("\n".join(lines) + "\n")
            sys.stdout.flush()
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()


async def _main(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(_serve(args))
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    if args.watch_stdin:
        fd = sys.stdin.fileno()

        def watch() -> None:  # blocking read in a daemon thread; EOF = the parent is gone
            # os.read on the descriptor, not sys.stdin: a daemon thread blocked inside the
            # buffered reader would hold its lock and stall interpreter shutdown.
            with contextlib.suppress(OSError):
                while os.read(fd, 4096):
                    pass
            with contextlib.suppress(RuntimeError):  # the loop may already be closed
                loop.call_soon_threadsafe(task.cancel)

        threading.Thread(target=watch, name="stdin-watch", daemon=True).start()
    loop.call_later(args.max_seconds, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    use_uvloop = uvloop_available() and not args.no_uvloop
    print(f"# server loop: {'uvloop' if use_uvloop else 'asyncio'}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        run_loop(_main(args), use_uvloop=use_uvloop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
