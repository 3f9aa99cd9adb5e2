"""MkDocs hook: the benchmarks page's plots and tables, drawn from the results files.

At build time it reads the newest full run in ``benchmarks/results/results-*.json`` (the
one with the most scenarios, newest first), draws one SVG per chart with matplotlib (added
to the site as generated files, never committed) and fills the page's markers:

- ``bench-run``: when, where and on what the run was measured;
- ``bench-targets``: every target with what was measured and PASS/MISS;
- ``bench-scenarios``: each scenario's title and its variants' figures.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
MARKER = re.compile(r"^<!-- generated: (bench-[a-z-]+) -->$", re.MULTILINE)
PLOTS = ("throughput", "cpu", "faults", "quota")

_run: dict[str, Any] | None = None


def latest_run() -> dict[str, Any]:
    """The newest run that measured the most scenarios (a full run beats a partial one)."""
    global _run
    if _run is None:
        runs = []
        for path in sorted(RESULTS.glob("results-*.json")):
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("parameters", {}).get("quick"):
                continue
            data["_file"] = path.name
            runs.append(data)
        if not runs:
            raise FileNotFoundError(f"no benchmark results in {RESULTS}")
        _run = max(runs, key=lambda d: (len(d.get("scenarios", {})), d.get("started", "")))
    return _run


def _svg(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    return buffer.getvalue()


def _bars(ax: Any, labels: list[str], values: list[float], *, unit: str, title: str) -> None:
    colours = ["#3f51b5" if label.startswith("sdk") else "#9e9e9e" for label in labels]
    bars = ax.barh(labels, values, color=colours)
    ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], padding=3, fontsize=8)
    ax.set_title(title, fontsize=10, loc="left")
    ax.set_xlabel(unit, fontsize=9)
    ax.invert_yaxis()
    ax.margins(x=0.15)
    ax.tick_params(labelsize=8)


def _summary(scenario: str) -> dict[str, dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = (
        latest_run()["scenarios"].get(scenario, {}).get("summary", {})
    )
    return {k: v for k, v in summary.items() if isinstance(v, dict) and v.get("rounds_ok")}


def draw(name: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "zyntro"  # the same input draws the same file
    if name in ("throughput", "cpu"):
        key, unit = (
            ("ok_rps", "requests/s")
            if name == "throughput"
            else (
                "cpu_us_per_req",
                "client CPU µs per request",
            )
        )
        scenarios = [s for s in ("a", "b") if _summary(s)]
        figure, axes = plt.subplots(
            1, len(scenarios), figsize=(9, 3.2), squeeze=False, layout="constrained"
        )
        for ax, scenario in zip(axes[0], scenarios, strict=True):
            summary = _summary(scenario)
            labels = [label for label in summary if summary[label].get(key) is not None]
            title = f"({scenario}) " + ("no latency" if scenario == "a" else "20 ms latency")
            _bars(ax, labels, [summary[label][key] for label in labels], unit=unit, title=title)
    elif name == "faults":
        scenarios = [s for s in ("c", "e", "f") if _summary(s)]
        figure, axes = plt.subplots(
            1, len(scenarios), figsize=(9, 2.8), squeeze=False, layout="constrained"
        )
        titles = {"c": "(c) 10 % transient faults", "e": "(e) journal=", "f": "(f) 5 % 429"}
        for ax, scenario in zip(axes[0], scenarios, strict=True):
            summary = _summary(scenario)
            labels = list(summary)
            values = [summary[label]["ok_rps"] for label in labels]
            _bars(ax, labels, values, unit="ok items/s", title=titles[scenario])
    elif name == "quota":
        summary = _summary("g")
        figure, ax = plt.subplots(figsize=(9, 2.6))
        labels = list(summary)
        _bars(
            ax,
            labels,
            [summary[label]["ok_rps"] for label in labels],
            unit="ok requests/s (dashes: the quota)",
            title="(g) a per-key quota of 500 and 1,000 requests/s",
        )
        for i, label in enumerate(labels):
            quota = summary[label].get("quota")
            if quota:
                ax.plot([quota, quota], [i - 0.4, i + 0.4], "k--", linewidth=1)
    else:
        raise ValueError(name)
    data = _svg(figure)
    plt.close(figure)
    return data


def _run_line() -> str:
    run = latest_run()
    machine = run.get("machine", {})
    load = run.get("load_average") or []
    return (
        f"Measured {run.get('started', '?')[:16].replace('T', ' ')} UTC on "
        f"{machine.get('cpu_model', '?')}, {machine.get('cores', '?')} cores, "
        f"{machine.get('python', '?')}, aiohttp {machine.get('aiohttp', '?')}, "
        f"zyntro_async {machine.get('zyntro_async', '?')}; the run took "
        f"{run.get('duration_s', 0):.0f} s, load average "
        f"{', '.join(f'{x:.1f}' for x in load) or '?'} "
        f"(`benchmarks/results/{run['_file']}`).\n"
    )


def _targets() -> str:
    rows = ["| target | measured | |", "|---|---|---|"]
    for target in latest_run().get("targets", []):
        result = target.get("result", "")
        mark = "**miss**" if result == "MISS" else result.lower()
        measured = str(target.get("measured", "")).replace("|", "\\|")
        rows.append(f"| {target.get('target', '')} | {measured} | {mark} |")
    return "\n".join(rows) + "\n"


def _scenarios() -> str:
    out = []
    for key, scenario in latest_run().get("scenarios", {}).items():
        summary = _summary(key)
        out += [f"**{scenario.get('title', key)}**", ""]
        out += ["| variant | ok/s | CPU µs/request | failed | rounds |", "|---|---|---|---|---|"]
        for label, figures in summary.items():
            cpu = figures.get("cpu_us_per_req")
            out.append(
                f"| `{label}` | {figures.get('ok_rps', 0):,.0f} | "
                f"{'' if cpu is None else f'{cpu:,.0f}'} | {figures.get('failed', 0)} | "
                f"{figures.get('rounds_ok')} |"
            )
        out.append("")
    return "\n".join(out)


GENERATORS = {"bench-run": _run_line, "bench-targets": _targets, "bench-scenarios": _scenarios}


def on_files(files: Files, config: Any) -> Files:
    for name in PLOTS:
        files.append(File.generated(config, f"img/bench-{name}.svg", content=draw(name)))
    return files


def on_page_markdown(markdown: str, **_: Any) -> str:
    def expand(match: re.Match[str]) -> str:
        generate = GENERATORS.get(match.group(1))
        return match.group(0) if generate is None else generate()

    return MARKER.sub(expand, markdown)
