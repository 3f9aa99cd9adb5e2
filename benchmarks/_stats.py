"""Statistics over a scenario's runs: medians over rounds, ranges, per-round ratios, sums."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

MIB = 1024.0


def median(values: list[float]) -> float | None:
    """The median, or None for no values."""
    return statistics.median(values) if values else None


def steady_rate(
    times: Sequence[float], low: float, high: float
) -> tuple[float, float, float] | None:
    """Completions per second between the ``low``-th and ``high``-th percentile of the
    completion ``times`` (seconds), and those two times; None for fewer than 10 times or
    a window of no length. The ranks are the nearest ones to the percentiles, so the rate
    is (completions between them) / (time between them)."""
    if len(times) < 10:
        return None
    ordered = sorted(times)
    last = len(ordered) - 1
    lo, hi = round(low / 100 * last), round(high / 100 * last)
    span = ordered[hi] - ordered[lo]
    if hi <= lo or span <= 0:
        return None
    return (hi - lo) / span, ordered[lo], ordered[hi]


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


def paired(
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
            return median([float(r[key]) for r in rs if r.get(key) is not None])

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
                key: [round(x, 3) for x in paired(runs, variant, key)]
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
            "refused_share": ratio(_sum(good, "server_refused"), _sum(good, "server_requests")),
            "server_per_item": median(
                [r["server_requests"] / r["done"] for r in good if r.get("server_requests")]
            ),
            "quota": good[0].get("quota"),
            "max_per_second": good[0].get("max_per_second"),
            "ok_over_quota": median(
                [float(r["ok_rps"]) / float(r["quota"]) for r in good if r.get("quota")]
            ),
            "ok_over_quota_rounds": [
                round(float(r["ok_rps"]) / float(r["quota"]), 3) for r in good if r.get("quota")
            ],
            "steady_ok_rps": med("steady_ok_rps"),
            "round_steady_ratios_to_reference": (
                [round(x, 3) for x in paired(runs, variant, "steady_ok_rps", reference)]
                if reference and variant != reference
                else []
            ),
            "round_ratios_to_reference": (
                [round(x, 3) for x in paired(runs, variant, "ok_rps", reference)]
                if reference and variant != reference
                else []
            ),
        }
    return out


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b``, or None when either is missing or ``b`` is 0."""
    if a is None or b is None or b == 0:
        return None
    return a / b
