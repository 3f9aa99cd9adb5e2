"""One process of ``benchmarks.fleet``: a real bulk run, started on a signal.

    python -m benchmarks._fleet_worker '<json settings>'

The credentials come from the ``ZYNTRO_*`` environment (never argv); the settings hold
``base_url``, ``seed`` and ``contacts`` (the sandbox's seeded contacts), ``start`` and
``items`` (the payload ``seq`` range, unique per process),
``concurrency``, ``max_per_second`` (None: learned), ``shared_quota`` (a Redis URL, or
None: this process alone), ``bound`` (seconds, a safety net) and ``skew`` (seconds
added to this process's ``time.monotonic`` and ``time.time``: a client whose clock is
wrong; the measurements below read the true clock).

It builds its client (and imports redis-py: once per process, not per run), prints
``ready``, waits for a line on stdin (so that every process of a run starts together),
runs ``client.bulk_add_profiles`` and prints one JSON line: the true ``time.monotonic()``
(one clock for every process on a machine) of each success, the failures by code, and
the times at which the SDK logged leaving and rejoining the shared quota (its WARNINGs:
"Redis unreachable", "Redis answers again").
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from typing import Any

TRUE_MONOTONIC = time.monotonic
_TRUE_TIME = time.time


def _skew(seconds: float) -> None:
    if seconds:
        time.monotonic = lambda: TRUE_MONOTONIC() + seconds
        time.time = lambda: _TRUE_TIME() + seconds


class _Modes(logging.Handler):
    """The shared quota's switches, by the SDK's own log lines, on the true clock."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.local: list[float] = []
        self.shared: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if "shared quota: Redis unreachable" in text:
            self.local.append(TRUE_MONOTONIC())
        elif "shared quota: Redis answers again" in text:
            self.shared.append(TRUE_MONOTONIC())


async def run(settings: dict[str, Any]) -> dict[str, Any]:
    from zyntro_async import Limits, ProfileRequest, ZyntroClient
    from zyntro_async.testing import seeded_contact_ids

    from ._common import SOURCE, payload

    if settings["shared_quota"]:
        import redis.asyncio  # noqa: F401 -- paid once per process, not per run: not timed

    env = os.environ
    ids = seeded_contact_ids(int(settings["seed"]), int(settings["contacts"]))
    start, items = int(settings["start"]), int(settings["items"])
    requests = (
        ProfileRequest(ids[i % len(ids)], payload(i), SOURCE) for i in range(start, start + items)
    )
    concurrency = int(settings["concurrency"])
    ok_times: list[float] = []
    errors: dict[str, int] = {}
    async with ZyntroClient(
        api_key=env["ZYNTRO_API_KEY"],
        developer_secret=env["ZYNTRO_DEVELOPER_SECRET"],
        org_id=env["ZYNTRO_ORG_ID"],
        member_id=env["ZYNTRO_MEMBER_ID"],
        base_url=settings["base_url"],
        limits=Limits(max_connections=concurrency),
    ) as client:
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        begun = TRUE_MONOTONIC()
        run = client.bulk_add_profiles(
            requests,
            concurrency=concurrency,
            max_per_second=settings["max_per_second"],
            shared_quota=settings["shared_quota"],
        )

        async def consume() -> None:
            async for result in run:
                if result.ok:
                    ok_times.append(TRUE_MONOTONIC())
                else:
                    code = str(getattr(result.error, "code", type(result.error).__name__))
                    errors[code] = errors.get(code, 0) + 1

        cut_off = False
        try:
            await asyncio.wait_for(consume(), float(settings["bound"]))
        except asyncio.TimeoutError:
            cut_off = True
    return {
        "begun": begun,
        "ended": TRUE_MONOTONIC(),
        "ok_times": ok_times,
        "failed": sum(errors.values()),
        "errors": errors,
        "cut_off": cut_off,
    }


def main() -> None:
    settings = json.loads(sys.argv[1])
    modes = _Modes()
    logging.getLogger("zyntro_async").addHandler(modes)
    logging.getLogger("zyntro_async").setLevel(logging.WARNING)
    logging.getLogger("zyntro_async").propagate = False  # retries' WARNINGs: not to stderr
    _skew(float(settings.get("skew", 0.0)))
    result = asyncio.run(run(settings))
    result["went_local"] = modes.local
    result["shared_again"] = modes.shared
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
