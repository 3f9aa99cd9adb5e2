"""``benchmarks.fleet``'s figures, targets and report: from the workers' success times
to PASS/MISS per target and the markdown committed under ``benchmarks/results/``."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._common import RESULTS_DIR, machine
from ._fleet_plan import CONCURRENCY, LATENCY, QUOTA, Run
from .quotas import converge_time


def jain(values: list[float]) -> float:
    """Jain's fairness index: 1 when every value is equal, 1/n when one has it all."""
    total, squares = sum(values), sum(v * v for v in values)
    return total * total / (len(values) * squares) if squares else 1.0


def longest_gap(times: list[float], start: float, end: float) -> float:
    """The longest stretch of ``[start, end]`` without a success."""
    inside = [start, *sorted(t for t in times if start <= t <= end), end]
    return max(b - a for a, b in itertools.pairwise(inside))


def figures(workers: list[dict[str, Any]], go: float) -> dict[str, Any]:
    times = sorted(t - go for w in workers for t in w["ok_times"])
    last = times[-1] if times else 0.0
    first = times[0] if times else 0.0
    # Jain over what each process completed while all of them were running: from the
    # last first success (each process imports redis-py and connects first, 0.1-0.6 s
    # under load, while the others share the quota without it) to the first last one.
    running = [w["ok_times"] for w in workers if w["ok_times"]]
    since = max((min(t) for t in running), default=go)
    until = min((max(t) for t in running), default=go)
    shares = [sum(1 for t in w["ok_times"] if since <= t <= until) for w in workers]
    return {
        "ok": len(times),
        "span_s": round(last, 3),
        # The fleet's pace once running: from the first success to the last. Before the
        # first, each run imports redis-py and connects (0.1-0.3 s, in "first_ok_s").
        "ratio": round((len(times) - 1) / (last - first) / QUOTA, 3) if last > first else 0.0,
        "first_ok_s": round(first, 3),
        "jain": round(jain([float(s) for s in shares]), 4),
        "per_process": shares,
        "per_second": [sum(1 for t in times if s <= t < s + 1) for s in range(int(last) + 1)],
        "starts": [round(min(w["ok_times"]) - go, 3) if w["ok_times"] else None for w in workers],
        "ends": [round(max(w["ok_times"]) - go, 3) if w["ok_times"] else None for w in workers],
        "converge_s": converge_time(times, QUOTA, last),
        "failed": sum(w["failed"] for w in workers),
        "errors": [w["errors"] for w in workers if w["errors"]],
        "cut_off": any(w["cut_off"] for w in workers),
    }


# -- targets -----------------------------------------------------------------------------------


def _check(
    out: dict[str, Any], name: str, value: float | None, test: Callable[[float], bool], goal: str
) -> None:
    passed = value is not None and test(value)
    out.setdefault("targets", []).append(
        {"target": name, "goal": goal, "value": value, "result": "PASS" if passed else "MISS"}
    )


def judge(run: Run, out: dict[str, Any]) -> None:
    if not run.shared:
        return
    share = out["refused_share"]
    if run.kind == "skew":
        _check(out, "quota holds", out["ratio"], lambda v: 0.95 <= v <= 1.02, "0.95-1.02x")
        _check(out, "refused", share, lambda v: v <= 0.01, "<= 1 %")
    elif run.kind == "kill":
        k = out["kill"]
        _check(out, "no stall (longest gap)", k["longest_gap_s"], lambda v: v <= 0.5, "<= 0.5 s")
        _check(out, "refused meanwhile", k["refused_share"], lambda v: v <= 0.05, "<= 5 %")
        _check(out, "shared again", k["shared_again_s"], lambda v: v <= 5.0, "<= 5 s")
    elif run.known:
        _check(out, "ok/s / quota", out["ratio"], lambda v: v >= 0.95, ">= 0.95x")
        _check(out, "refused", share, lambda v: v <= 0.01, "<= 1 %")
    else:
        _check(out, "ok/s / quota", out["ratio"], lambda v: v >= 0.9, ">= 0.9x")
        _check(out, "refused", share, lambda v: v <= 0.03, "<= 3 %")
        after = out["refused_after_opening"]
        _check(out, "refused after 1 s", after, lambda v: v <= 0.03, "<= 3 %")
        _check(out, "within 10 %", out["converge_s"], lambda v: v <= 10.0, "<= 10 s")
    if run.n > 1:
        _check(out, "Jain", out["jain"], lambda v: v >= 0.95, ">= 0.95")
    _check(out, "failed", out["failed"], lambda v: v == 0, "0")
    _check(out, "duplicates", out["duplicates"], lambda v: v == 0, "0")


