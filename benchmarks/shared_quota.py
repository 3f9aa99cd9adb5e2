"""What the shared quota (``zyntro-async[redis]``) costs, and how well a fleet shares it.

    python -m benchmarks.shared_quota            # about 40 s on 2 cores
    python -m benchmarks.shared_quota --quick    # shorter windows, N in {1, 2}

Starts its own ``redis-server`` (Debian's, no persistence) on a free loopback port, then:

1. **Cost, one process.** (a) Raw: 64 tasks acquire flat out through a quota far above
   what they can reach: acquisitions/s and Redis calls/s. (b) Added latency: requests
   arrive on a fixed schedule at 2,000/s through a quota of 4,000/s (never binding), so
   any time an acquire takes is the limiter's own: p50/p99/max per acquire, and its CPU
   per acquire (process CPU with the limiter minus the same schedule without it; the
   median of rounds run alternately, as a shared machine's noise is of the same order),
   as a share of one core at 2,000/s. (c) Binding: 64 tasks through a quota of 2,000/s: the
   rate reached over a window timed by Redis ``TIME``.
2. **A fleet.** N in {1, 2, 4, 8} processes, 4 tasks each, on one key with a quota of
   400/s: the combined rate over one Redis-time window (opened once all are connected)
   divided by the quota, and Jain's fairness index over the processes' counts.
3. **Bulk runs** (``--bulk``, alone; about 60 s). N in {1, 2, 4} bulk runs in one
   process, each on its own client with the same API key, adding 600 items between
   them against one sandbox quota of 200/s (5 ms latency): with ``shared_quota=`` and
   ``max_per_second=200`` (known), with ``shared_quota=`` alone (learned), and without a
   shared quota (each run learning alone). Prints the combined successes per second
   divided by the quota, the share of requests refused, failures, and Jain's index over
   the runs' own rates.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KEY_VARIABLE = "ZYNTRO_BENCH_API_KEY"
ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_redis(folder: str) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", folder],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.02)
    proc.kill()
    raise SystemExit("redis-server did not start (apt-get install redis-server)")


async def _redis_now(url: str) -> float:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        seconds, micros = await client.time()
        return float(seconds) + micros / 1e6
    finally:
        await client.aclose()


def _key() -> str:
    return os.environ.get(KEY_VARIABLE) or "bench-" + os.urandom(8).hex()


# -- 1. cost ---------------------------------------------------------------------------------


async def _raw(url: str, seconds: float) -> dict[str, float]:
    from zyntro_async._shared_quota import SharedQuota

    quota = await SharedQuota.connect(url, _key(), max_per_second=1_000_000)
    count = 0
    end = time.monotonic() + seconds

    async def task() -> None:
        nonlocal count
        while time.monotonic() < end:
            await quota.acquire()
            count += 1

    calls = quota._calls  # the benchmark reads the call counter; no test does
    begun = time.monotonic()
    await asyncio.gather(*(task() for _ in range(64)))
    elapsed = time.monotonic() - begun
    calls = quota._calls - calls
    await quota.aclose()
    return {"acquisitions_per_s": count / elapsed, "redis_calls_per_s": calls / elapsed}


async def _schedule(url: str | None, rate: float, seconds: float) -> dict[str, float]:
    """Requests on a fixed schedule at ``rate``; with ``url``, each acquires first."""
    from zyntro_async._shared_quota import SharedQuota

    quota = await SharedQuota.connect(url, _key(), max_per_second=2 * rate) if url else None
    durations: list[float] = []
    tasks: set[asyncio.Task[None]] = set()

    async def request() -> None:
        t = time.perf_counter()
        if quota is not None:
            await quota.acquire()
        durations.append(time.perf_counter() - t)

    loop = asyncio.get_running_loop()
    cpu = time.process_time()
    begun = loop.time()
    n = int(rate * seconds)
    for i in range(n):
        due = begun + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.ensure_future(request())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    cpu = time.process_time() - cpu
    if quota is not None:
        await quota.aclose()
    durations.sort()
    return {
        "p50_ms": durations[len(durations) // 2] * 1e3,
        "p99_ms": durations[int(len(durations) * 0.99)] * 1e3,
        "max_ms": durations[-1] * 1e3,
        "cpu_us_per_request": cpu / n * 1e6,
    }


async def _binding(url: str, rate: float, seconds: float) -> float:
    from zyntro_async._shared_quota import SharedQuota

    quota = await SharedQuota.connect(url, _key(), max_per_second=rate)
    counting = False
    count = 0
    running = True

    async def task() -> None:
        nonlocal count
        while running:
            await quota.acquire()
            if counting:
                count += 1

    tasks = [asyncio.ensure_future(task()) for _ in range(64)]
    await asyncio.sleep(0.3)
    start = await _redis_now(url)
    counting = True
    await asyncio.sleep(seconds)
    counting = False
    elapsed = await _redis_now(url) - start
    running = False
    await asyncio.gather(*tasks)
    await quota.aclose()
    return count / elapsed / rate


# -- 2. a fleet ------------------------------------------------------------------------------


async def _worker(url: str, ceiling: float, seconds: float, width: int) -> dict[str, float]:
    from zyntro_async._shared_quota import SharedQuota

    before = time.monotonic()
    now = await _redis_now(url)
    offset = now - (before + time.monotonic()) / 2
    quota = await SharedQuota.connect(url, os.environ[KEY_VARIABLE], max_per_second=ceiling)
    print("ready", flush=True)
    start = float(await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline))
    begin, end = start - offset, start + seconds - offset
    counted = 0
    await asyncio.sleep(max(0.0, begin - 0.3 - time.monotonic()))

    async def task() -> None:
        nonlocal counted
        while True:
            await quota.acquire()
            at = time.monotonic()
            if at > end:
                return
            if at >= begin:
                counted += 1

    await asyncio.gather(*(task() for _ in range(width)))
    await quota.aclose()
    return {"count": counted}


def _fleet(url: str, n: int, ceiling: float, seconds: float) -> dict[str, float]:
    env = {**os.environ, KEY_VARIABLE: _key(), "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "benchmarks.shared_quota", "--worker", url, str(ceiling),
            str(seconds)]  # fmt: skip
    procs = [
        subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=ROOT, text=True
        )
        for _ in range(n)
    ]
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
    start = asyncio.run(_redis_now(url)) + 0.5
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(f"{start}\n")
        proc.stdin.flush()
    counts = [json.loads(proc.communicate(timeout=60)[0])["count"] for proc in procs]
    total = sum(counts)
    jain = total**2 / (n * sum(c * c for c in counts)) if total else 0.0
    return {"n": n, "ratio": total / seconds / ceiling, "jain": jain, "counts": counts}


# -- 3. bulk runs ----------------------------------------------------------------------------

BULK_QUOTA = 200.0
BULK_ITEMS = 600


async def _bulk(url: str, n: int, shared: bool, known: bool) -> dict[str, float]:
    from zyntro_async import ProfileRequest, RetryPolicy, ZyntroClient
    from zyntro_async.testing import Fault, Faults, ZyntroSandbox

    faults = Faults(quota_rps=BULK_QUOTA, latency=0.005)
    options: dict[str, object] = {"concurrency": 16}
    if shared:
        options["shared_quota"] = url
    if known and shared:
        options["max_per_second"] = BULK_QUOTA
    async with ZyntroSandbox(seed=n, faults=faults) as sb:
        ids = sb.seed(50)
        clients = [
            ZyntroClient(**sb.credentials, base_url=sb.base_url, retry=RetryPolicy(max_attempts=20))
            for _ in range(n)
        ]
        per = BULK_ITEMS // n

        async def one(i: int) -> tuple[int, int, float]:
            items = [
                ProfileRequest(ids[j % 50], {"n": j}, "Bench", key=f"{i}-{j}") for j in range(per)
            ]
            report = await clients[i].bulk_add_profiles(items, **options)  # type: ignore[arg-type]
            return report.succeeded, report.failed, report.elapsed

        begun = time.monotonic()
        results = await asyncio.gather(*(one(i) for i in range(n)))
        elapsed = time.monotonic() - begun
        for client in clients:
            await client.close()
        stats = sb.stats["addProfileToContact"]
        added = sum(len(sb.profiles(cid)) for cid in ids)
    ok = sum(r[0] for r in results)
    rates = [r[0] / r[2] for r in results]
    jain = sum(rates) ** 2 / (n * sum(r * r for r in rates))
    return {
        "ratio": ok / elapsed / BULK_QUOTA,
        "refused": stats.faults[Fault.QUOTA] / max(1, stats.requests),
        "failed": sum(r[1] for r in results),
        "duplicates": added - ok,
        "jain": jain,
        "elapsed": elapsed,
    }


def _bulk_table(url: str) -> None:
    print(f"bulk runs: {BULK_ITEMS} adds split over N runs, sandbox quota {BULK_QUOTA:.0f}/s")
    for n in (1, 2, 4):
        for label, shared, known in (
            ("shared, known", True, True),
            ("shared, learned", True, False),
            ("alone, learned", False, False),
        ):
            r = asyncio.run(_bulk(url, n, shared, known))
            print(f"N={n} {label:16} ok/s / quota {r['ratio']:.3f}, refused "
                  f"{100 * r['refused']:.1f} %, failed {r['failed']:.0f}, duplicates "
                  f"{r['duplicates']:.0f}, Jain {r['jain']:.3f}, {r['elapsed']:.1f} s",
                  flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--bulk", action="store_true", help="bulk runs sharing a quota only")
    parser.add_argument("--worker", nargs=3, metavar=("URL", "CEILING", "SECONDS"))
    args = parser.parse_args()
    if args.worker:
        url, ceiling, seconds = args.worker
        print(json.dumps(asyncio.run(_worker(url, float(ceiling), float(seconds), 4))))
        return
    seconds = 1.0 if args.quick else 3.0
    with tempfile.TemporaryDirectory() as folder:
        proc, url = _start_redis(folder)
        if args.bulk:
            try:
                _bulk_table(url)
            finally:
                proc.terminate()
                proc.wait(10)
            return
        try:
            raw = asyncio.run(_raw(url, seconds))
            print(f"raw: {raw['acquisitions_per_s']:,.0f} acquisitions/s "
                  f"({1e6 / raw['acquisitions_per_s']:.1f} us each, Redis calls included), "
                  f"{raw['redis_calls_per_s']:,.0f} Redis calls/s "
                  "(64 tasks, quota not binding)")  # fmt: skip
            rounds = []
            for _ in range(1 if args.quick else 5):
                bare = asyncio.run(_schedule(None, 2000, seconds))
                timed = asyncio.run(_schedule(url, 2000, seconds))
                rounds.append((timed["cpu_us_per_request"] - bare["cpu_us_per_request"], timed))
            rounds.sort(key=lambda r: r[1]["p99_ms"])
            timed = rounds[len(rounds) // 2][1]  # the median round by p99
            added = sorted(r[0] for r in rounds)[len(rounds) // 2]
            print(f"at 2,000/s (quota 4,000/s): acquire p50 {timed['p50_ms']:.3f} ms, "
                  f"p99 {timed['p99_ms']:.3f} ms, max {timed['max_ms']:.3f} ms; "
                  f"CPU {added:.1f} us per acquire (median of {len(rounds)}) = "
                  f"{added * 2000 / 1e4:.2f} % of a core")  # fmt: skip
            ratio = asyncio.run(_binding(url, 2000, seconds))
            print(f"binding at 2,000/s (64 tasks): {ratio:.3f}x the quota")
            for n in (1, 2) if args.quick else (1, 2, 4, 8):
                fleet = _fleet(url, n, 400, seconds)
                print(f"N={n}: combined {fleet['ratio']:.3f}x of 400/s, "
                      f"Jain {fleet['jain']:.3f}, per process {fleet['counts']}")  # fmt: skip
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
