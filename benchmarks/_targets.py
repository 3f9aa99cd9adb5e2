"""Every benchmark target as one row of data, and the one function that evaluates them.

A row names the scenario it judges, the metric (a function below that reads the figure
and words what was measured), the comparison, the threshold, the target as printed and
the requirement as its issue states it. :func:`evaluate` reads each metric and compares:
PASS, MISS, or n/a when nothing was measured. A metric may say that a missing figure is
itself a MISS (the run did not finish, so the target cannot hold).

The main run's rows (scenarios ``a`` to ``h``) read the run's results by scenario key;
the quota run's rows (``quotas:rate``, ``quotas:minute``, ``quotas:stall``) read one
quota scenario's figures.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from ._plan import ALL_KEYS, FULL_MEMORY_N, H_ITEMS, IDEAL_RPS, QUOTAS, STEADY_PERCENTILES
from ._stats import MIB, median, paired, ratio


@attrs.frozen
class Target:
    """One target: ``metric`` of ``scenario`` ``comparison`` ``threshold``."""

    scenario: str
    metric: str
    comparison: str
    threshold: float
    #: The target as printed next to its verdict.
    label: str
    #: The requirement as the issue that set it words it.
    source: str
    #: The variant measured, for a metric that reads one of several (g's quotas).
    variant: str = ""


@attrs.frozen
class Measured:
    """A metric's figure (None: not measured) and what to print for it."""

    value: float | None
    text: str
    #: A missing figure is a MISS (the run failed), not n/a.
    miss_if_none: bool = False


COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
}

# ------------------------------------------------------------------------- the table

A_MAX_CPU_RATIO = 1.00
E_MAX_COST = 0.05
D_MAX_GROWTH_MIB = 64.0
H_LIMIT = 10.0
STEADY_LOW, STEADY_HIGH = STEADY_PERCENTILES
FAULT_SHARE = {"c": "10 % transient faults", "f": "5 % 429 with Retry-After: 0"}


def _quota_rows() -> list[Target]:
    """g: per quota, the SDK alone and paced with ``max_per_second`` = the quota."""
    rows = []
    for quota in QUOTAS:
        for paced in (False, True):
            variant = f"sdk_q{quota}" + ("_mps" if paced else "")
            floor, ceiling = (0.95, 0.01) if paced else (0.9, 0.05)
            name = f"(g) quota {quota:,}/s" + (f", max_per_second={quota:,}" if paced else "")
            source = "a per-key quota: ok/s near the quota, few refusals, nothing failed" + (
                " (paced to the quota: closer still)" if paced else ""
            )
            rows += [
                Target(
                    "g",
                    "ok_over_quota",
                    ">=",
                    floor,
                    f"{name}: ok/s ≥ {floor:.2f}x the quota",
                    source,
                    variant,
                ),
                Target(
                    "g",
                    "refused_share",
                    "<=",
                    ceiling,
                    f"{name}: refused ≤ {ceiling * 100:.0f} % of requests",
                    source,
                    variant,
                ),
                Target("g", "failed", "==", 0, f"{name}: 0 failed", source, variant),
            ]
    return rows


