"""The benchmark runner behind ``python -m benchmarks`` (options: ``--help``, README.md).

For every scenario, round and variant it starts a fresh sandbox server process
(``benchmarks.server``, pinned to the first CPU), runs one worker process
(``benchmarks.worker``, pinned to the other CPUs) that prints one JSON line, and stops
the server. Variants alternate within each round (A B C A B C ...). It prints a table with
ratios to the ``raw`` variant, PASS/MISS per target, and writes
``benchmarks/results/results-<stamp>.json`` (machine, parameters, every run's numbers)
and ``benchmarks/results/latest.md`` (the table).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs

from ._common import (
    CONCURRENCY,
    RESULTS_DIR,
    ROOT,
    available_cpus,
    machine,
    sandbox_server,
    sdk_digest,
    stop_process,
    uvloop_available,
)

LATENCY = 0.020
#: Scenario (c)'s transient faults: 10 % of answers in all (on both endpoints, so the
#: SDK's reconcile fetches meet them too), on top of (b)'s 20 ms latency: 500s, a proxy's
#: HTML 502s, and connections dropped after the add was stored (each one reconciled).
FAULT_MIX = "server_error=0.04,bad_gateway_html=0.03,drop_after_commit=0.03"
#: Scenario (f): flow control, not a fault. 5 % of answers are 429 + Retry-After; the SDK
#: must slow the whole pool down (gate + AIMD), so no throughput target applies.
RATE_LIMIT_MIX = "rate_limit=0.05"
RETRY_AFTER = 0.05
IDEAL_RPS = CONCURRENCY / LATENCY  # Little's law: 64 in flight / 20 ms
MIB = 1024.0


@attrs.define
class Scenario:
    key: str
    title: str
    faults: str
    variants: list[str]
    n: int
    rounds: int
    time_limit: float
    n_sequential: int = 0
    sample_rss: float = 0.0


@attrs.define
class Plan:
    scenarios: list[Scenario]
    warmup: int
    contacts: int
    seed: int
    uvloop: bool
    pin: bool
    quick: bool
    full: bool


def build_plan(args: argparse.Namespace) -> Plan:
    quick, full = args.quick, args.full
    rounds = args.rounds if args.rounds is not None else (1 if quick else 3)
    limit = args.time_limit if args.time_limit is not None else (2.0 if quick else 10.0)
    n = args.n if args.n is not None else (300 if quick else 8000)
    n_half, n_quarter = max(1, n // 2), max(1, n // 4)
    n_memory = 1_000_000 if full else (2_000 if quick else 100_000)
    if args.memory_n is not None:
        n_memory = args.memory_n
    memory_limit = max(limit, n_memory / 400.0)
    five_way = ["raw", "sdk", "aiometer", "httpx", "sequential"]
    latency = f"latency={LATENCY:g}"
    faults = f"{latency},{FAULT_MIX},retry_after={RETRY_AFTER:g}"
    all_scenarios = {
        "a": Scenario(
            "a",
            f"(a) zero server latency, concurrency {CONCURRENCY}: CPU-bound",
            "",
            five_way,
            n,
            rounds,
            limit,
            n_sequential=max(1, n // 10),
        ),
        "b": Scenario(
            "b",
            f"(b) {LATENCY * 1000:g} ms server latency, concurrency {CONCURRENCY}: latency-bound",
            latency,
            five_way,
            n,
            rounds,
            limit,
            # one request per 20 ms: about 5 s (quick: 1 s)
            n_sequential=50 if quick else 250,
        ),
        "c": Scenario(
            "c",
            "(c) (b) plus 10 % transient faults: SDK (retries) vs raw (none)",
            faults,
            ["raw", "sdk"],
            n_quarter,
            rounds,
            limit * 2,
        ),
        "f": Scenario(
            "f",
            "(f) (b) plus 5 % 429 + Retry-After: the pool-wide slow-down (no target)",
            f"{latency},{RATE_LIMIT_MIX},retry_after={RETRY_AFTER:g}",
            ["raw", "sdk"],
            n_quarter,
            rounds,
            limit * 2,
        ),
        "d": Scenario(
            "d",
            f"(d) memory: a lazy generator of {n_memory:,} items, zero server latency",
            "",
            ["raw", "sdk"],
            n_memory,
            args.memory_rounds,
            memory_limit,
            sample_rss=0.5,
        ),
        "e": Scenario(
            "e",
            f"(e) SDK with journal= (SQLite temp file) vs without, {LATENCY * 1000:g} ms latency",
            latency,
            ["raw", "sdk", "sdk_journal"],
            n_half,
            rounds,
            limit,
        ),
    }
    keys = [k.strip() for k in args.scenario.split(",") if k.strip()]
    unknown = [k for k in keys if k not in all_scenarios]
    if unknown:
        raise SystemExit(f"unknown scenario(s) {unknown}; choose from a,b,c,d,e,f")
    chosen = [all_scenarios[k] for k in keys]
    if args.variants:
        wanted = {v.strip() for v in args.variants.split(",")}
        for s in chosen:
            s.variants = [v for v in s.variants if v in wanted or v == "raw"]
    cpus = available_cpus()
    return Plan(
        scenarios=chosen,
        warmup=args.warmup if args.warmup is not None else (32 if quick else 256),
        contacts=args.contacts,
        seed=args.seed,
        uvloop=args.uvloop,
        pin=not args.no_pin and len(cpus) >= 2,
        quick=quick,
        full=full,
    )


# ------------------------------------------------------------------------------ running


def _affinity(cpus: set[int] | None) -> Callable[[], None] | None:
    if not cpus or not hasattr(os, "sched_setaffinity"):
        return None

    def pin() -> None:
        os.sched_setaffinity(0, cpus)

    return pin


def run_one(plan: Plan, scenario: Scenario, variant: str, round_no: int) -> dict[str, Any]:
    """One fresh server + one worker process; the worker's JSON plus where it ran."""
    cpus = available_cpus()
    server_cpu = cpus[0] if plan.pin else None
    client_cpus = set(cpus[1:]) if plan.pin else None
    n = scenario.n_sequential if variant == "sequential" else scenario.n
    warmup = min(plan.warmup, 16) if variant == "sequential" else plan.warmup
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.worker",
        variant,
        "--scenario",
        scenario.key,
        "-n",
        str(n),
        "--warmup",
        str(warmup),
        "--contacts",
        str(plan.contacts),
        "--seed",
        str(plan.seed),
        "--concurrency",
        str(CONCURRENCY),
        "--time-limit",
        str(scenario.time_limit),
    ]
    if plan.uvloop:
        cmd.append("--uvloop")
    if scenario.sample_rss:
        cmd += ["--sample-rss", str(scenario.sample_rss)]
    started = time.monotonic()
    with sandbox_server(
        contacts=plan.contacts,
        seed=plan.seed,
        faults=scenario.faults,
        cpu=server_cpu,
        max_seconds=scenario.time_limit + 600,
    ) as server:
        env = {**os.environ, **server.env, "BENCH_SERVER_PID": str(server.pid)}
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_affinity(client_cpus),
        )
        try:
            out, err = proc.communicate(timeout=scenario.time_limit + 180)
        except subprocess.TimeoutExpired:
            stop_process(proc)
            return _failed_run(variant, scenario, round_no, "worker timed out and was killed")
        finally:
            stop_process(proc)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return _failed_run(
            variant, scenario, round_no, f"exit {proc.returncode}: {err.strip()[-1500:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    result["round"] = round_no
    result["wall_with_startup_s"] = round(time.monotonic() - started, 2)
    result["server_cpu"] = server_cpu
    result["client_cpus"] = sorted(client_cpus) if client_cpus else None
    return result


def _failed_run(variant: str, scenario: Scenario, round_no: int, error: str) -> dict[str, Any]:
    return {"variant": variant, "scenario": scenario.key, "round": round_no, "error": error}


def _progress(scenario: Scenario, r: dict[str, Any], rounds: int) -> str:
    head = f"  [{scenario.key} round {r['round'] + 1}/{rounds}] {r['variant']:<12}"
    if "error" in r:
        return f"{head} ERROR {r['error'][:300]}"
    extra = ""
    if r.get("failed"):
        extra += f"  failed {r['failed']}"
    if r.get("retries"):
        extra += f"  retries {r['retries']}"
    if scenario.sample_rss:
        extra += f"  RSS growth peak {r['rss_growth_peak_kib'] / MIB:.1f} MiB"
    if r.get("deadline_hit"):
        extra += "  (time limit hit)"
    return (
        f"{head} {r['done']:>8} req {r['elapsed_s']:7.2f} s {r['rps']:8.0f} req/s "
        f"{r['cpu_us_per_req']:7.0f} µs CPU/req{extra}"
    )


# ------------------------------------------------------------------------------ summary


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _peak_growth_kib(run: dict[str, Any]) -> int:
    """Peak RSS growth over the timed part, never below 0.

    The process peak (``ru_maxrss``) if it rose during the run, else the highest sampled
    RSS; both against the RSS right before the run.
    """
    before = int(run["rss_before_kib"])
    if run["maxrss_after_kib"] > run["maxrss_before_kib"]:
        peak = int(run["maxrss_after_kib"])
    else:
        peak = int(run.get("rss_peak_sampled_kib") or before)
    return max(peak, before) - before


def _paired(
    runs: list[dict[str, Any]], variant: str, key: str, baseline: str = "raw"
) -> list[float]:
    """``key`` of ``variant`` over ``baseline``'s in the same round: one ratio per round."""
    base = {r["round"]: r for r in runs if r["variant"] == baseline and "error" not in r}
    out = []
    for r in runs:
        if r["variant"] != variant or "error" in r or r["round"] not in base:
            continue
        denominator = base[r["round"]].get(key)
        if r.get(key) is not None and denominator:
            out.append(float(r[key]) / float(denominator))
    return out


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per variant: medians over rounds (and ranges) of the numbers the table shows, and
    the per-round ratios to ``raw`` (each round's runs are neighbours in time)."""
    out: dict[str, dict[str, Any]] = {}
    for r in runs:
        if "error" not in r and "rss_before_kib" in r:
            r["rss_growth_peak_kib"] = _peak_growth_kib(r)
    for variant in dict.fromkeys(r["variant"] for r in runs):
        good = [r for r in runs if r["variant"] == variant and "error" not in r]
        errors = [r["error"] for r in runs if r["variant"] == variant and "error" in r]
        if not good:
            out[variant] = {"rounds_ok": 0, "errors": errors}
            continue

        def med(key: str, rs: list[dict[str, Any]] = good) -> float | None:
            return _median([float(r[key]) for r in rs if r.get(key) is not None])

        rps = [float(r["rps"]) for r in good]
        out[variant] = {
            "rounds_ok": len(good),
            "errors": errors,
            "done": sum(r["done"] for r in good),
            "failed": sum(r["failed"] for r in good),
            "retries": sum(r["retries"] for r in good),
            "rps": med("rps"),
            "rps_min": min(rps),
            "rps_max": max(rps),
            "ok_rps": med("ok_rps"),
            "cpu_us_per_req": med("cpu_us_per_req"),
            "gc_us_per_req": med("gc_us_per_req"),
            "cpu_util": med("cpu_util"),
            "server_cpu_util": med("server_cpu_util"),
            "rss_before_kib": med("rss_before_kib"),
            "rss_growth_peak_kib": med("rss_growth_peak_kib"),
            "rss_growth_end_kib": med("rss_growth_end_kib"),
            "maxrss_after_kib": med("maxrss_after_kib"),
            "deadline_hit": any(r.get("deadline_hit") for r in good),
            "failed_share": sum(r["failed"] for r in good) / max(1, sum(r["done"] for r in good)),
            "round_ratios_to_raw": {
                key: [round(x, 3) for x in _paired(runs, variant, key)]
                for key in ("rps", "ok_rps", "cpu_us_per_req")
            },
        }
    return out


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def _fmt(value: float | None, spec: str = ".0f", suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{suffix}"


def _x(value: float | None) -> str:
    return _fmt(value, ".2f", "x")


def _pct(value: float | None) -> str:
    return _fmt(None if value is None else value * 100, ".0f", " %")


def _growth_ratio(s: dict[str, Any], raw: dict[str, Any]) -> str:
    """Ratio of peak RSS growths; meaningless (n/a) when both are below 1 MiB."""
    mine, base = s.get("rss_growth_peak_kib"), raw.get("rss_growth_peak_kib")
    if mine is None or base is None or max(mine, base) < MIB:
        return "n/a (< 1 MiB)"
    return _x(_ratio(mine, max(base, 1.0)))


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def scenario_table(scenario: Scenario, summary: dict[str, dict[str, Any]]) -> list[str]:
    raw = summary.get("raw", {})
    lines = [f"### {scenario.title}", ""]
    n_note = f"{scenario.n:,} requests per run"
    if scenario.n_sequential:
        n_note += f" ({scenario.n_sequential:,} for `sequential`)"
    lines.append(
        f"{n_note}; {scenario.rounds} round(s), medians; faults: `{scenario.faults or 'none'}`."
    )
    lines.append("")
    if scenario.key == "d":
        header = [
            "variant",
            "items",
            "req/s",
            "RSS before (MiB)",
            "peak growth (MiB)",
            "x raw",
            "growth at end (MiB)",
            "ru_maxrss (MiB)",
            "CPU µs/req",
        ]
        rows = []
        for variant, s in summary.items():
            if not s.get("rounds_ok"):
                rows.append([f"`{variant}`", "error", *["" for _ in header[2:]]])
                continue
            rows.append(
                [
                    f"`{variant}`",
                    f"{s['done'] // s['rounds_ok']:,}" + (" *" if s["deadline_hit"] else ""),
                    _fmt(s["rps"]),
                    _fmt(s["rss_before_kib"] / MIB, ".1f"),
                    _fmt(s["rss_growth_peak_kib"] / MIB, ".1f"),
                    _growth_ratio(s, raw),
                    _fmt(s["rss_growth_end_kib"] / MIB, ".1f"),
                    _fmt(s["maxrss_after_kib"] / MIB, ".1f"),
                    _fmt(s["cpu_us_per_req"]),
                ]
            )
        return [*lines, *_table(header, rows), ""]
    header = ["variant", "req/s", "range", "x raw", "CPU µs/req", "x raw", "GC µs/req"]
    if scenario.key == "b":
        header.append(f"efficiency (÷ {IDEAL_RPS:,.0f})")
    if scenario.key in ("c", "f"):
        header += ["ok/s", "x raw ok/s", "failed", "retries"]
    header += ["client CPU", "server CPU"]
    rows = []
    for variant, s in summary.items():
        if not s.get("rounds_ok"):
            rows.append([f"`{variant}`", "error", *["" for _ in header[2:]]])
            continue
        row = [
            f"`{variant}`",
            _fmt(s["rps"]) + (" *" if s["deadline_hit"] else ""),
            f"{s['rps_min']:.0f}-{s['rps_max']:.0f}",
            _x(_ratio(s["rps"], raw.get("rps"))),
            _fmt(s["cpu_us_per_req"]),
            _x(_ratio(s["cpu_us_per_req"], raw.get("cpu_us_per_req"))),
            _fmt(s["gc_us_per_req"]),
        ]
        if scenario.key == "b":
            row.append(_fmt(s["rps"] / IDEAL_RPS, ".2f"))
        if scenario.key in ("c", "f"):
            row += [
                _fmt(s["ok_rps"]),
                _x(_ratio(s["ok_rps"], raw.get("ok_rps"))),
                f"{s['failed']:,} ({_pct(s['failed_share'])})",
                f"{s['retries']:,}",
            ]
        row += [_pct(s["cpu_util"]), _pct(s["server_cpu_util"])]
        rows.append(row)
    return [*lines, *_table(header, rows), ""]


def evaluate_targets(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The lead's targets, measured: PASS, MISS, or n/a when a scenario did not run."""

    def get(key: str, variant: str, field: str) -> float | None:
        value = results.get(key, {}).get("summary", {}).get(variant, {}).get(field)
        return None if value is None else float(value)

    def verdict(ok: bool | None) -> str:
        return "n/a" if ok is None else ("PASS" if ok else "MISS")

    def rounds(key: str, variant: str, field: str) -> str:
        summary = results.get(key, {}).get("summary", {}).get(variant, {})
        ratios = summary.get("round_ratios_to_raw", {}).get(field) or []
        if len(ratios) < 2:
            return ""
        return f" (per round: {', '.join(f'{x:.2f}' for x in ratios)})"

    targets: list[dict[str, Any]] = []
    ratio = _ratio(get("a", "sdk", "cpu_us_per_req"), get("a", "raw", "cpu_us_per_req"))
    targets.append(
        {
            "target": "(a) SDK CPU/request ≤ 1.10x raw",
            "measured": _x(ratio) + rounds("a", "sdk", "cpu_us_per_req"),
            "result": verdict(None if ratio is None else ratio <= 1.10),
        }
    )
    ratio = _ratio(get("b", "sdk", "rps"), get("b", "raw", "rps"))
    targets.append(
        {
            "target": "(b) SDK throughput ≥ raw",
            "measured": _x(ratio) + rounds("b", "sdk", "rps"),
            "result": verdict(None if ratio is None else ratio >= 1.0),
        }
    )
    sdk_b = get("b", "sdk", "rps")
    eff = None if sdk_b is None else sdk_b / IDEAL_RPS
    targets.append(
        {
            "target": f"(b) SDK throughput ≥ 0.9 of Little's-law ideal ({IDEAL_RPS:,.0f}/s)",
            "measured": _fmt(eff, ".2f"),
            "result": verdict(None if eff is None else eff >= 0.9),
        }
    )
    ratio = _ratio(get("c", "sdk", "ok_rps"), sdk_b)
    targets.append(
        {
            "target": "(c) SDK successes/s with 10 % faults ≥ 0.85x SDK in (b)",
            "measured": _x(ratio),
            "result": verdict(None if ratio is None else ratio >= 0.85),
        }
    )
    growth = get("d", "sdk", "rss_growth_peak_kib")
    n_items = results.get("d", {}).get("n")
    d_note = ""
    if growth is not None and n_items is not None and n_items < 1_000_000:
        d_note = f" (measured over {n_items:,} items, not 1M: run --full)"
    targets.append(
        {
            "target": "(d) SDK peak RSS growth < 64 MiB for 1M items",
            "measured": _fmt(None if growth is None else growth / MIB, ".1f", " MiB") + d_note,
            "result": verdict(None if growth is None else growth / MIB < 64),
        }
    )
    cost = _ratio(get("e", "sdk_journal", "rps"), get("e", "sdk", "rps"))
    per_round = _paired(results.get("e", {}).get("runs", []), "sdk_journal", "rps", "sdk")
    e_rounds = ""
    if len(per_round) >= 2:
        e_rounds = f" (per round: {', '.join(f'{(1 - x) * 100:.0f} %' for x in per_round)})"
    targets.append(
        {
            "target": "(e) journal= costs ≤ 10 % throughput",
            "measured": _fmt(None if cost is None else (1 - cost) * 100, ".0f", " % slower")
            + e_rounds,
            "result": verdict(None if cost is None else cost >= 0.90),
        }
    )
    return targets


def _digest_note(results: dict[str, dict[str, Any]]) -> list[str]:
    """Which zyntro_async sources each scenario measured (others edit it while we run)."""
    per_scenario = {
        key: sorted({r["sdk_digest"] for r in res["runs"] if "sdk_digest" in r})
        for key, res in results.items()
    }
    everything = sorted({d for ds in per_scenario.values() for d in ds})
    if len(everything) <= 1:
        if not everything:
            return []
        return [f"zyntro_async source digest: `{everything[0]}` (sha256 of its .py files).", ""]
    mixed = [key for key, ds in per_scenario.items() if len(ds) > 1]
    where = "; ".join(f"({key}) `{', '.join(ds)}`" for key, ds in per_scenario.items())
    if mixed:
        head = (
            f"**Warning: zyntro_async changed during scenario(s) {', '.join(mixed)}**: "
            "their rounds measured different versions; re-run them for a clean table."
        )
    else:
        head = (
            "Note: zyntro_async changed between scenarios (each scenario measured one "
            "version); compare across scenarios with care."
        )
    return [head, f"Source digests: {where}.", ""]


def render(
    meta: dict[str, Any], results: dict[str, dict[str, Any]], targets: list[dict[str, Any]]
) -> str:
    m = meta["machine"]
    lines = [
        f"## Benchmarks ({meta['started'][:10]})",
        "",
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['memory_mib']:,} MiB, "
        f"{m['platform']}; {m['python']}; aiohttp {m['aiohttp']}, httpx {m['httpx']}, "
        f"aiometer {m['aiometer']}, zyntro_async {m['zyntro_async']}.",
        f"Server: the sandbox in its own process on {meta['server_loop']}"
        f"{', pinned to CPU ' + str(meta['server_cpu']) if meta['server_cpu'] is not None else ''}"
        f"; clients: one process per run on {meta['client_loop']}"
        f"{', pinned to CPU(s) ' + meta['client_cpus'] if meta['client_cpus'] else ''}. "
        f"Concurrency {CONCURRENCY} (pool of {CONCURRENCY} connections) for every concurrent "
        f"variant; the same payloads and server for all. CPU = user + system of the client "
        f"process over the timed part (getrusage). `*` = the run hit its time limit (rates "
        f"are over the requests done).",
        "",
    ]
    lines += _digest_note(results)
    for result in results.values():
        lines += result["table"]
    lines += ["### Targets (measured, not asserted)", ""]
    lines += _table(
        ["target", "measured", "result"],
        [[t["target"], t["measured"], f"**{t['result']}**"] for t in targets],
    )
    lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ main


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark zyntro_async against raw aiohttp, aiometer, httpx and a "
        "sequential loop, on the sandbox server in its own process.",
    )
    parser.add_argument(
        "--scenario", default="a,b,c,d,e,f", help="comma-separated subset of a,b,c,d,e,f"
    )
    parser.add_argument(
        "--variants",
        default=None,
        help="only these variants (raw is always kept: it is the baseline), e.g. sdk,httpx",
    )
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3, quick 1)")
    parser.add_argument(
        "-n", type=int, default=None, help="requests per run in a and b (default 8000)"
    )
    parser.add_argument(
        "--memory-n", type=int, default=None, help="items in scenario d (default 100000)"
    )
    parser.add_argument("--memory-rounds", type=int, default=1, help="rounds of d (default 1)")
    parser.add_argument(
        "--full", action="store_true", help="scenario d over 1,000,000 items (many minutes)"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke check: seconds, not minutes")
    parser.add_argument(
        "--time-limit", type=float, default=None, help="seconds per run (default 10; c: 2x)"
    )
    parser.add_argument("--warmup", type=int, default=None, help="untimed requests per run")
    parser.add_argument("--contacts", type=int, default=10_000, help="contacts seeded")
    parser.add_argument("--seed", type=int, default=1, help="the server's seed")
    parser.add_argument("--uvloop", action="store_true", help="run the clients on uvloop")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server/client CPUs")
    parser.add_argument(
        "--output-dir", type=Path, default=RESULTS_DIR, help="where results are written"
    )
    parser.add_argument("--no-save", action="store_true", help="print only, write no files")
    parser.add_argument(
        "--render",
        type=Path,
        default=None,
        metavar="RESULTS_JSON",
        help="run nothing: rebuild the tables of a saved results-*.json (writes latest.md)",
    )
    return parser


def _latest_name(keys: list[str], *, quick: bool) -> str:
    """``latest.md`` holds the last full run; quick and partial runs get their own file."""
    if quick:
        return "latest-quick.md"
    if sorted(keys) == ["a", "b", "c", "d", "e", "f"]:
        return "latest.md"
    return f"latest-{''.join(sorted(keys))}.md"


def render_saved(path: Path, *, save: bool) -> int:
    """Recompute summaries, tables and targets from a results file's raw runs."""
    data = json.loads(path.read_text(encoding="utf-8"))
    results: dict[str, dict[str, Any]] = data["scenarios"]
    for key, res in results.items():
        scenario = Scenario(
            key,
            res["title"],
            res["faults"],
            list(res["variants"]),
            res["n"],
            res["rounds"],
            res["time_limit_s"],
            n_sequential=res.get("n_sequential", 0),
        )
        res["summary"] = summarize(res["runs"])
        res["table"] = scenario_table(scenario, res["summary"])
    targets = evaluate_targets(results)
    text = render(data, results, targets)
    print(text)
    if save:
        data["targets"] = targets
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        md_path = path.parent / _latest_name(list(results), quick="-quick" in path.name)
        md_path.write_text(text, encoding="utf-8")
        print(f"wrote {md_path}")
    return 0


def _on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # run the cleanups (servers, workers) like Ctrl-C


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.render is not None:
        return render_saved(args.render, save=not args.no_save)
    if args.uvloop and not uvloop_available():
        print("--uvloop: uvloop is not installed", file=sys.stderr)
        return 2
    plan = build_plan(args)
    signal.signal(signal.SIGTERM, _on_sigterm)
    cpus = available_cpus()
    started = datetime.now(timezone.utc)
    meta: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "server_loop": "uvloop" if uvloop_available() else "asyncio",
        "client_loop": "uvloop" if plan.uvloop else "asyncio",
        "server_cpu": cpus[0] if plan.pin else None,
        "client_cpus": ",".join(map(str, cpus[1:])) if plan.pin else None,
        "sdk_digest_at_start": sdk_digest(),
        "parameters": {
            "concurrency": CONCURRENCY,
            "latency_s": LATENCY,
            "fault_mix": FAULT_MIX,
            "rate_limit_mix": f"{RATE_LIMIT_MIX},retry_after={RETRY_AFTER:g}",
            "warmup": plan.warmup,
            "contacts": plan.contacts,
            "seed": plan.seed,
            "quick": plan.quick,
            "full": plan.full,
            "argv": list(argv) if argv is not None else sys.argv[1:],
        },
    }
    print(
        f"zyntro_async benchmarks: scenarios {','.join(s.key for s in plan.scenarios)}, "
        f"client loop {meta['client_loop']}, server loop {meta['server_loop']}, "
        f"pinning {'on' if plan.pin else 'off'}",
        flush=True,
    )
    results: dict[str, dict[str, Any]] = {}
    t0 = time.monotonic()
    try:
        for scenario in plan.scenarios:
            print(f"\n{scenario.title}", flush=True)
            runs = []
            for round_no in range(scenario.rounds):
                for variant in scenario.variants:
                    run = run_one(plan, scenario, variant, round_no)
                    print(_progress(scenario, run, scenario.rounds), flush=True)
                    runs.append(run)
            summary = summarize(runs)
            results[scenario.key] = {
                "title": scenario.title,
                "faults": scenario.faults,
                "n": scenario.n,
                "n_sequential": scenario.n_sequential,
                "rounds": scenario.rounds,
                "time_limit_s": scenario.time_limit,
                "variants": scenario.variants,
                "summary": summary,
                "runs": runs,
                "table": scenario_table(scenario, summary),
            }
    except KeyboardInterrupt:
        print("\ninterrupted: servers and workers stopped; partial results follow", flush=True)
    meta["duration_s"] = round(time.monotonic() - t0, 1)
    meta["sdk_digest_at_end"] = sdk_digest()
    meta["sdk_digests_measured"] = sorted(
        {r["sdk_digest"] for res in results.values() for r in res["runs"] if "sdk_digest" in r}
    )
    targets = evaluate_targets(results)
    text = render(meta, results, targets)
    print("\n" + text)
    if args.no_save or not results:
        return 0
    out_dir: Path = args.output_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%d-%H%M%S") + ("-quick" if plan.quick else "")
    data = {**meta, "scenarios": results, "targets": targets}
    json_path = out_dir / f"results-{stamp}.json"
    json_path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    md_path = out_dir / _latest_name([s.key for s in plan.scenarios], quick=plan.quick)
    md_path.write_text(text, encoding="utf-8")
    print(f"wrote {json_path.relative_to(ROOT) if json_path.is_relative_to(ROOT) else json_path}")
    print(f"wrote {md_path.relative_to(ROOT) if md_path.is_relative_to(ROOT) else md_path}")
    return 0
