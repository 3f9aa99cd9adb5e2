"""``python -m benchmarks.worker VARIANT ...``: one client variant, one run, one JSON line.

Every variant sends the same work (:func:`benchmarks._common.work`): ``-n`` POSTs of
``addProfileToContact`` with the documented JSON body (api_key, developer_secret, org_id,
member_id, contact_id, profile_payload, profile_source), parses each JSON answer and
checks ``status == "success"``. Credentials and the base URL come from the ``ZYNTRO_*``
environment variables the sandbox printed.

The timed part starts after a warm-up (``--warmup`` requests through the same code path,
which also opens the connections; then ``--settle`` seconds of rest) and covers exactly
the measured requests: wall time (``time.perf_counter``), CPU
(``resource.getrusage(RUSAGE_SELF)``, user + system, every thread of the process) and RSS.
The load loop is bounded by ``-n`` and by ``--time-limit`` seconds: the input generator
stops yielding at the deadline; ``--hard-timeout`` also bounds the run itself (a run that
does not end in time is reported as ``hung`` and the process exits).

When the server printed ``BENCH_STATS_URL`` (``benchmarks.server``), the worker reads the
server's counters right before and right after the timed part (requests, faults and quota
refusals over exactly that part) and, with ``--census``, the server's count of duplicated
profiles. ``BENCH_SDK_PATH`` makes it import ``zyntro_async`` from that directory (e.g. a
``git worktree`` of an older commit), ahead of the one under test.

With ``--completion-times`` (scenarios c and f) every variant records each ok item's
completion time (one list append per success; the SDK's results read with ``async for``),
and the worker reports the steady-state ok/s: the ok items completed between the 10th and
90th percentile of those times, over the time between them (``benchmarks._plan``
``STEADY_PERCENTILES``), next to the ok/s over the whole timed part.

Besides the numbers it reports where the run's wall time went outside the timed part
(``phases_s``: process start and imports, setup and warm-up, close), and the minor page
faults per request and context switches of the timed part (a glibc heap that trims and
regrows shows as ~2 faults per request and tens of µs of system CPU). The runner starts
it through :mod:`benchmarks.launcher` (forked, imports done) or as ``python -m
benchmarks.worker`` (``--spawn``); both run the same ``main``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.util
import json
import os
import resource
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import aiohttp

from ._common import (
    CONCURRENCY,
    WARMUP_OFFSET,
    cpu_seconds,
    maxrss_kib,
    rss_kib,
    run_loop,
    sdk_digest,
    uvloop_available,
    work,
)
from ._plan import STEADY_PERCENTILES
from ._stats import steady_rate
from ._variants import SETUPS, VARIANTS, Counts, Items, Runner, Settings

#: Set by ``benchmarks.launcher`` in the workers it forks: the digest of the sources it
#: imported (the files may have changed since).
IMPORTED_DIGEST: str | None = None

# ------------------------------------------------------------------------------ the run


class _Counted:
    """Wraps the input to count the items taken (for the RSS timeline), and to tell an
    input cut short by its deadline from a client that stopped taking input."""

    def __init__(self, items: Items) -> None:
        self._items = items
        self.taken = 0
        self.exhausted = False

    def __iter__(self) -> _Counted:
        return self

    def __next__(self) -> tuple[str, dict[str, Any]]:
        try:
            item = next(self._items)
        except StopIteration:
            self.exhausted = True
            raise
        self.taken += 1
        return item


async def _sample_rss(
    samples: list[tuple[float, int, int]], counted: _Counted, t0: float, every: float
) -> None:
    while True:
        samples.append((round(time.perf_counter() - t0, 3), counted.taken, rss_kib()))
        await asyncio.sleep(every)


class _GCWatch:
    """Time spent in the cyclic garbage collector, and what it found (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self.collected = 0
        self._started = 0.0

    def __enter__(self) -> _GCWatch:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc_info: object) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        self.seconds += time.perf_counter() - self._started
        self.collections[info["generation"]] += 1
        self.collected += info["collected"]


