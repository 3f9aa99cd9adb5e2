"""``python -m benchmarks.profile``: where the SDK's client CPU goes, under pyinstrument.

Runs the ``sdk`` variant of scenario (a) (zero server latency, concurrency 64) in this
process, the sandbox in its own process, and samples the client with pyinstrument
(``async_mode="disabled"``: the whole event-loop thread, so aiohttp and asyncio show up
too). Writes ``benchmarks/results/profile-sdk.txt`` (``--variant raw`` writes
``profile-raw.txt``) with:

1. the run's numbers (CPU µs per request, with and without the profiler attached);
2. the client's busy time split by owner: each sample is charged to the innermost
   ``zyntro_async`` function on its stack unless an aiohttp/yarl/multidict frame is
   nearer the leaf (then it is transport time); samples idle in ``selectors.select``
   are left out, so percentages are "% of client CPU";
3. the ``zyntro_async`` functions by inclusive share, and every function by self time;
4. the time spent in the garbage collector and a census of the objects left in reference
   cycles per request (a short run with the GC off and ``gc.DEBUG_SAVEALL``): pyinstrument
   charges a GC pause to whichever frame happened to trigger it, so it cannot show this;
5. pyinstrument's own call tree.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._common import (
    CONCURRENCY,
    RESULTS_DIR,
    available_cpus,
    cpu_seconds,
    machine,
    run_loop,
    sandbox_server,
    sdk_digest,
    work,
)

_SEP = "\x00"
_TRANSPORT = ("aiohttp", "yarl", "multidict", "propcache", "aiohappyeyeballs")
_SDK = "zyntro_async"


def _ident(frame_info: str) -> tuple[str, str, str]:
    """(function, file path, line) of a pyinstrument frame string."""
    identifier = frame_info.split("\x01", 1)[0]
    parts = identifier.split(_SEP)
    while len(parts) < 3:
        parts.append("")
    return parts[0], parts[1], parts[2]


def _package(path: str) -> str:
    """A short owner name for a file: the top-level package, or the stdlib module."""
    norm = path.replace("\\", "/")
    if "/site-packages/" in norm:
        return norm.split("/site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if f"/{_SDK}/" in norm:
        return _SDK
    if "/benchmarks/" in norm:
        return "benchmarks"
    parts = norm.split("/")
    if len(parts) >= 2 and parts[-2] in ("asyncio", "json", "logging", "concurrent"):
        return parts[-2]
    return parts[-1].removesuffix(".py") or "?"


def _label(func: str, path: str, line: str) -> str:
    norm = path.replace("\\", "/")
    for marker in (f"/{_SDK}/", "/site-packages/", "/lib/python3"):
        if marker in norm:
            norm = norm.split(marker, 1)[1]
            if marker == f"/{_SDK}/":
                norm = f"{_SDK}/{norm}"
            break
    return f"{func}  ({norm}:{line})"


def _is_idle(stack: list[str]) -> bool:
    func, path, _ = _ident(stack[-1])
    return func in ("select", "poll") and path.endswith("selectors.py")


def analyse(records: list[tuple[list[str], float]]) -> dict[str, Any]:
    """Busy time by owner, SDK functions by inclusive and charged time, self time overall."""
    total = idle = 0.0
    owner: Counter[str] = Counter()
    charged: Counter[str] = Counter()  # innermost zyntro_async function, transport excluded
    inclusive: Counter[str] = Counter()  # zyntro_async functions anywhere on the stack
    self_time: Counter[str] = Counter()
    self_by_package: Counter[str] = Counter()
    for stack, seconds in records:
        total += seconds
        if not stack or _is_idle(stack):
            idle += seconds
            continue
        frames = [_ident(f) for f in stack]
        leaf = frames[-1]
        self_time[_label(*leaf)] += seconds
        self_by_package[_package(leaf[1])] += seconds
        seen: set[str] = set()
        for func, path, line in frames:
            if _package(path) == _SDK:
                key = _label(func, path, line)
                if key not in seen:
                    seen.add(key)
                    inclusive[key] += seconds
        who = "event loop, asyncio and other (no SDK or transport frame)"
        for func, path, line in reversed(frames):
            pkg = _package(path)
            if pkg in _TRANSPORT:
                who = "transport: aiohttp/yarl/multidict (called by SDK or loop)"
                break
            if pkg == _SDK:
                who = "zyntro_async (own code + json/attrs/asyncio it calls)"
                charged[_label(func, path, line)] += seconds
                break
        owner[who] += seconds
    return {
        "total": total,
        "idle": idle,
        "busy": total - idle,
        "owner": owner,
        "charged": charged,
        "inclusive": inclusive,
        "self": self_time,
        "self_by_package": self_by_package,
    }


def _table(
    title: str, rows: list[tuple[str, float]], busy: float, per_req: float, limit: int
) -> str:
    lines = [title, f"{'% cpu':>7} {'≈µs/req':>8}  function"]
    for name, seconds in rows[:limit]:
        share = seconds / busy if busy else 0.0
        lines.append(f"{100 * share:6.1f}% {share * per_req:8.1f}  {name}")
    return "\n".join(lines)


def report_text(info: dict[str, Any], analysis: dict[str, Any], tree: str, *, variant: str) -> str:
    busy = analysis["busy"]
    per_req = info["cpu_us_per_req_unprofiled"]
    gc_info = info["gc"]
    out = [
        f"# Client CPU profile: variant {variant!r}, scenario (a) (zero server latency, "
        f"concurrency {info['concurrency']})",
        "",
        f"requests profiled      {info['requests']} (ok {info['ok']}, failed {info['failed']})",
        f"client event loop      {info['loop']}",
        f"wall                   {info['elapsed_s']:.2f} s  ({info['rps']:.0f} requests/s "
        "under the profiler)",
        f"client CPU             {per_req:.0f} µs/request in an unprofiled run of the same "
        f"size just before; {info['cpu_us_per_req']:.0f} µs/request under the profiler",
        f"garbage collector      {gc_info['gc_us_per_req']:.0f} µs/request "
        f"({100 * gc_info['gc_us_per_req'] / per_req:.0f} % of the unprofiled CPU), "
        f"{gc_info['collected_per_req']:.1f} objects freed by the cyclic GC per request, "
        f"collections per generation {gc_info['collections']} (unprofiled run)",
        f"sampled                {analysis['total']:.2f} s, of which idle in select "
        f"{analysis['idle']:.2f} s; busy {busy:.2f} s = 100 % below",
        f"profiler interval      {info['interval'] * 1000:.2f} ms",
        f"zyntro_async sources   digest {info['sdk_digest']} (as in results-*.json)",
        f"machine                {info['machine']['cpu_model']}, {info['machine']['cores']} "
        f"cores, {info['machine']['python']}, aiohttp {info['machine']['aiohttp']}, "
        f"zyntro_async {info['machine']['zyntro_async']}",
        "",
        "How to read: pyinstrument samples wall time of the client's one thread; idle samples",
        "(blocked in selectors.select) are dropped, so '% cpu' is a share of the busy time.",
        "'≈µs/req' = that share times the UNPROFILED CPU per request (the profiler itself slows",
        "the client down by the ratio above, more so for code that makes many small calls).",
        "GC pauses are charged to whatever frame triggered them: see the cycle census below.",
        "",
        "## Busy time by owner (innermost SDK or transport frame on each sample's stack)",
    ]
    for name, seconds in analysis["owner"].most_common():
        share = seconds / busy if busy else 0.0
        out.append(f"{100 * share:6.1f}% {share * per_req:8.1f} µs/req  {name}")
    out += ["", "## Self time by package (leaf frame's package)"]
    for name, seconds in analysis["self_by_package"].most_common(15):
        share = seconds / busy if busy else 0.0
        out.append(f"{100 * share:6.1f}% {share * per_req:8.1f} µs/req  {name}")
    out += [
        "",
        _table(
            "## zyntro_async functions, charged time (innermost SDK frame; excludes aiohttp)",
            analysis["charged"].most_common(),
            busy,
            per_req,
            30,
        ),
        "",
        _table(
            "## zyntro_async functions, inclusive time (anywhere on the stack)",
            analysis["inclusive"].most_common(),
            busy,
            per_req,
            30,
        ),
        "",
        _table("## All functions, self time", analysis["self"].most_common(), busy, per_req, 40),
        "",
        f"## Cycle census: objects only the cyclic GC could free, per request "
        f"({info['cycles']['requests']} requests with gc disabled, then gc.collect)",
        f"{info['cycles']['per_request']:.1f} objects per request in reference cycles",
    ]
    for name, count in info["cycles"]["types"]:
        out.append(f"{count:8.2f}  {name}")
    if info["cycles"]["functions"]:
        out.append("functions (closures) among them:")
        for name, count in info["cycles"]["functions"]:
            out.append(f"{count:8.2f}  {name}")
    out += ["", "## pyinstrument call tree (percent of all samples, idle included)", tree]
    return "\n".join(out) + "\n"


async def _cycle_census(runner: Any, contact_ids: list[str], n: int, start: int) -> dict[str, Any]:
    """Run ``n`` requests with the GC off and DEBUG_SAVEALL: what ends up in cycles?"""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        counts = await runner(work(contact_ids, n, time.monotonic() + 60, start=start))
        gc.collect()
        garbage = list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    done = max(counts.done, 1)
    types = Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in garbage)
    functions = Counter(
        f"{getattr(o, '__module__', '?')}.{o.__qualname__}"
        for o in garbage
        if type(o).__name__ == "function"
    )
    del garbage
    return {
        "requests": counts.done,
        "per_request": sum(types.values()) / done,
        "types": [(name, c / done) for name, c in types.most_common(30)],
        "functions": [(name, c / done) for name, c in functions.most_common(15)],
    }


async def _profiled_run(args: argparse.Namespace) -> tuple[dict[str, Any], Any]:
    from pyinstrument import Profiler

    from zyntro_async.testing import seeded_contact_ids

    from . import _variants, worker

    settings = _variants.Settings()
    wargs = argparse.Namespace(variant=args.variant, concurrency=args.concurrency)
    contact_ids = seeded_contact_ids(args.seed, args.contacts)
    async with _variants.SETUPS[args.variant](settings, wargs) as runner:
        await runner(work(contact_ids, args.warmup, time.monotonic() + 30, start=10**8))
        # An unprofiled run first: the profiler's own cost is visible next to it.
        c0 = cpu_seconds()
        with worker._GCWatch() as gc_watch:
            counts = await runner(work(contact_ids, args.n, time.monotonic() + args.time_limit))
        done = max(counts.done, 1)
        unprofiled = (cpu_seconds() - c0) / done * 1e6
        gc_info = {
            "gc_us_per_req": gc_watch.seconds / done * 1e6,
            "collected_per_req": gc_watch.collected / done,
            "collections": gc_watch.collections,
        }
        profiler = Profiler(interval=args.interval, async_mode="disabled")
        items = work(contact_ids, args.n, time.monotonic() + args.time_limit, start=args.n)
        c0, t0 = cpu_seconds(), time.perf_counter()
        profiler.start()
        try:
            counts = await runner(items)
        finally:
            profiler.stop()
        elapsed, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        cycles = await _cycle_census(runner, contact_ids, args.cycle_n, 2 * args.n)
    info = {
        "requests": counts.done,
        "ok": counts.ok,
        "failed": counts.failed,
        "elapsed_s": elapsed,
        "rps": counts.done / elapsed if elapsed else 0.0,
        "cpu_us_per_req": cpu / max(counts.done, 1) * 1e6,
        "cpu_us_per_req_unprofiled": unprofiled,
        "gc": gc_info,
        "cycles": cycles,
        "concurrency": args.concurrency,
        "interval": args.interval,
        "loop": "uvloop" if args.uvloop else "asyncio",
    }
    return info, profiler


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.profile",
        description="Profile a client variant (default: the SDK) of scenario (a) under "
        "pyinstrument; the sandbox runs in its own process.",
    )
    parser.add_argument(
        "--variant", default="sdk", choices=("sdk", "sdk_journal", "raw", "aiometer", "httpx")
    )
    parser.add_argument("-n", type=int, default=10_000, help="profiled requests (default 10000)")
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--interval", type=float, default=0.001, help="sampling interval (s)")
    parser.add_argument(
        "--cycle-n", type=int, default=1000, help="requests in the cycle census (GC off)"
    )
    parser.add_argument("--time-limit", type=float, default=60.0, help="per run, seconds")
    parser.add_argument("--uvloop", action="store_true", help="run the client on uvloop")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server/client CPUs")
    parser.add_argument("--output", type=Path, default=None, help="report path")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    cpus = available_cpus()
    pin = not args.no_pin and len(cpus) >= 2
    server_cpu = cpus[0] if pin else None
    if pin:
        os.sched_setaffinity(0, set(cpus[1:]))
    output = args.output or RESULTS_DIR / f"profile-{args.variant.replace('_', '-')}.txt"
    with sandbox_server(contacts=args.contacts, seed=args.seed, cpu=server_cpu) as server:
        os.environ.update(server.env)
        info, profiler = run_loop(_profiled_run(args), use_uvloop=args.uvloop)
    info["machine"] = machine()
    info["sdk_digest"] = sdk_digest()
    session = profiler.last_session
    records = [(list(stack), float(t)) for stack, t in session.frame_records]
    analysis = analyse(records)
    tree = profiler.output_text(unicode=False, color=False, time="percent_of_total")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(report_text(info, analysis, tree, variant=args.variant), encoding="utf-8")
    busy = analysis["busy"] or 1.0
    print(
        f"{args.variant}: {info['requests']} requests, {info['rps']:.0f}/s, "
        f"{info['cpu_us_per_req_unprofiled']:.0f} µs CPU/request unprofiled "
        f"({info['cpu_us_per_req']:.0f} under the profiler), GC "
        f"{info['gc']['gc_us_per_req']:.0f} µs/request, "
        f"{info['cycles']['per_request']:.1f} objects per request in reference cycles"
    )
    for name, seconds in analysis["owner"].most_common():
        print(f"  {100 * seconds / busy:5.1f}%  {name}")
    print(f"report: {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