TARGETS: tuple[Target, ...] = (
    Target(
        "a",
        "sdk_cpu_over_raw",
        "<=",
        A_MAX_CPU_RATIO,
        f"(a) SDK CPU/request ≤ {A_MAX_CPU_RATIO:.2f}x raw",
        "zero latency, c=64: CPU µs/request, SDK ÷ raw aiohttp ≤ 1.0x",
    ),
    Target(
        "b",
        "sdk_rps_over_raw",
        ">=",
        1.0,
        "(b) SDK throughput ≥ raw",
        "20 ms latency, c=64: req/s, SDK ÷ raw ≥ 1.0x",
    ),
    Target(
        "b",
        "sdk_efficiency",
        ">=",
        0.9,
        f"(b) SDK throughput ≥ 0.9 of Little's-law ideal ({IDEAL_RPS:,.0f}/s)",
        "efficiency vs concurrency ÷ latency (3,200/s) ≥ 0.9",
    ),
    *(
        Target(
            key,
            "sdk_ok_over_fault_free",
            ">=",
            0.85,
            f"({key}) SDK steady-state ok/s with {FAULT_SHARE[key]} ≥ 0.85x its own "
            f"fault-free steady-state ok/s ({STEADY_LOW}th-{STEADY_HIGH}th percentile of "
            "completion times)",
            f"with {FAULT_SHARE[key]}: ok/s ≥ 0.85x the fault-free rate, as a steady-state "
            "ratio over ≥ 10,000 items",
        )
        for key in ("c", "f")
    ),
    Target(
        "c",
        "sdk_failed_share",
        "<=",
        0.005,
        "(c) SDK failed items ≤ 0.5 %",
        "transient faults: ≤ 0.5 % of items failed",
    ),
    Target(
        "c",
        "sdk_duplicates",
        "==",
        0,
        "(c) SDK duplicates = 0 (server census: same contact, source and payload)",
        "transient faults: no add applied twice",
    ),
    *_quota_rows(),
    Target(
        "h",
        "h_elapsed",
        "<",
        H_LIMIT,
        f"(h) the run ends in < {H_LIMIT:g} s",
        "one Retry-After of a day among successes costs seconds at most",
    ),
    Target(
        "h",
        "h_unreported_runs",
        "==",
        0,
        "(h) every item accounted for (each taken item reported; the rest of "
        f"the {H_ITEMS} untouched)",
        "every item accounted for",
    ),
    Target(
        "h",
        "h_runs_stopped",
        "==",
        0,
        "(h) not stopped: the probe after the hold succeeds, every item succeeds",
        "a long pool-wide Retry-After is confirmed before it stops a run",
    ),
    Target(
        "d",
        "sdk_growth_per_1m_mib",
        "<",
        D_MAX_GROWTH_MIB,
        f"(d) SDK peak RSS growth < {D_MAX_GROWTH_MIB:g} MiB for 1M items",
        "RSS growth < 64 MiB at 1,000,000 items",
    ),
    Target(
        "e",
        "journal_rps_over_sdk",
        ">=",
        1 - E_MAX_COST,
        f"(e) journal= costs ≤ {E_MAX_COST * 100:.0f} % throughput",
        "journal= cost on (b) ≤ 5 %",
    ),
    # The quota run (python -m benchmarks quotas): one scenario's figures each.
    *(
        Target(f"quotas:{kind}", metric, comparison, threshold, label, source)
        for kind, metric, comparison, threshold, label, source in (
            ("rate", "ratio", ">=", 0.9, ">= 0.9x quota", "ok/s ≥ 0.9x the quota"),
            ("rate", "refused_share", "<=", 0.05, "<= 5 % refused", "≤ 5 % of requests refused"),
            ("rate", "unfinished", "==", 0, "0 failed, all done", "0 failed"),
            ("rate", "duplicates", "==", 0, "0 duplicates", "0 duplicates"),
            ("rate", "converge_s", "<=", 5.0, "converged <= 5 s", "within 10 % after ≤ 5 s"),
            ("minute", "short", "==", 0, "every item succeeds", "every item succeeds"),
            ("minute", "refused_share", "<=", 0.05, "<= 5 % refused", "≤ 5 % refused"),
            ("minute", "duplicates", "==", 0, "0 duplicates", "0 duplicates"),
            ("stall", "unfinished", "==", 0, "0 failed, all done", "a stall loses nothing"),
            ("stall", "duplicates", "==", 0, "0 duplicates", "a stall duplicates nothing"),
            ("stall", "lost", "==", 0, "0 lost", "no item reported wrongly"),
        )
    ),
)

# ------------------------------------------------------------------ the main run's metrics

Results = Mapping[str, Mapping[str, Any]]


def _x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def _per_round(values: Iterable[float], spec: str = ".2f") -> str:
    values = list(values)
    if len(values) < 2:
        return ""
    return f" (per round: {', '.join(f'{x:{spec}}' for x in values)})"


