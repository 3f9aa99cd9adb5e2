"""The benchmarks' verdicts and results files, as their readers rely on them.

Each target of ``python -m benchmarks`` is a row of one table judged by one function: a
figure past its threshold is a MISS, within it a PASS, a figure never measured n/a, and
a run that did not finish a MISS. The quota run's verdicts come from the same table and
reproduce the ones committed with its results. The docs site draws its plots from the
newest full run, never from a quick, labelled or quota run's file.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from benchmarks import quotas
from benchmarks._stats import steady_rate, summarize
from benchmarks._targets import evaluate_targets, scenario_targets
from benchmarks.run import markdown_path, run_label

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _verdicts(targets: list[dict[str, Any]]) -> dict[str, str]:
    return {t["target"]: t["result"] for t in targets}


def _cpu_run(sdk_us: float | None) -> dict[str, Any]:
    summary: dict[str, Any] = {"raw": {"cpu_us_per_req": 200.0}}
    if sdk_us is not None:
        summary["sdk"] = {"cpu_us_per_req": sdk_us}
    return {"a": {"summary": summary}}


@pytest.mark.parametrize(("sdk_us", "result"), [(199.0, "PASS"), (200.0, "PASS"), (201.0, "MISS")])
def test_a_threshold_is_the_sdk_cpu_at_most_the_raw_loops(sdk_us: float, result: str) -> None:
    (target,) = scenario_targets("a", _cpu_run(sdk_us))
    assert target["result"] == result
    assert target["measured"].startswith(f"{sdk_us / 200:.2f}x")


def test_a_figure_never_measured_is_not_a_verdict() -> None:
    (target,) = scenario_targets("a", _cpu_run(None))
    assert (target["result"], target["measured"]) == ("n/a", "n/a")


def test_only_scenarios_that_ran_are_judged() -> None:
    assert [t["scenario"] for t in evaluate_targets(_cpu_run(150.0))] == ["a"]


def _quota_summary(**variants: dict[str, Any]) -> dict[str, Any]:
    return {"g": {"summary": variants}}


def test_a_quota_variant_that_finished_no_run_misses_every_target() -> None:
    results = _quota_summary(sdk_q500={"rounds_ok": 0, "errors": ["exit 1"]})
    targets = scenario_targets("g", results)
    assert len(targets) == 3
    assert {t["result"] for t in targets} == {"MISS"}
    assert {t["measured"] for t in targets} == {"no run finished"}


def test_quota_targets_judge_the_paced_variant_more_strictly() -> None:
    figures = {
        "rounds_ok": 1,
        "quota": 500,
        "ok_over_quota": 0.93,
        "ok_over_quota_rounds": [0.93],
        "refused_share": 0.02,
        "server_refused": 20,
        "server_requests": 1000,
        "failed": 0,
    }
    paced = {**figures, "max_per_second": 500}
    verdicts = _verdicts(
        scenario_targets("g", _quota_summary(sdk_q500=figures, sdk_q500_mps=paced))
    )
    assert verdicts == {
        "(g) quota 500/s: ok/s ≥ 0.90x the quota": "PASS",
        "(g) quota 500/s: refused ≤ 5 % of requests": "PASS",
        "(g) quota 500/s: 0 failed": "PASS",
        "(g) quota 500/s, max_per_second=500: ok/s ≥ 0.95x the quota": "MISS",
        "(g) quota 500/s, max_per_second=500: refused ≤ 1 % of requests": "MISS",
        "(g) quota 500/s, max_per_second=500: 0 failed": "PASS",
    }


def test_a_memory_run_that_stopped_early_misses_its_budget() -> None:
    sdk = {"rounds_ok": 1, "done": 1000, "failed": 0, "rss_growth_peak_kib": 10.0}
    (target,) = scenario_targets("d", {"d": {"n": 2000, "summary": {"sdk": sdk}}})
    assert target["result"] == "MISS"
    assert "the run stopped early" in target["measured"]


def test_a_hung_run_misses_every_deadline_target() -> None:
    sdk = {
        "rounds_ok": 1,
        "hung": 1,
        "elapsed_max_s": 30.0,
        "accounted": [0],
        "taken": [20],
        "stopped": [None],
    }
    targets = scenario_targets("h", {"h": {"summary": {"sdk": sdk}}})
    assert [t["result"] for t in targets] == ["MISS", "MISS", "MISS"]


def _fault_run(variant: str, round_no: int, ok_rps: float, steady: float | None) -> dict[str, Any]:
    """One c run as the worker reports it (the fields the summary reads)."""
    return {
        "variant": variant,
        "round": round_no,
        "done": 10_000,
        "ok": 10_000,
        "failed": 0,
        "retries": 0,
        "rps": ok_rps,
        "ok_rps": ok_rps,
        "steady_ok_rps": steady,
        "elapsed_s": 10_000 / ok_rps,
        "server_requests": 10_000 if variant == "sdk_clean" else 11_680,
        "duplicates": 0,
    }


def _fault_results(rounds: list[tuple[float, float, float | None, float | None]]) -> dict[str, Any]:
    """c's results from (clean ok/s, sdk ok/s, clean steady ok/s, sdk steady ok/s) per round."""
    runs = []
    for i, (clean, faulty, clean_steady, faulty_steady) in enumerate(rounds):
        runs += [_fault_run("sdk_clean", i, clean, clean_steady)]
        runs += [_fault_run("sdk", i, faulty, faulty_steady)]
    summary = summarize(runs, "sdk_clean")
    return {"c": {"reference": "sdk_clean", "summary": summary, "runs": runs}}