def _server_cpu_seconds() -> float | None:
    """CPU seconds used so far by the sandbox process (``BENCH_SERVER_PID``), if readable."""
    pid = os.environ.get("BENCH_SERVER_PID")
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _decimate(samples: list[tuple[float, int, int]], keep: int = 120) -> list[Any]:
    if len(samples) <= keep:
        return [list(s) for s in samples]
    step = len(samples) / keep
    return [list(samples[int(i * step)]) for i in range(keep)] + [list(samples[-1])]


async def _server_stats(census: bool = False) -> dict[str, Any] | None:
    """The server's counters (and census) from ``BENCH_STATS_URL``; None without one."""
    url = os.environ.get("BENCH_STATS_URL")
    if not url:
        return None
    timeout = aiohttp.ClientTimeout(total=120)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(url, params={"census": "1"} if census else None) as resp,
    ):
        resp.raise_for_status()
        data: dict[str, Any] = await resp.json()
        return data


def _server_delta(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """What the server saw during the timed part: requests, faults by kind, quota refusals."""
    if before is None or after is None:
        return {}
    requests: Counter[str] = Counter()
    faults: Counter[str] = Counter()
    for endpoint, now in after["counters"].items():
        then = before["counters"].get(endpoint, {})
        requests[endpoint] = now["requests"] - then.get("requests", 0)
        for kind, count in now["faults"].items():
            faults[kind] += count - then.get("faults", {}).get(kind, 0)
    out: dict[str, Any] = {
        "server_requests": sum(requests.values()),
        "server_requests_by_endpoint": dict(requests),
        "server_faults": {k: v for k, v in faults.items() if v},
        "server_refused": faults["quota"],
        "server_429": faults["quota"] + faults["rate_limit"],
    }
    census = after.get("census")
    if census is not None:
        out["duplicates"] = census["duplicates"]
        out["profiles_stored"] = census["profiles"]
        out["items_stored"] = census["items_stored"]
    return out


async def _bounded_run(
    runner: Runner, items: Items, hard_timeout: float | None
) -> tuple[Counts | None, float]:
    """Run the timed part; None if it did not end within ``hard_timeout`` seconds."""
    t0 = time.perf_counter()
    task = asyncio.ensure_future(runner(items))
    done, _ = await asyncio.wait({task}, timeout=hard_timeout)
    if task in done:
        return task.result(), time.perf_counter() - t0
    elapsed = time.perf_counter() - t0
    task.cancel()
    await asyncio.wait({task}, timeout=5.0)
    return None, elapsed


def _sdk_location() -> str | None:
    spec = importlib.util.find_spec("zyntro_async")
    if spec is None or not spec.submodule_search_locations:
        return None
    return str(next(iter(spec.submodule_search_locations)))


def _process_age() -> float | None:
    """Seconds since this process started (Linux ``/proc``), or None."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from zyntro_async.testing import seeded_contact_ids

    # Where a run's wall time goes besides the timed part (the runner's budget).
    started_after = _process_age()
    p_start = time.perf_counter()
    digest = IMPORTED_DIGEST or sdk_digest()
    settings = Settings()
    contact_ids = seeded_contact_ids(args.seed, args.contacts)
    setup = SETUPS[args.variant]
    hung = False
    async with setup(settings, args) as runner:
        if args.warmup:
            warm = work(contact_ids, args.warmup, time.monotonic() + 30, start=WARMUP_OFFSET)
            await runner(warm)
        p_warm = time.perf_counter()
        if args.settle:
            await asyncio.sleep(args.settle)
        deadline = time.monotonic() + args.time_limit
        counted = _Counted(work(contact_ids, args.n, deadline, start=args.start))
        samples: list[tuple[float, int, int]] = []
        stats_before = await _server_stats()
        rss_before, maxrss_before = rss_kib(), maxrss_kib()
        gc_watch = _GCWatch()
        server0 = _server_cpu_seconds()
        cpu0 = os.times()
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        c0, t0 = cpu_seconds(), time.perf_counter()
        sampler = None
        if args.sample_rss:
            sampler = asyncio.ensure_future(_sample_rss(samples, counted, t0, args.sample_rss))
        try:
            with gc_watch:
                result, elapsed = await _bounded_run(runner, iter(counted), args.hard_timeout)
        finally:
            if sampler is not None:
                sampler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sampler
        cpu = cpu_seconds() - c0
        p_end = time.perf_counter()
        cpu1 = os.times()
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        server1 = _server_cpu_seconds()
        rss_after, maxrss_after = rss_kib(), maxrss_kib()
        if result is None:  # the run did not end: report that much, do not wait for it
            hung, counts = True, Counts()
            counts.done = counted.taken
        else:
            counts = result
        stats_after = await _server_stats(census=args.census)
        if hung:
            out = _result(args, digest, counts, counted, elapsed, cpu, cpu0, cpu1, gc_watch)
            out.update(hung=True, **_server_delta(stats_before, stats_after))
            _emit(out)
            os._exit(0)  # the stuck run may not let the client close: leave now
    p_closed = time.perf_counter()
    samples.append((round(elapsed, 3), counted.taken, rss_after))
    out = _result(args, digest, counts, counted, elapsed, cpu, cpu0, cpu1, gc_watch)
    done = max(counts.done, 1)
    out["minor_faults_per_req"] = round((ru1.ru_minflt - ru0.ru_minflt) / done, 3)
    out["context_switches"] = {
        "voluntary": ru1.ru_nvcsw - ru0.ru_nvcsw,
        "involuntary": ru1.ru_nivcsw - ru0.ru_nivcsw,
    }
    out["phases_s"] = {
        "start_and_imports": None if started_after is None else round(started_after, 3),
        "setup_and_warmup": round(p_warm - p_start, 3),
        "settle_and_stats": round(t0 - p_warm, 3),
        "timed": round(elapsed, 3),
        "stats_and_close": round(p_closed - p_end, 3),
    }
    peak_sampled = max(s[2] for s in samples)
    out.update(
        server_cpu_util=(
            round((server1 - server0) / elapsed, 3)
            if server0 is not None and server1 is not None and elapsed > 0
            else None
        ),
        rss_before_kib=rss_before,
        rss_after_kib=rss_after,
        maxrss_before_kib=maxrss_before,
        maxrss_after_kib=maxrss_after,
        rss_peak_sampled_kib=peak_sampled,
        # Peak growth over the run: the process peak if it rose during the run, else the
        # highest sampled RSS; both against the RSS right before the run (never below 0).
        rss_growth_peak_kib=max(
            maxrss_after if maxrss_after > maxrss_before else peak_sampled, rss_before
        )
        - rss_before,
        rss_growth_end_kib=rss_after - rss_before,
        rss_samples=_decimate(samples) if args.sample_rss else [],
        **_server_delta(stats_before, stats_after),
    )
    if counts.ok_times is not None:
        out.update(_steady(counts.ok_times, t0))
    return out


#: Completion-time percentiles reported with the steady-state rate (the tail's shape).
_TIME_PERCENTILES = (0, 1, 10, 50, 90, 99, 100)


def _steady(ok_times: list[float], t0: float) -> dict[str, Any]:
    """The ok/s between the steady percentiles of the ok items' completion times (seconds
    from the start of the timed part), and where those and other percentiles fell."""
    low, high = STEADY_PERCENTILES
    steady = steady_rate(ok_times, low, high)
    if steady is None:
        return {"steady_ok_rps": None}
    rate, t_low, t_high = steady
    ordered = sorted(ok_times)
    last = len(ordered) - 1
    return {
        "steady_ok_rps": round(rate, 2),
        "steady_window_s": [round(t_low - t0, 4), round(t_high - t0, 4)],
        "steady_percentiles": [low, high],
        "ok_time_percentiles_s": {
            str(p): round(ordered[round(p / 100 * last)] - t0, 4) for p in _TIME_PERCENTILES
        },
    }


def _result(
    args: argparse.Namespace,
    digest: str,
    counts: Counts,
    counted: _Counted,
    elapsed: float,
    cpu: float,
    cpu0: os.times_result,
    cpu1: os.times_result,
    gc_watch: _GCWatch,
) -> dict[str, Any]:
    done = max(counts.done, 1)
    return {
        "variant": args.variant,
        "scenario": args.scenario,
        "loop": "uvloop" if args.uvloop else "asyncio",
        "sdk_digest": digest,
        "sdk_path": _sdk_location(),
        "n": args.n,
        "taken": counted.taken,
        "done": counts.done,
        "ok": counts.ok,
        "failed": counts.failed,
        "skipped": counts.skipped,
        "recovered": counts.recovered,
        "stopped": counts.stopped,
        "hung": False,
        "errors": dict(counts.errors.most_common(12)),
        "retries": counts.retries,
        "deadline_hit": counted.exhausted and counted.taken < args.n,
        "max_per_second": args.max_per_second,
        "retry_deadline": args.deadline,
        "elapsed_s": round(elapsed, 4),
        "rps": round(counts.done / elapsed, 2) if elapsed > 0 else 0.0,
        "ok_rps": round(counts.ok / elapsed, 2) if elapsed > 0 else 0.0,
        "cpu_s": round(cpu, 4),
        "cpu_user_s": round(cpu1.user - cpu0.user, 4),
        "cpu_sys_s": round(cpu1.system - cpu0.system, 4),
        "cpu_us_per_req": round(cpu / done * 1e6, 2),
        "cpu_util": round(cpu / elapsed, 3) if elapsed > 0 else 0.0,
        "gc_s": round(gc_watch.seconds, 4),
        "gc_us_per_req": round(gc_watch.seconds / done * 1e6, 2),
        "gc_collections": gc_watch.collections,
        "gc_collected_per_req": round(gc_watch.collected / done, 2),
    }


def _emit(result: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker", description=__doc__)
    parser.add_argument("variant", choices=VARIANTS)
    parser.add_argument("--scenario", default="adhoc", help="label echoed in the output")
    parser.add_argument("-n", type=int, default=10_000, help="measured requests")
    parser.add_argument("--start", type=int, default=0, help="index of the first item")
    parser.add_argument("--warmup", type=int, default=256, help="untimed requests first")
    parser.add_argument("--contacts", type=int, default=1000, help="contacts the server seeded")
    parser.add_argument("--seed", type=int, default=0, help="the server's seed")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument(
        "--time-limit", type=float, default=120.0, help="stop taking input after this (s)"
    )
    parser.add_argument("--uvloop", action="store_true", help="run the client on uvloop")
    parser.add_argument(
        "--sample-rss", type=float, default=0.0, help="sample RSS every this many seconds"
    )
    parser.add_argument(
        "--settle", type=float, default=0.0, help="seconds of rest between warm-up and run"
    )
    parser.add_argument(
        "--hard-timeout",
        type=float,
        default=None,
        help="give up on a run that has not ended after this many seconds (reported as hung)",
    )
    parser.add_argument(
        "--census", action="store_true", help="ask the server to count duplicated profiles"
    )
    parser.add_argument(
        "--completion-times",
        action="store_true",
        help="record each ok item's completion time: the steady-state ok/s",
    )
    parser.add_argument(
        "--max-per-second", type=float, default=None, help="sdk: bulk max_per_second="
    )
    parser.add_argument(
        "--deadline", type=float, default=None, help="sdk: retry=RetryPolicy(deadline=...)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.uvloop and not uvloop_available():
        print("uvloop is not installed", file=sys.stderr)
        return 2
    sdk_path = os.environ.get("BENCH_SDK_PATH")
    if sdk_path:  # measure another zyntro_async (e.g. a worktree of an older commit)
        sys.path.insert(0, os.path.abspath(sdk_path))
    _emit(run_loop(run(args), use_uvloop=args.uvloop))
    return 0


if __name__ == "__main__":
    sys.exit(main())