def _summary(results: Results, key: str) -> dict[str, dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = results.get(key, {}).get("summary", {})
    return summary


def _get(results: Results, key: str, variant: str, field: str) -> float | None:
    value = _summary(results, key).get(variant, {}).get(field)
    return None if value is None else float(value)


def _rounds_to_raw(results: Results, key: str, variant: str, field: str) -> str:
    ratios = _summary(results, key).get(variant, {}).get("round_ratios_to_raw", {}).get(field)
    return _per_round(ratios or [])


def sdk_cpu_over_raw(results: Results, row: Target) -> Measured:
    value = ratio(
        _get(results, "a", "sdk", "cpu_us_per_req"), _get(results, "a", "raw", "cpu_us_per_req")
    )
    return Measured(value, _x(value) + _rounds_to_raw(results, "a", "sdk", "cpu_us_per_req"))


def sdk_rps_over_raw(results: Results, row: Target) -> Measured:
    value = ratio(_get(results, "b", "sdk", "rps"), _get(results, "b", "raw", "rps"))
    return Measured(value, _x(value) + _rounds_to_raw(results, "b", "sdk", "rps"))


def sdk_efficiency(results: Results, row: Target) -> Measured:
    rps = _get(results, "b", "sdk", "rps")
    value = None if rps is None else rps / IDEAL_RPS
    return Measured(value, "n/a" if value is None else f"{value:.2f}")


def _reference_ratio(
    results: Results, key: str, field: str, rounds_field: str
) -> tuple[float | None, str]:
    """SDK ÷ ``sdk_clean`` of ``field``: the median of the per-round ratios (each round's
    runs are neighbours in time), or of the medians when no round has both."""
    ratios = _summary(results, key).get("sdk", {}).get(rounds_field) or []
    value = (
        median(ratios)
        if ratios
        else ratio(_get(results, key, "sdk", field), _get(results, key, "sdk_clean", field))
    )
    return value, _x(value) + _per_round(ratios)


def sdk_ok_over_fault_free(results: Results, row: Target) -> Measured:
    """c and f: the SDK's steady-state ok/s under faults over its fault-free one (the
    ok/s between two percentiles of the ok items' completion times, per run); the ratio
    over the whole run beside it, the tail included, as context."""
    key = row.scenario
    if results.get(key, {}).get("reference") != "sdk_clean":  # saved before the reference
        return Measured(None, "no fault-free SDK run in these results")
    value, text = _reference_ratio(
        results, key, "steady_ok_rps", "round_steady_ratios_to_reference"
    )
    _, whole_text = _reference_ratio(results, key, "ok_rps", "round_ratios_to_reference")
    if value is None:
        return Measured(None, f"no steady-state figure in these results; whole run {whole_text}")
    text += f"; whole run {whole_text}"
    per_item = _get(results, key, "sdk", "server_per_item")
    ref_per_item = _get(results, key, "sdk_clean", "server_per_item")
    if per_item and ref_per_item:
        # Every extra request a fault costs (a re-send, a reconcile look) takes a slot for
        # a round trip: at the same concurrency ok/s cannot exceed 1 / requests per item.
        text += (
            f"; ceiling at this fault mix 1 ÷ {per_item:.3f} server requests/item = "
            f"{_x(ref_per_item / per_item)}; steady server requests/s "
            f"{_x(value * per_item / ref_per_item)} of fault-free"
        )
    return Measured(value, text)


def sdk_failed_share(results: Results, row: Target) -> Measured:
    sdk = _summary(results, row.scenario).get("sdk", {})
    if not sdk.get("rounds_ok"):
        return Measured(None, "n/a")
    share = float(sdk["failed_share"])
    return Measured(share, f"{share * 100:.2f} % ({sdk['failed']:,} of {sdk['done']:,})")


def sdk_duplicates(results: Results, row: Target) -> Measured:
    sdk = _summary(results, row.scenario).get("sdk", {})
    dups = sdk.get("duplicates") if sdk.get("rounds_ok") else None
    return Measured(dups, "n/a" if dups is None else f"{dups:,}")


def _quota_variant(results: Results, row: Target) -> dict[str, Any] | None:
    """g's variant of ``row``, if it finished a run."""
    s = _summary(results, "g")[row.variant]
    return s if s.get("rounds_ok") and s.get("quota") else None


def ok_over_quota(results: Results, row: Target) -> Measured:
    s = _quota_variant(results, row)
    if s is None:
        return Measured(None, "no run finished", miss_if_none=True)
    value = s.get("ok_over_quota")
    return Measured(value, _x(value) + _per_round(s.get("ok_over_quota_rounds") or []))


def refused_share(results: Results, row: Target) -> Measured:
    s = _quota_variant(results, row)
    if s is None:
        return Measured(None, "no run finished", miss_if_none=True)
    share = s.get("refused_share")
    if share is None:
        return Measured(None, "n/a")
    return Measured(
        share, f"{share * 100:.1f} % ({s['server_refused']:,} of {s['server_requests']:,})"
    )


def failed(results: Results, row: Target) -> Measured:
    s = _quota_variant(results, row)
    if s is None:
        return Measured(None, "no run finished", miss_if_none=True)
    return Measured(s["failed"], f"{s['failed']:,}")


def _h_run(results: Results) -> tuple[dict[str, Any], bool]:
    s = _summary(results, "h").get("sdk", {})
    return s, bool(s.get("hung"))


def h_elapsed(results: Results, row: Target) -> Measured:
    s, hung = _h_run(results)
    if not s.get("rounds_ok"):
        errors = "; ".join(s.get("errors") or ["no run"])[:120]
        return Measured(None, errors, miss_if_none=True)
    elapsed = float(s["elapsed_max_s"])
    if hung:
        return Measured(None, f"did not end in {elapsed:.1f} s (hard timeout)", True)
    return Measured(elapsed, f"{elapsed:.2f} s")


def h_unreported_runs(results: Results, row: Target) -> Measured:
    """Runs in which an item taken from the input went unreported: every taken item must
    be reported (succeeded + failed + skipped == taken); the rest were never taken, so a
    journaled re-run resumes them."""
    s, hung = _h_run(results)
    if not s.get("rounds_ok"):
        return Measured(None, "no report", miss_if_none=True)
    if hung:
        return Measured(None, "no report (hung)", miss_if_none=True)
    accounted, taken = s["accounted"], s["taken"]
    text = (
        ", ".join(str(a) for a in accounted)
        + f" reported (succeeded {s['ok']}, failed {s['failed']}, skipped"
        f" {s['skipped']}) of {', '.join(map(str, taken))} taken"
    )
    return Measured(sum(a != t for a, t in zip(accounted, taken, strict=True)), text)


def h_runs_stopped(results: Results, row: Target) -> Measured:
    """Runs that stopped, or did not succeed with every item: one long ``Retry-After``
    among successes holds the pool and probes; the probe's success lifts the hold."""
    s, hung = _h_run(results)
    if not s.get("rounds_ok"):
        return Measured(None, "no report", miss_if_none=True)
    if hung:
        return Measured(None, "no report (hung)", miss_if_none=True)
    stopped = s["stopped"]
    short = s["failed"] or s["ok"] < H_ITEMS * len(stopped)
    bad = sum(bool(x) for x in stopped) + (1 if short else 0)
    return Measured(bad, f"stopped: {'; '.join(repr(x)[:100] for x in stopped)}, ok {s['ok']}")


def sdk_growth_per_1m_mib(results: Results, row: Target) -> Measured:
    """d's peak RSS growth against the budget per item: below 1M items the budget shrinks
    with the items (a leak grows with them; a fixed cost makes this stricter, never
    looser). The value is the growth scaled to 1M items; the 1M figure itself comes from
    ``--scenario d --full``, not from this scaling."""
    sdk_d = _summary(results, "d").get("sdk", {})
    growth = _get(results, "d", "sdk", "rss_growth_peak_kib")
    n_items = results.get("d", {}).get("n")
    done = sdk_d["done"] // sdk_d["rounds_ok"] if sdk_d.get("rounds_ok") else None
    share = min(1.0, (done or FULL_MEMORY_N) / FULL_MEMORY_N)
    limit = row.threshold * share
    text = "n/a" if growth is None else f"{growth / MIB:.1f} MiB"
    value = None if growth is None else growth / MIB / share
    if done is not None:
        text += f" over {done:,} items"
        if n_items and done < n_items:
            text += f" of {n_items:,} (the run stopped early)"
            value = math.inf
        elif done < FULL_MEMORY_N:
            text += (
                f" (< {limit:.1f} MiB asked: the same budget per item; the 1M figure is "
                "`--scenario d --full`)"
            )
        if sdk_d.get("failed"):
            text += f", {sdk_d['failed']:,} failed"
    return Measured(value, text)


def journal_rps_over_sdk(results: Results, row: Target) -> Measured:
    value = ratio(_get(results, "e", "sdk_journal", "rps"), _get(results, "e", "sdk", "rps"))
    per_round = paired(results.get("e", {}).get("runs", []), "sdk_journal", "rps", "sdk")
    rounds = ""
    if len(per_round) >= 2:
        rounds = f" (per round: {', '.join(f'{(1 - x) * 100:.0f} %' for x in per_round)})"
    text = "n/a" if value is None else f"{(1 - value) * 100:.0f} % slower"
    return Measured(value, text + rounds)


# ------------------------------------------------------------------ the quota run's metrics


def _quota_figure(field: str) -> Callable[[Mapping[str, Any], Target], Measured]:
    def metric(r: Mapping[str, Any], row: Target) -> Measured:
        value = r.get(field)
        return Measured(value, "-" if value is None else str(value), miss_if_none=True)

    return metric


def _quota_refused(r: Mapping[str, Any], row: Target) -> Measured:
    share = r["refused_share"] if r["refused_share"] is not None else 0.0
    return Measured(share, f"{share * 100:.1f} %")


def _quota_unfinished(r: Mapping[str, Any], row: Target) -> Measured:
    return Measured(r["failed"] + r["not_done"], f"{r['failed']} failed, {r['not_done']} not done")


def _quota_short(r: Mapping[str, Any], row: Target) -> Measured:
    return Measured(r["items"] - r["ok"], f"{r['ok']} of {r['items']}")


METRICS: dict[str, Callable[[Any, Target], Measured]] = {
    "sdk_cpu_over_raw": sdk_cpu_over_raw,
    "sdk_rps_over_raw": sdk_rps_over_raw,
    "sdk_efficiency": sdk_efficiency,
    "sdk_ok_over_fault_free": sdk_ok_over_fault_free,
    "sdk_failed_share": sdk_failed_share,
    "sdk_duplicates": sdk_duplicates,
    "ok_over_quota": ok_over_quota,
    "refused_share": refused_share,
    "failed": failed,
    "h_elapsed": h_elapsed,
    "h_unreported_runs": h_unreported_runs,
    "h_runs_stopped": h_runs_stopped,
    "sdk_growth_per_1m_mib": sdk_growth_per_1m_mib,
    "journal_rps_over_sdk": journal_rps_over_sdk,
}
QUOTA_METRICS: dict[str, Callable[[Any, Target], Measured]] = {
    "ratio": _quota_figure("ratio"),
    "refused_share": _quota_refused,
    "unfinished": _quota_unfinished,
    "duplicates": _quota_figure("duplicates"),
    "converge_s": _quota_figure("converge_s"),
    "short": _quota_short,
    "lost": _quota_figure("lost"),
}

# ------------------------------------------------------------------------- evaluation


def verdict(row: Target, measured: Measured) -> str:
    """PASS or MISS by the row's comparison; n/a when nothing was measured."""
    if measured.value is None:
        return "MISS" if measured.miss_if_none else "n/a"
    return "PASS" if COMPARE[row.comparison](measured.value, row.threshold) else "MISS"


def evaluate(
    rows: Iterable[Target], data: Any, metrics: Mapping[str, Callable[[Any, Target], Measured]]
) -> list[dict[str, Any]]:
    """Each row measured on ``data`` and judged: scenario, target, measured, result."""
    out = []
    for row in rows:
        measured = metrics[row.metric](data, row)
        out.append(
            {
                "scenario": row.scenario,
                "target": row.label,
                "measured": measured.text,
                "result": verdict(row, measured),
            }
        )
    return out


def scenario_targets(key: str, results: Results) -> list[dict[str, Any]]:
    """The targets of scenario ``key`` (of the variants it ran), measured."""
    if key not in results:
        return []
    variants = _summary(results, key)
    rows = (
        row
        for row in TARGETS
        if row.scenario == key and (not row.variant or row.variant in variants)
    )
    return evaluate(rows, results, METRICS)


def evaluate_targets(results: Results) -> list[dict[str, Any]]:
    """The targets of every scenario that ran, in scenario order."""
    return [t for key in ALL_KEYS for t in scenario_targets(key, results)]


def quota_targets(kind: str, figures: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """The quota run's targets for one scenario of ``kind`` (rate, minute, stall)."""
    rows = [row for row in TARGETS if row.scenario == f"quotas:{kind}"]
    return [(t["target"], t["result"] == "PASS") for t in evaluate(rows, figures, QUOTA_METRICS)]
