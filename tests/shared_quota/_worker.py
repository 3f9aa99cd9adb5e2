"""One process of a fleet sharing a quota, for the tests and the benchmark.

``python -m tests.shared_quota._worker URL MAX SECONDS WIDTH SKEW`` (the API key in
``ZYNTRO_API_KEY``: never in argv) connects, prints ``ready``, reads a Redis time START
from stdin, acquires with WIDTH concurrent tasks from a little before START until
START + SECONDS, and prints one JSON line: the acquisitions that completed inside
[START, START + SECONDS] of Redis time, and the p99 wait. SKEW (seconds) offsets this
process's ``time.monotonic`` and ``time.time``, as a client with a wrong clock.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time


def _skew(seconds: float) -> None:
    if seconds:
        monotonic, wall = time.monotonic, time.time
        time.monotonic = lambda: monotonic() + seconds
        time.time = lambda: wall() + seconds


async def _redis_time(url: str) -> float:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        seconds, micros = await client.time()
        return float(seconds) + micros / 1e6
    finally:
        await client.aclose()


async def run(
    url: str, key: str, max_per_second: float | None, seconds: float, width: int
) -> dict[str, float]:
    from zyntro_async._shared_quota import SharedQuota

    # Redis time = local clock + offset (one reading; the patched clock is used throughout).
    before = time.monotonic()
    now = await _redis_time(url)
    offset = now - (before + time.monotonic()) / 2
    quota = await SharedQuota.connect(url, key, max_per_second=max_per_second)
    print("ready", flush=True)
    start = float(await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline))
    begin, end = start - offset, start + seconds - offset
    counted = 0
    waits: list[float] = []
    await asyncio.sleep(max(0.0, begin - 0.3 - time.monotonic()))

    async def task() -> None:
        nonlocal counted
        while True:
            waited = await quota.acquire()
            at = time.monotonic()
            if at > end:
                return
            if at >= begin:
                counted += 1
                waits.append(waited)

    try:
        await asyncio.gather(*(task() for _ in range(width)))
    finally:
        await quota.aclose()
    waits.sort()
    p99 = waits[int(len(waits) * 0.99)] if waits else 0.0
    return {"count": counted, "p99_wait": p99, "mode_shared": quota.mode == "shared"}


def main() -> None:
    url, limit, seconds, width, skew = sys.argv[1:6]
    key = os.environ["ZYNTRO_API_KEY"]
    _skew(float(skew))
    ceiling = float(limit) if float(limit) > 0 else None
    result = asyncio.run(run(url, key, ceiling, float(seconds), int(width)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