# -- one run -------------------------------------------------------------------------------------


# -- the report -----------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def _s(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} s"


def _verdicts(out: dict[str, Any]) -> str:
    return " ".join(f"{t['target']}:{t['result']}" for t in out.get("targets", []))


def line(out: dict[str, Any]) -> str:
    text = (
        f"{out['run']:<28} {out['ratio']:.3f}x  refused {_pct(out['refused_share']):>7} "
        f"({_pct(out.get('refused_after_opening'))} after 1 s)  "
        f"Jain {out['jain']:.3f}  within 10 % {_s(out['converge_s']):>6}  "
        f"failed {out['failed']}  dup {out['duplicates']}  first ok {out['first_ok_s']:.2f} s  "
        f"load {out['load']:.1f}  went local {out.get('went_local', 0)}"
    )
    if "kill" in out:
        k = out["kill"]
        text += (
            f"\n    kill: refused meanwhile {_pct(k['refused_share'])}, ok {k['ratio']:.3f}x, "
            f"longest gap {k['longest_gap_s']:.2f} s, shared again {_s(k['shared_again_s'])}"
        )
    if out.get("targets"):
        text += "\n    " + _verdicts(out)
    return text


def _cells(out: dict[str, Any] | None) -> list[str]:
    if out is None:
        return ["-"] * 6
    return [
        f"{out['ratio']:.3f}x",
        f"{_pct(out['refused_share'])} ({_pct(out.get('refused_after_opening'))})",
        f"{out['jain']:.3f}",
        _s(out["converge_s"]),
        str(out["failed"]),
        str(out["duplicates"]),
    ]


def table(results: list[dict[str, Any]]) -> str:
    by_name = {r["run"]: r for r in results}
    head = (
        "| target | N | quota | shared: ok/s ÷ quota | refused (after 1 s) | Jain | within 10 % "
        "| failed | dup | alone: ok/s ÷ quota | refused (after 1 s) | Jain | within 10 % "
        "| failed | dup | load | targets |"
    )
    rows = [head, "|" + "---|" * 17]
    for r in results:
        if r["kind"] != "matrix" or not r["shared"]:
            continue
        mode = "known" if r["known"] else "learned"
        alone = by_name.get(r["run"].replace("-shared", "-alone"))
        rows.append(
            f"| {r['target']} | {r['n']} | {mode} | "
            + " | ".join(_cells(r) + _cells(alone))
            + f" | {r['load']:.1f}"
            + ("" if alone is None else f" / {alone['load']:.1f}")
            + f" | {_verdicts(r)} |"
        )
    for r in results:
        if r["kind"] != "matrix":
            rows.append(f"\n**{r['run']}**: " + line(r).replace("\n    ", "; "))
    return "\n".join(rows)


def summary(results: list[dict[str, Any]]) -> str:
    checks = [t for r in results for t in r.get("targets", [])]
    missed = [f"{r['run']} {t['target']}" for r in results for t in r.get("targets", [])
              if t["result"] == "MISS"]  # fmt: skip
    text = f"targets: {len(checks) - len(missed)} PASS, {len(missed)} MISS"
    return text + ("" if not missed else " (" + "; ".join(missed) + ")")


def markdown(data: dict[str, Any]) -> str:
    results, uptime = data["runs"], data["uptime"]
    return (
        f"# Fleet (`python -m benchmarks.fleet`), {data['started']}\n\n"
        f"Quota {QUOTA}/s, {LATENCY * 1000:.0f} ms latency, concurrency {CONCURRENCY} per "
        "process; 'alone' = no shared quota (known: each process `max_per_second` = "
        f"{QUOTA}/N by hand); 'load' is the 1-minute load average at the end of each run "
        f"(2 cores: above 2, the runs waited for a CPU). Uptime: {' / '.join(uptime)}\n\n"
        + table(results)
        + "\n\n"
        + summary(results)
        + "\n"
    )


def save(results: list[dict[str, Any]], started: str, uptime: list[str]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stem = RESULTS_DIR / f"fleet-{started}"
    data = {"started": started, "machine": machine(), "uptime": uptime, "runs": results}
    stem.with_suffix(".json").write_text(json.dumps(data, indent=1) + "\n")
    stem.with_suffix(".md").write_text(markdown(data))
    return stem
