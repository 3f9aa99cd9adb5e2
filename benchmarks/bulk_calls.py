"""``python -m benchmarks.bulk_calls``: function calls per item in scenario (a), by owner.

Runs one variant of scenario (a) (zero server latency, concurrency 64; ``sdk`` by
default, ``--variant raw`` for the baseline) in this process under cProfile, the sandbox
in its own process, and prints the Python and C function calls made per item: in all,
by owner (``zyntro_async``, the transport, asyncio, the rest) and the top functions.
A call count does not move with the machine's load, unlike CPU time: it is the figure
to compare two trees by on a busy machine (``--sdk-path DIR`` measures the
``zyntro_async`` in DIR against this tree's sandbox), before confirming with timed runs.
``--no-profile`` runs the same without cProfile, for valgrind to count instructions.

``--faults MIX`` gives the sandbox server faults (``benchmarks.server``'s ``--faults``);
``--faults b`` and ``--faults c`` are scenario (b)'s and (c)'s server (20 ms latency; (c)
adds its 10 % transient faults): the figures then include the failure path (retries,
reconcile looks), per item, with ``--faults b`` as the clean reference. Every run also
reports the cyclic garbage collector's work: the objects it freed per item (a full
collection at the end counts what the run left), which the load does not move either
(they were reference cycles, left for it to find instead of freed at once), and its
collections by generation (that last one included), which the load does move (a
collection is due after 700 more objects were made than freed, so it follows how many
requests are in flight at once: read them beside ``uptime``). ``--garbage`` lists what
the collector freed, by type (it keeps those objects for counting: the other figures of
such a run are off).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import pstats
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from ._common import CONCURRENCY, sandbox_server, work
from ._plan import FAULT_MIX, LATENCY
from .worker import _server_delta, _server_stats

_TRANSPORT = ("aiohttp", "yarl", "multidict", "propcache", "aiohappyeyeballs")
_LOOP = ("asyncio", "selectors")


class GCCount:
    """The cyclic collector's runs and the objects it freed, while in the ``with`` block."""

    def __init__(self) -> None:
        self.collections = [0, 0, 0]
        self.collected = 0

    def __enter__(self) -> GCCount:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc_info: object) -> None:
        gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "stop":
            self.collections[info["generation"]] += 1
            self.collected += info["collected"]

    def figures(self, items: int) -> dict[str, Any]:
        return {
            "gc_collections": list(self.collections),
            "gc_collected_per_item": self.collected / max(items, 1),
        }


def garbage_by_type(items: int) -> list[tuple[float, str]]:
    """What the collector freed since ``gc.DEBUG_SAVEALL`` was set, per item, by type
    (the most common first); clears ``gc.garbage``."""
    gc.collect()
    types: Counter[str] = Counter(type(obj).__qualname__ for obj in gc.garbage)
    gc.garbage.clear()
    return [(n / max(items, 1), name) for name, n in types.most_common()]


def _owner(filename: str) -> str:
    norm = filename.replace("\\", "/")
    if "/zyntro_async/" in norm:
        return "zyntro_async"
    if any(f"/{name}/" in norm for name in _TRANSPORT):
        return "transport"
    if any(f"/{name}/" in norm or norm.endswith(f"/{name}.py") for name in _LOOP):
        return "asyncio"
    return "other"