def _steady_target(results: dict[str, Any]) -> dict[str, Any]:
    (target,) = [t for t in scenario_targets("c", results) if "steady-state" in t["target"]]
    return target


def test_c_is_judged_on_the_steady_state_ratio_with_the_whole_run_beside_it() -> None:
    # A tail halves the whole-run rate; between the percentiles the SDK keeps 0.9x.
    results = _fault_results(
        [(2700, 1200, 3000, 2700), (2600, 1150, 2900, 2500), (2800, 1300, 3100, 2850)]
    )
    target = _steady_target(results)
    assert target["result"] == "PASS"
    assert target["measured"].startswith("0.90x (per round: 0.90, 0.86, 0.92); whole run 0.44x")


def test_c_misses_when_the_steady_state_ratio_is_below_the_target() -> None:
    # The whole-run ratio alone would pass; the steady-state one is what is judged.
    results = _fault_results([(2700, 2600, 3000, 2500), (2700, 2600, 3000, 2400)])
    target = _steady_target(results)
    assert target["result"] == "MISS"
    assert target["measured"].startswith("0.82x")
    assert "whole run 0.96x" in target["measured"]


def test_results_saved_without_completion_times_judge_no_steady_state_ratio() -> None:
    results = _fault_results([(2700, 1200, None, None)])
    target = _steady_target(results)
    assert target["result"] == "n/a"
    assert target["measured"].startswith("no steady-state figure in these results; whole run")


def test_the_steady_rate_leaves_out_the_ramp_and_the_tail() -> None:
    # 1,000 completions 1 ms apart, then ten stragglers seconds later (a retry's backoff)
    # and a slow start: the rate between the 10th and 90th percentile is 1,000/s.
    times = [0.5 + i * 0.001 for i in range(1000)] + [3.0 + i for i in range(10)]
    steady = steady_rate(times, 10, 90)
    assert steady is not None
    rate, low, high = steady
    assert rate == pytest.approx(1000, rel=1e-6)
    assert 0.5 < low < high < 1.5
    assert steady_rate(times[:9], 10, 90) is None
    assert steady_rate([1.0] * 20, 10, 90) is None


def test_the_quota_runs_verdicts_reproduce_the_committed_ones() -> None:
    (path,) = RESULTS.glob("results-*-quotas-small.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    by_name = {sc.name: sc for sc in quotas.scenarios(small=True)}
    for figures in data["results"]:
        name = figures["scenario"]
        judged = [[label, ok] for label, ok in quotas.targets(by_name[name], figures)]
        assert judged == data["targets"][name], name


def test_results_files_are_named_by_date_and_kind_of_run(tmp_path: Path) -> None:
    every = list("abcdefgh")
    assert run_label(every, quick=False, label=None) is None
    assert run_label(every, quick=True, label=None) == "quick"
    assert run_label(["d"], quick=False, label=None) == "d"
    assert run_label(["c", "f"], quick=False, label="before") == "before"
    json_path = tmp_path / "results-20261205T060000Z.json"
    assert markdown_path(json_path, every, quick=False, label=None).name == "latest.md"
    assert markdown_path(json_path, ["d"], quick=False, label=None).name == "latest-d.md"
    assert markdown_path(json_path, every, quick=True, label=None).name == "latest-quick.md"
    labelled = tmp_path / "results-20261205T060000Z-before.json"
    assert markdown_path(labelled, every, quick=False, label="before") == labelled.with_suffix(
        ".md"
    )


def _hook(results: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "docs_benchmarks_hook", ROOT / "docs" / "hooks" / "benchmarks.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "RESULTS", results)
    return module


def _write(directory: Path, name: str, scenarios: str, *, quick: bool = False) -> None:
    data = {
        "started": name.split("-")[1],
        "parameters": {"quick": quick},
        "scenarios": {key: {"summary": {}} for key in scenarios},
    }
    (directory / name).write_text(json.dumps(data), encoding="utf-8")


def test_the_docs_site_draws_the_newest_full_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path, "results-20261201T000000Z.json", "abcdefgh")
    _write(tmp_path, "results-20261202T000000Z.json", "abcdefgh")
    _write(tmp_path, "results-20261203T000000Z-d.json", "d")
    _write(tmp_path, "results-20261204T000000Z-quick.json", "abcdefgh", quick=True)
    _write(tmp_path, "results-20261205T000000Z-before.json", "abcdefgh")
    (tmp_path / "results-20261206T000000Z-quotas-small.json").write_text(
        json.dumps({"started": "20261206", "results": []}), encoding="utf-8"
    )
    assert _hook(tmp_path, monkeypatch).latest_run()["_file"] == "results-20261202T000000Z.json"


def test_the_docs_site_falls_back_to_a_partial_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path, "results-20261203T000000Z-d.json", "d")
    _write(tmp_path, "results-20261205T000000Z-before.json", "abcdefgh")
    assert _hook(tmp_path, monkeypatch).latest_run()["_file"] == "results-20261203T000000Z-d.json"
