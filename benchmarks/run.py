"""The benchmark runner behind ``python -m benchmarks`` (options: ``--help``, README.md).

For every scenario, round and variant it starts a fresh sandbox server process
(``benchmarks.server``, pinned to the first CPU; a variant may give it its own faults),
runs one worker process (``benchmarks.worker``, pinned to the other CPUs) that prints one
JSON line, and stops the server. Variants alternate within each round (A B C A B C ...).
It prints a table per scenario with ratios to its baseline (``raw``; the SDK's own
fault-free rate in c and f; the server's quota in g), PASS/MISS per target as each
scenario ends, and writes ``benchmarks/results/results-<stamp>.json`` (machine,
parameters, every run's numbers) and ``benchmarks/results/latest.md`` (the tables).
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
#: SDK's reconcile fetches meet them too), on top of (b)'s 20 ms latency: 500s (JSON and
#: text), a proxy's HTML 502s, connections dropped after the add was stored (each one
#: must be reconciled, not re-sent), and isolated 429s (``Retry-After: 0``) and 503s (no
#: ``Retry-After``) that ask for no wait.
FAULT_MIX = (
    "server_error=0.03,bad_gateway_html=0.02,drop_after_commit=0.02,"
    "rate_limit=0.015,unavailable=0.015,retry_after=0,unavailable_retry_after=0"
)
#: Scenario (f): 5 % of answers are 429 with ``Retry-After: 0``: isolated refusals that
#: ask for no wait, not a sustained overload.
RATE_LIMIT_MIX = "rate_limit=0.05,retry_after=0"
#: Scenario (g): the server's per-key quotas (req/s; burst = 10 % of the rate).
QUOTAS = (500, 1000)
#: Scenario (h): one add answered 429 with ``Retry-After: 86400`` ("come back tomorrow").
LONG_RETRY_AFTER = 86400
H_ITEMS = 200
H_SCRIPT = "addProfileToContact:20:rate_limit"
H_DEADLINE = 5.0
H_LIMIT = 10.0
H_HARD_TIMEOUT = 30.0
IDEAL_RPS = CONCURRENCY / LATENCY  # Little's law: 64 in flight / 20 ms
MIB = 1024.0
ALL_KEYS = "abcdefgh"


@attrs.define
class Variant:
    """One column of a scenario: which worker variant runs, against which server."""

    #: The name in tables, results and ``--variants``.
    label: str
    #: ``benchmarks.worker`` VARIANT (default: the label).
    worker: str = ""
    #: The server's faults for this variant (None: the scenario's).
    faults: str | None = None
    #: Extra worker options.
    args: list[str] = attrs.Factory(list)
    #: The server's quota (req/s) in scenario g.
    quota: float | None = None
    #: Seconds per run, when not the scenario's.
    time_limit: float | None = None
    #: Warm-up requests, when not the plan's.
    warmup: int | None = None

    def __attrs_post_init__(self) -> None:
        self.worker = self.worker or self.label


@attrs.define
class Scenario:
    key: str
    title: str
    faults: str
    variants: list[Variant]
    n: int
    rounds: int
    time_limit: float
    n_sequential: int = 0
    sample_rss: float = 0.0
    #: The variant the SDK is compared with (its own fault-free rate in c and f).
    reference: str = "raw"
    #: Seconds of rest between warm-up and the timed part (lets a quota's bucket refill).
    settle: float = 0.0
    #: Bound on the run itself (h): a run still going after this is reported as hung.
    hard_timeout: float | None = None
    #: ``ENDPOINT:N:KIND`` server scripts.
    scripts: tuple[str, ...] = ()
    #: Ask the server for its duplicate census after each run.
    census: bool = True

    @property
    def labels(self) -> list[str]:
        return [v.label for v in self.variants]


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
    sdk_path: str | None = None


def build_plan(args: argparse.Namespace) -> Plan:
    quick, full = args.quick, args.full
    rounds = args.rounds if args.rounds is not None else (1 if quick else 3)
    limit = args.time_limit if args.time_limit is not None else (2.0 if quick else 10.0)
    n = args.n if args.n is not None else (300 if quick else 8000)
    n_half = max(1, n // 2)
    n_memory = 1_000_000 if full else (2_000 if quick else 100_000)
    if args.memory_n is not None:
        n_memory = args.memory_n
    memory_limit = max(limit, n_memory / 400.0)
    five_way = [Variant(v) for v in ("raw", "sdk", "aiometer", "httpx", "sequential")]
    latency = f"latency={LATENCY:g}"
    n_faulty = max(1, args.n // 2) if args.n is not None else (1000 if quick else 4000)
    quota_n = args.quota_n if args.quota_n is not None else (1000 if quick else 5000)
    warmup = args.warmup if args.warmup is not None else (32 if quick else 256)

    def with_reference() -> list[Variant]:
        """raw (no retries), the SDK against a fault-free server, the SDK against faults."""
        return [Variant("raw"), Variant("sdk_clean", "sdk", faults=latency), Variant("sdk")]

    quota_variants = []
    for rate in QUOTAS:
        # Time for quota_n adds at the quota, twice, plus a margin; warm up within the
        # burst (nothing refused before the timed part) and let the bucket refill.
        quota_limit = 2 * quota_n / rate + (3.0 if quick else 5.0)
        faults = f"{latency},quota_rps={rate}"
        quota_warmup = min(warmup, max(1, rate // 10))
        for suffix, extra in (("", []), ("_mps", ["--max-per-second", str(rate)])):
            quota_variants.append(
                Variant(
                    f"sdk_q{rate}{suffix}",
                    "sdk",
                    faults,
                    extra,
                    quota=rate,
                    time_limit=quota_limit,
                    warmup=quota_warmup,
                )
            )
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
            census=False,
        ),
        "b": Scenario(
            "b",
            f"(b) {LATENCY * 1000:g} ms server latency, concurrency {CONCURRENCY}: latency-bound",
            latency,
            [Variant(v.label) for v in five_way],
            n,
            rounds,
            limit,
            # one request per 20 ms: about 5 s (quick: 1 s)
            n_sequential=50 if quick else 250,
            census=False,
        ),
        "c": Scenario(
            "c",
            "(c) (b) plus 10 % transient faults (500, 502 HTML, drop after commit, 429/503 "
            "asking no wait): the SDK vs its own fault-free rate",
            f"{latency},{FAULT_MIX}",
            with_reference(),
            n_faulty,
            rounds,
            limit * 2,
            reference="sdk_clean",
        ),
        "f": Scenario(
            "f",
            "(f) (b) plus 5 % 429 with Retry-After: 0: the SDK vs its own fault-free rate",
            f"{latency},{RATE_LIMIT_MIX}",
            with_reference(),
            n_faulty,
            rounds,
            limit * 2,
            reference="sdk_clean",
        ),
        "g": Scenario(
            "g",
            f"(g) a per-key quota of {' and '.join(f'{q:,}' for q in QUOTAS)} req/s (burst "
            f"10 %), {LATENCY * 1000:g} ms latency, {quota_n:,} adds at concurrency "
            f"{CONCURRENCY}: the SDK alone and with max_per_second = the quota",
            f"{latency},quota_rps=<quota>",
            quota_variants,
            quota_n,
            rounds,
            max(v.time_limit or 0.0 for v in quota_variants),
            reference="",
            settle=1.0,
        ),
        "h": Scenario(
            "h",
            f"(h) one 429 with Retry-After: {LONG_RETRY_AFTER} in a {H_ITEMS}-item run, "
            f"RetryPolicy(deadline={H_DEADLINE:g}): the run must end, and say why",
            f"retry_after={LONG_RETRY_AFTER}",
            [Variant("sdk", args=["--deadline", str(H_DEADLINE)], warmup=0)],
            H_ITEMS,
            1,
            H_HARD_TIMEOUT,
            reference="",
            hard_timeout=H_HARD_TIMEOUT,
            scripts=(H_SCRIPT,),
        ),
        "d": Scenario(
            "d",
            f"(d) memory: a lazy generator of {n_memory:,} items, zero server latency",
            "",
            [Variant("raw"), Variant("sdk")],
            n_memory,
            args.memory_rounds,
            memory_limit,
            sample_rss=0.5,
            census=False,
        ),
        "e": Scenario(
            "e",
            f"(e) SDK with journal= (SQLite temp file) vs without, {LATENCY * 1000:g} ms latency",
            latency,
            [Variant("raw"), Variant("sdk"), Variant("sdk_journal")],
            n_half,
            rounds,
            limit,
            census=False,
        ),
    }
    keys = [k.strip() for k in args.scenario.split(",") if k.strip()]
    unknown = [k for k in keys if k not in all_scenarios]
    if unknown:
        raise SystemExit(f"unknown scenario(s) {unknown}; choose from {','.join(ALL_KEYS)}")
    chosen = [all_scenarios[k] for k in keys]
    if args.variants:
        wanted = {v.strip() for v in args.variants.split(",")}
        for s in chosen:
            keep = {"raw", s.reference}
            s.variants = [v for v in s.variants if wanted & {v.label, v.worker} or v.label in keep]
    cpus = available_cpus()
    return Plan(
        scenarios=chosen,
        warmup=warmup,
        contacts=args.contacts,
        seed=args.seed,
        uvloop=args.uvloop,
        pin=not args.no_pin and len(cpus) >= 2,
        quick=quick,
        full=full,
        sdk_path=str(args.sdk_path.resolve()) if args.sdk_path is not None else None,
    )


# ------------------------------------------------------------------------------ running


def _affinity(cpus: set[int] | None) -> Callable[[], None] | None:
    if not cpus or not hasattr(os, "sched_setaffinity"):
        return None

    def pin() -> None:
        os.sched_setaffinity(0, cpus)

    return pin


def run_one(plan: Plan, scenario: Scenario, spec: Variant, round_no: int) -> dict[str, Any]:
    """One fresh server + one worker process; the worker's JSON plus where it ran."""
    cpus = available_cpus()
    server_cpu = cpus[0] if plan.pin else None
    client_cpus = set(cpus[1:]) if plan.pin else None
    variant = spec.worker
    n = scenario.n_sequential if variant == "sequential" else scenario.n
    warmup = min(plan.warmup, 16) if variant == "sequential" else plan.warmup
    if spec.warmup is not None:
        warmup = spec.warmup
    time_limit = spec.time_limit or scenario.time_limit
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
        str(time_limit),
        *spec.args,
    ]
    if plan.uvloop:
        cmd.append("--uvloop")
    if scenario.sample_rss:
        cmd += ["--sample-rss", str(scenario.sample_rss)]
    if scenario.settle:
        cmd += ["--settle", str(scenario.settle)]
    if scenario.hard_timeout:
        cmd += ["--hard-timeout", str(scenario.hard_timeout)]
    if scenario.census:
        cmd.append("--census")
    started = time.monotonic()
    with sandbox_server(
        contacts=plan.contacts,
        seed=plan.seed,
        faults=spec.faults if spec.faults is not None else scenario.faults,
        scripts=scenario.scripts,
        cpu=server_cpu,
        max_seconds=time_limit + 600,
    ) as server:
        env = {**os.environ, **server.env, "BENCH_SERVER_PID": str(server.pid)}
        env.pop("BENCH_SDK_PATH", None)
        if plan.sdk_path:
            env["BENCH_SDK_PATH"] = plan.sdk_path
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
            out, err = proc.communicate(timeout=time_limit + 180)
        except subprocess.TimeoutExpired:
            stop_process(proc)
            return _failed_run(spec.label, scenario, round_no, "worker timed out and was killed")
        finally:
            stop_process(proc)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return _failed_run(
            spec.label, scenario, round_no, f"exit {proc.returncode}: {err.strip()[-1500:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    result["worker_variant"] = result["variant"]
    result["variant"] = spec.label
    result["quota"] = spec.quota
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
    if r.get("skipped"):
        extra += f"  skipped {r['skipped']}"
    if r.get("retries"):
        extra += f"  retries {r['retries']}"
    if r.get("quota"):
        extra += f"  ok/s {r['ok_rps'] / r['quota']:.2f}x quota"
    if r.get("server_requests") and r.get("quota"):
        extra += f"  refused {r.get('server_refused', 0)}/{r['server_requests']} server req"
    elif r.get("server_requests"):
        extra += f"  {r['server_requests'] / max(1, r['done']):.2f} server req/item"
    if r.get("duplicates"):
        extra += f"  DUPLICATES {r['duplicates']}"
    if r.get("stopped"):
        extra += f"  stopped: {r['stopped'][:80]}"
    if r.get("hung"):
        extra += "  HUNG (hard timeout)"
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


def _sum(rs: list[dict[str, Any]], key: str) -> int | None:
    """The sum of ``key`` over runs that report it; None if none does."""
    values = [r[key] for r in rs if r.get(key) is not None]
    return sum(values) if values else None


def summarize(runs: list[dict[str, Any]], reference: str = "raw") -> dict[str, dict[str, Any]]:
    """Per variant: medians over rounds (and ranges) of the numbers the table shows, and
    the per-round ratios to ``raw`` and to ``reference`` (each round's runs are neighbours
    in time). Counts (failures, refusals, duplicates) are summed over rounds."""
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
            "ok": sum(r["ok"] for r in good),
            "skipped": sum(r.get("skipped", 0) for r in good),
            "hung": sum(1 for r in good if r.get("hung")),
            "stopped": [r.get("stopped") for r in good],
            "accounted": [r["ok"] + r["failed"] + r.get("skipped", 0) for r in good],
            "taken": [r.get("taken", r["done"]) for r in good],
            "elapsed_s": med("elapsed_s"),
            "elapsed_max_s": max(float(r["elapsed_s"]) for r in good),
            "duplicates": _sum(good, "duplicates"),
            "items_stored": _sum(good, "items_stored"),
            "server_requests": _sum(good, "server_requests"),
            "server_refused": _sum(good, "server_refused"),
            "server_429": _sum(good, "server_429"),
            "refused_share": _ratio(_sum(good, "server_refused"), _sum(good, "server_requests")),
            "server_per_item": _median(
                [r["server_requests"] / r["done"] for r in good if r.get("server_requests")]
            ),
            "quota": good[0].get("quota"),
            "max_per_second": good[0].get("max_per_second"),
            "ok_over_quota": _median(
                [float(r["ok_rps"]) / float(r["quota"]) for r in good if r.get("quota")]
            ),
            "ok_over_quota_rounds": [
                round(float(r["ok_rps"]) / float(r["quota"]), 3) for r in good if r.get("quota")
            ],
            "round_ratios_to_reference": (
                [round(x, 3) for x in _paired(runs, variant, "ok_rps", reference)]
                if reference and variant != reference
                else []
            ),
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


def _reference_table(scenario: Scenario, summary: dict[str, dict[str, Any]]) -> list[str]:
    """c and f: rates, ratios to raw and to the SDK's own fault-free rate, failures, dups."""
    raw, ref = summary.get("raw", {}), summary.get(scenario.reference, {})
    header = [
        "variant",
        "req/s",
        "range",
        "CPU µs/req",
        "x raw",
        "ok/s",
        f"x `{scenario.reference}` ok/s",
        "failed",
        "retries",
        "server req/item",
        "items stored",
        "duplicates",
        "client CPU",
        "server CPU",
    ]
    rows = []
    for variant, s in summary.items():
        if not s.get("rounds_ok"):
            rows.append([f"`{variant}`", "error", *["" for _ in header[2:]]])
            continue
        ratios = s.get("round_ratios_to_reference") or []
        stored = s.get("items_stored")
        rows.append(
            [
                f"`{variant}`" + (" (fault-free)" if variant == scenario.reference else ""),
                _fmt(s["rps"]) + (" *" if s["deadline_hit"] else ""),
                f"{s['rps_min']:.0f}-{s['rps_max']:.0f}",
                _fmt(s["cpu_us_per_req"]),
                _x(_ratio(s["cpu_us_per_req"], raw.get("cpu_us_per_req"))),
                _fmt(s["ok_rps"]),
                _x(_median(ratios)) if ratios else _x(_ratio(s["ok_rps"], ref.get("ok_rps"))),
                f"{s['failed']:,} ({_fmt(s['failed_share'] * 100, '.2f', ' %')})",
                f"{s['retries']:,}",
                _fmt(s["server_per_item"], ".2f"),
                "n/a" if stored is None else f"{stored:,} ({stored - s['ok']:+,} vs ok)",
                _fmt(s["duplicates"], ","),
                _pct(s["cpu_util"]),
                _pct(s["server_cpu_util"]),
            ]
        )
    return _table(header, rows)


def _quota_table(summary: dict[str, dict[str, Any]]) -> list[str]:
    """g: what share of the quota each variant got, and how often the server refused."""
    header = [
        "variant",
        "quota (req/s)",
        "max_per_second",
        "items",
        "ok/s",
        "range (req/s)",
        "x quota",
        "refused (of server requests)",
        "server req/item",
        "failed",
        "retries",
        "elapsed (s)",
        "client CPU",
    ]
    rows = []
    for variant, s in summary.items():
        if not s.get("rounds_ok"):
            rows.append([f"`{variant}`", "error", *["" for _ in header[2:]]])
            continue
        rows.append(
            [
                f"`{variant}`",
                _fmt(s["quota"], ",.0f"),
                _fmt(s["max_per_second"], ",.0f") if s["max_per_second"] else "-",
                f"{s['done'] // s['rounds_ok']:,}" + (" *" if s["deadline_hit"] else ""),
                _fmt(s["ok_rps"]),
                f"{s['rps_min']:.0f}-{s['rps_max']:.0f}",
                _x(s["ok_over_quota"]),
                f"{_fmt(s['server_refused'], ',')} "
                f"({_fmt(_pct_value(s['refused_share']), '.1f', ' %')})",
                _fmt(s["server_per_item"], ".2f"),
                f"{s['failed']:,}",
                f"{s['retries']:,}",
                _fmt(s["elapsed_s"], ".1f"),
                _pct(s["cpu_util"]),
            ]
        )
    return _table(header, rows)


def _deadline_table(scenario: Scenario, summary: dict[str, dict[str, Any]]) -> list[str]:
    """h: did the run end, when, with every item accounted for, and did it say why."""
    header = [
        "variant",
        "elapsed (s)",
        "items taken",
        "succeeded",
        "failed",
        "skipped",
        f"accounted (of {scenario.n})",
        "stopped",
        "hung",
        "retries",
    ]
    rows = []
    for variant, s in summary.items():
        if not s.get("rounds_ok"):
            rows.append([f"`{variant}`", "error", *["" for _ in header[2:]]])
            continue
        stopped = [x for x in s["stopped"] if x]
        rows.append(
            [
                f"`{variant}`",
                _fmt(s["elapsed_max_s"], ".2f"),
                ", ".join(map(str, s["taken"])),
                f"{s['ok']:,}",
                f"{s['failed']:,}",
                f"{s['skipped']:,}",
                ", ".join(map(str, s["accounted"])),
                "; ".join(x[:100].replace("|", "/") for x in stopped) or "no",
                "yes" if s["hung"] else "no",
                f"{s['retries']:,}",
            ]
        )
    return _table(header, rows)


def _pct_value(share: float | None) -> float | None:
    return None if share is None else share * 100


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
    if scenario.key in ("c", "f"):
        lines += [
            f"`{scenario.reference}` runs the SDK against the same server without faults "
            "(latency only), alternating with the others. Failures and duplicates are summed "
            "over rounds; duplicates are counted by the server (records of one contact with "
            "the same source and payload); items stored are the measured items the server "
            "holds (more than ok: stored but reported failed; fewer: a success not stored).",
            "",
        ]
        return [*lines, *_reference_table(scenario, summary), ""]
    if scenario.key == "g":
        lines += [
            "Refusals are the server's 429s from the quota during the timed part, over every "
            "request it received then (adds and fetches, retries included). Each run warms up "
            "within the burst and rests 1 s so the timed part starts with a full bucket.",
            "",
        ]
        return [*lines, *_quota_table(summary), ""]
    if scenario.key == "h":
        lines += [
            f"Wall time of the whole run (hard timeout {scenario.hard_timeout:g} s); the "
            f"{H_SCRIPT.split(':')[1]}th add is answered 429 with Retry-After: {LONG_RETRY_AFTER}.",
            "",
        ]
        return [*lines, *_deadline_table(scenario, summary), ""]
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
        row += [_pct(s["cpu_util"]), _pct(s["server_cpu_util"])]
        rows.append(row)
    return [*lines, *_table(header, rows), ""]


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


def _target(key: str, target: str, measured: str, ok: bool | None) -> dict[str, Any]:
    return {"scenario": key, "target": target, "measured": measured, "result": _verdict(ok)}


def _per_round(values: list[float], spec: str = ".2f") -> str:
    if len(values) < 2:
        return ""
    return f" (per round: {', '.join(f'{x:{spec}}' for x in values)})"


def scenario_targets(key: str, results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The targets of scenario ``key``, measured: PASS, MISS, or n/a (nothing measured)."""
    res = results.get(key, {})
    summary: dict[str, dict[str, Any]] = res.get("summary", {})

    def get(variant: str, field: str, key: str = key) -> float | None:
        value = results.get(key, {}).get("summary", {}).get(variant, {}).get(field)
        return None if value is None else float(value)

    def rounds(variant: str, field: str) -> str:
        ratios = summary.get(variant, {}).get("round_ratios_to_raw", {}).get(field) or []
        return _per_round(ratios)

    out: list[dict[str, Any]] = []
    if key == "a":
        ratio = _ratio(get("sdk", "cpu_us_per_req"), get("raw", "cpu_us_per_req"))
        out.append(
            _target(
                key,
                "(a) SDK CPU/request ≤ 1.10x raw",
                _x(ratio) + rounds("sdk", "cpu_us_per_req"),
                None if ratio is None else ratio <= 1.10,
            )
        )
    elif key == "b":
        ratio = _ratio(get("sdk", "rps"), get("raw", "rps"))
        out.append(
            _target(
                key,
                "(b) SDK throughput ≥ raw",
                _x(ratio) + rounds("sdk", "rps"),
                None if ratio is None else ratio >= 1.0,
            )
        )
        sdk_b = get("sdk", "rps")
        eff = None if sdk_b is None else sdk_b / IDEAL_RPS
        out.append(
            _target(
                key,
                f"(b) SDK throughput ≥ 0.9 of Little's-law ideal ({IDEAL_RPS:,.0f}/s)",
                _fmt(eff, ".2f"),
                None if eff is None else eff >= 0.9,
            )
        )
    elif key in ("c", "f"):
        sdk = summary.get("sdk", {})
        ratios = sdk.get("round_ratios_to_reference") or []
        ratio = (
            _median(ratios) if ratios else _ratio(get("sdk", "ok_rps"), get("sdk_clean", "ok_rps"))
        )
        what = "10 % transient faults" if key == "c" else "5 % 429 with Retry-After: 0"
        measured = _x(ratio) + _per_round(ratios)
        if res.get("reference") != "sdk_clean":  # a results file from before the reference
            ratio, measured = None, "no fault-free SDK run in these results"
        out.append(
            _target(
                key,
                f"({key}) SDK ok/s with {what} ≥ 0.85x its own fault-free ok/s",
                measured,
                None if ratio is None else ratio >= 0.85,
            )
        )
        if key == "c":
            share = sdk.get("failed_share") if sdk.get("rounds_ok") else None
            out.append(
                _target(
                    key,
                    "(c) SDK failed items ≤ 0.5 %",
                    "n/a"
                    if share is None
                    else f"{share * 100:.2f} % ({sdk['failed']:,} of {sdk['done']:,})",
                    None if share is None else share <= 0.005,
                )
            )
            dups = sdk.get("duplicates") if sdk.get("rounds_ok") else None
            out.append(
                _target(
                    key,
                    "(c) SDK duplicates = 0 (server census: same contact, source and payload)",
                    _fmt(dups, ","),
                    None if dups is None else dups == 0,
                )
            )
    elif key == "g":
        for variant, s in summary.items():
            quota = s.get("quota")
            if not s.get("rounds_ok") or not quota:
                out.append(_target(key, f"(g) `{variant}`", "no run finished", False))
                continue
            paced = bool(s.get("max_per_second"))
            floor, ceiling = (0.95, 0.01) if paced else (0.9, 0.05)
            name = f"(g) quota {quota:,}/s" + (f", max_per_second={quota:,}" if paced else "")
            ratio = s.get("ok_over_quota")
            out.append(
                _target(
                    key,
                    f"{name}: ok/s ≥ {floor:.2f}x the quota",
                    _x(ratio) + _per_round(s.get("ok_over_quota_rounds") or []),
                    None if ratio is None else ratio >= floor,
                )
            )
            share = s.get("refused_share")
            out.append(
                _target(
                    key,
                    f"{name}: refused ≤ {ceiling * 100:.0f} % of requests",
                    "n/a"
                    if share is None
                    else f"{share * 100:.1f} % ({s['server_refused']:,} of "
                    f"{s['server_requests']:,})",
                    None if share is None else share <= ceiling,
                )
            )
            out.append(
                _target(
                    key,
                    f"{name}: 0 failed",
                    f"{s['failed']:,}",
                    s["failed"] == 0,
                )
            )
    elif key == "h" and res:
        s = summary.get("sdk", {})
        if not s.get("rounds_ok"):
            errors = "; ".join(s.get("errors") or ["no run"])[:120]
            out += [
                _target(key, f"(h) the run ends in < {H_LIMIT:g} s", errors, False),
                _target(key, "(h) every item accounted for", "no report", False),
                _target(key, "(h) report.stopped set", "no report", False),
            ]
        else:
            elapsed = s["elapsed_max_s"]
            hung = bool(s["hung"])
            out.append(
                _target(
                    key,
                    f"(h) the run ends in < {H_LIMIT:g} s",
                    f"did not end in {elapsed:.1f} s (hard timeout)"
                    if hung
                    else f"{elapsed:.2f} s",
                    not hung and elapsed < H_LIMIT,
                )
            )
            accounted = s["accounted"]
            out.append(
                _target(
                    key,
                    # The "every item accounted for": every item taken is reported
                    # (succeeded + failed + skipped == taken); the rest of the 200 were
                    # never taken from the input, so a journaled re-run resumes them.
                    "(h) every item accounted for (each taken item reported; the rest of "
                    f"the {H_ITEMS} untouched)",
                    "no report (hung)"
                    if hung
                    else ", ".join(str(a) for a in accounted)
                    + f" reported (succeeded {s['ok']}, failed {s['failed']}, skipped"
                    f" {s['skipped']}) of {', '.join(map(str, s['taken']))} taken",
                    not hung and all(a == t for a, t in zip(accounted, s["taken"], strict=True)),
                )
            )
            stopped = s["stopped"]
            out.append(
                _target(
                    key,
                    "(h) report.stopped set",
                    "no report (hung)" if hung else "; ".join(repr(x)[:100] for x in stopped),
                    not hung and all(stopped),
                )
            )
    elif key == "d":
        growth = get("sdk", "rss_growth_peak_kib")
        n_items = res.get("n")
        d_note = ""
        if growth is not None and n_items is not None and n_items < 1_000_000:
            d_note = f" (measured over {n_items:,} items, not 1M: run --full)"
        out.append(
            _target(
                key,
                "(d) SDK peak RSS growth < 64 MiB for 1M items",
                _fmt(None if growth is None else growth / MIB, ".1f", " MiB") + d_note,
                None if growth is None else growth / MIB < 64,
            )
        )
    elif key == "e":
        cost = _ratio(get("sdk_journal", "rps"), get("sdk", "rps"))
        per_round = _paired(res.get("runs", []), "sdk_journal", "rps", "sdk")
        e_rounds = ""
        if len(per_round) >= 2:
            e_rounds = f" (per round: {', '.join(f'{(1 - x) * 100:.0f} %' for x in per_round)})"
        out.append(
            _target(
                key,
                "(e) journal= costs ≤ 10 % throughput",
                _fmt(None if cost is None else (1 - cost) * 100, ".0f", " % slower") + e_rounds,
                None if cost is None else cost >= 0.90,
            )
        )
    return out


def evaluate_targets(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The targets of every scenario that ran, in scenario order."""
    return [t for key in ALL_KEYS if key in results for t in scenario_targets(key, results)]


def verdict_lines(targets: list[dict[str, Any]]) -> list[str]:
    """One line per target: ``PASS  (c) ...: measured``."""
    return [f"  {t['result']:<4}  {t['target']}: {t['measured']}" for t in targets]


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
    sdk_path = meta.get("parameters", {}).get("sdk_path")
    if sdk_path:
        lines += [
            f"**Client SDK: `zyntro_async` imported from `{sdk_path}`** (`--sdk-path`), not "
            "from this tree; the server is this tree's sandbox.",
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
        "--scenario",
        default=",".join(ALL_KEYS),
        help=f"comma-separated subset of {','.join(ALL_KEYS)} (default: all)",
    )
    parser.add_argument(
        "--variants",
        default=None,
        help="only these variants (raw and a scenario's reference are always kept: they are "
        "the baselines), e.g. sdk,httpx",
    )
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3, quick 1)")
    parser.add_argument(
        "-n", type=int, default=None, help="requests per run in a and b (default 8000)"
    )
    parser.add_argument(
        "--memory-n", type=int, default=None, help="items in scenario d (default 100000)"
    )
    parser.add_argument(
        "--quota-n", type=int, default=None, help="adds per run in scenario g (default 5000)"
    )
    parser.add_argument(
        "--sdk-path",
        type=Path,
        default=None,
        metavar="DIR",
        help="the workers import zyntro_async from DIR (e.g. a git worktree of an older "
        "commit); the server keeps the sandbox of this tree",
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
        "--name",
        default=None,
        metavar="PREFIX",
        help="write PREFIX-<stamp>.json and PREFIX-<stamp>.md (not results-*/latest*.md)",
    )
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
    if sorted(keys) == sorted(ALL_KEYS):
        return "latest.md"
    return f"latest-{''.join(sorted(keys))}.md"


def render_saved(path: Path, *, save: bool) -> int:
    """Recompute summaries, tables and targets from a results file's raw runs."""
    data = json.loads(path.read_text(encoding="utf-8"))
    results: dict[str, dict[str, Any]] = data["scenarios"]
    for key, res in results.items():
        variants = [Variant(**v) if isinstance(v, dict) else Variant(v) for v in res["variants"]]
        scenario = Scenario(
            key,
            res["title"],
            res["faults"],
            variants,
            res["n"],
            res["rounds"],
            res["time_limit_s"],
            n_sequential=res.get("n_sequential", 0),
            reference=res.get("reference", "raw"),
            hard_timeout=res.get("hard_timeout_s"),
        )
        res["summary"] = summarize(res["runs"], scenario.reference)
        res["table"] = scenario_table(scenario, res["summary"])
    targets = evaluate_targets(results)
    text = render(data, results, targets)
    print(text)
    if save:
        data["targets"] = targets
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        md_path = path.parent / _latest_name(list(results), quick="-quick" in path.name)
        if not path.name.startswith("results-"):  # a --name run: its own .md next to it
            md_path = path.with_suffix(".md")
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
            "rate_limit_mix": RATE_LIMIT_MIX,
            "quotas": list(QUOTAS),
            "h": {
                "items": H_ITEMS,
                "script": H_SCRIPT,
                "retry_after": LONG_RETRY_AFTER,
                "deadline": H_DEADLINE,
                "hard_timeout": H_HARD_TIMEOUT,
            },
            "sdk_path": plan.sdk_path,
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
            summary = summarize(runs, scenario.reference)
            results[scenario.key] = {
                "title": scenario.title,
                "faults": scenario.faults,
                "n": scenario.n,
                "n_sequential": scenario.n_sequential,
                "rounds": scenario.rounds,
                "time_limit_s": scenario.time_limit,
                "hard_timeout_s": scenario.hard_timeout,
                "reference": scenario.reference,
                "variants": [attrs.asdict(v) for v in scenario.variants],
                "summary": summary,
                "runs": runs,
                "table": scenario_table(scenario, summary),
            }
            for line in verdict_lines(scenario_targets(scenario.key, results)):
                print(line, flush=True)
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
    json_path = out_dir / f"{args.name or 'results'}-{stamp}.json"
    json_path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    md_path = out_dir / _latest_name([s.key for s in plan.scenarios], quick=plan.quick)
    if args.name:
        md_path = json_path.with_suffix(".md")
    md_path.write_text(text, encoding="utf-8")
    print(f"wrote {json_path.relative_to(ROOT) if json_path.is_relative_to(ROOT) else json_path}")
    print(f"wrote {md_path.relative_to(ROOT) if md_path.is_relative_to(ROOT) else md_path}")
    return 0