def _label(func: tuple[str, int, str]) -> str:
    path, line, name = func
    path = path.replace("\\", "/")
    if path == "~":
        return name
    for marker in ("/zyntro_async/", "/site-packages/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "/zyntro_async/":
                path = "zyntro_async/" + path
            break
    return f"{name} ({path}:{line})"


def analyse(profiler: cProfile.Profile, items: int) -> dict[str, Any]:
    """Calls and self time per item by owner; a C function (no file of its own) is
    charged to the owners of its callers, call for call."""
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    by_owner: Counter[str] = Counter()
    python_by_owner: Counter[str] = Counter()  # Python functions only (no builtins)
    time_by_owner: Counter[str] = Counter()
    functions: list[tuple[float, float, str, str]] = []
    for func, (_cc, calls, self_time, _cum, callers) in stats.items():
        if func[0] == "~":
            shares: Counter[str] = Counter()
            for caller, caller_stats in callers.items():
                shares[_owner(caller[0])] += caller_stats[1]
            counted = sum(shares.values()) or 1
            for name, n in shares.items():
                by_owner[name] += n
                time_by_owner[name] += self_time * n / counted
            owner = shares.most_common(1)[0][0] if shares else "other"
        else:
            owner = _owner(func[0])
            by_owner[owner] += calls
            python_by_owner[owner] += calls
            time_by_owner[owner] += self_time
        functions.append((calls / items, self_time / items, owner, _label(func)))
    total = sum(by_owner.values())
    return {
        "items": items,
        "calls_per_item": total / items,
        "by_owner": {k: v / items for k, v in by_owner.most_common()},
        "python_by_owner": {k: v / items for k, v in python_by_owner.items()},
        "self_us_by_owner": {k: v / items * 1e6 for k, v in time_by_owner.most_common()},
        "functions": functions,
    }


def report(result: dict[str, Any], top: int, owner: str | None, by_time: bool = False) -> str:
    lines = [
        f"items {result['items']}, function calls per item {result['calls_per_item']:.1f}",
        "by owner: calls/item (builtins charged to their callers), of which Python",
        "functions, and self µs/item under cProfile:",
    ]
    for name, count in result["by_owner"].items():
        us = result["self_us_by_owner"].get(name, 0.0)
        python = result["python_by_owner"].get(name, 0.0)
        lines.append(f"  {name:<14} {count:8.1f} {python:8.1f}   {us:7.1f}")
    rows = [f for f in result["functions"] if owner is None or f[2] == owner]
    rows.sort(key=lambda f: (-f[1], -f[0]) if by_time else (-f[0], -f[1]))
    order = "self time" if by_time else "calls/item"
    lines.append(f"top {top} functions by {order} ({owner or 'all owners'}):")
    lines.extend(f"  {c:6.2f}  {t * 1e6:6.2f}µs  {o:<12} {label}" for c, t, o, label in rows[:top])
    lines.append(gc_report(result))
    return "\n".join(lines)


def gc_report(result: dict[str, Any]) -> str:
    """The server's requests and faults per item, and the garbage collector's work."""
    gen0, gen1, gen2 = result["gc_collections"]
    items = max(result["items"], 1)
    server = result.get("server") or {}
    lines = []
    if server:
        by_endpoint = ", ".join(
            f"{name} {n / items:.3f}"
            for name, n in sorted(server["server_requests_by_endpoint"].items())
        )
        faults = sum(server["server_faults"].values())
        lines.append(
            f"server: requests per item {server['server_requests'] / items:.3f} ({by_endpoint}), "
            f"faults per item {faults / items:.3f}"
        )
    lines += [
        f"gc: collections by generation {gen0}/{gen1}/{gen2}, objects freed by the "
        f"collector per item {result['gc_collected_per_item']:.2f}"
    ]
    garbage = result.get("garbage")
    if garbage:
        lines.append("freed by the collector, per item, by type:")
        lines.extend(f"  {n:7.3f}  {name}" for n, name in garbage[:25])
    return "\n".join(lines)


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    from zyntro_async.testing import seeded_contact_ids

    from . import _variants

    settings = _variants.Settings()
    wargs = argparse.Namespace(variant=args.variant, concurrency=args.concurrency)
    contact_ids = seeded_contact_ids(args.seed, args.contacts)
    async with _variants.SETUPS[args.variant](settings, wargs) as runner:
        await runner(work(contact_ids, args.warmup, time.monotonic() + 60, start=10**8))
        profiler = cProfile.Profile()
        items = work(contact_ids, args.n, time.monotonic() + 600)
        gc.collect()
        before = await _server_stats()
        if args.garbage:
            gc.set_debug(gc.DEBUG_SAVEALL)
        if args.no_profile:  # for an outside counter: callgrind's instructions
            with GCCount() as counted:
                counts = await runner(items)
                gc.collect()  # the cycles the run left that no collection found yet
            result: dict[str, Any] = {"items": counts.done, "failed": counts.failed}
        else:
            profiler.enable()
            try:
                with GCCount() as counted:
                    counts = await runner(items)
                    gc.collect()
            finally:
                profiler.disable()
            result = analyse(profiler, max(counts.done, 1))
        result.update(counted.figures(counts.done))
        result["server"] = _server_delta(before, await _server_stats())
        if args.garbage:
            gc.set_debug(0)
            result["garbage"] = garbage_by_type(counts.done)
    if args.dump:
        profiler.dump_stats(args.dump)
    if counts.done != args.n or counts.failed:
        print(f"warning: {counts.done} done, {counts.failed} failed", file=sys.stderr)
    return result


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bulk_calls", description=__doc__)
    p.add_argument("--variant", default="sdk", choices=("sdk", "raw", "aiometer"))
    p.add_argument("-n", type=int, default=3000, help="items counted (default 3000)")
    p.add_argument("--warmup", type=int, default=300)
    p.add_argument("--concurrency", type=int, default=CONCURRENCY)
    p.add_argument("--contacts", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--top", type=int, default=40)
    p.add_argument("--owner", default=None, help="list only this owner's functions")
    p.add_argument("--by-time", action="store_true", help="sort by self time, not calls")
    p.add_argument("--dump", default=None, help="also write cProfile's stats to this file")
    p.add_argument(
        "--no-profile",
        action="store_true",
        help="run without cProfile (to count instructions under valgrind, see the README)",
    )
    p.add_argument("--sdk-path", default=None, help="measure the zyntro_async in this dir")
    p.add_argument(
        "--faults",
        default="",
        metavar="MIX",
        help="the server's faults (benchmarks.server --faults); b, c: those scenarios' server",
    )
    p.add_argument(
        "--garbage",
        action="store_true",
        help="list what the cyclic collector freed, by type (keeps it: other figures are off)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.sdk_path:
        sys.path.insert(0, os.path.abspath(args.sdk_path))
    # Under valgrind this process starts slowly: give the server time to come up.
    scenarios = {"b": f"latency={LATENCY}", "c": f"latency={LATENCY},{FAULT_MIX}"}
    faults = scenarios.get(args.faults, args.faults)
    with sandbox_server(
        contacts=args.contacts, seed=args.seed, faults=faults, start_timeout=120
    ) as server:
        os.environ.update(server.env)
        result = asyncio.run(_run(args))
    if args.no_profile:
        print(f"items {result['items']}, failed {result['failed']} (not profiled)")
        print(gc_report(result))
        return 0
    print(report(result, args.top, args.owner, args.by_time))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
