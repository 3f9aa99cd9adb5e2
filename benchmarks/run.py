"""``python -m benchmarks``: the command line, the results files and the run's outline.

The plan (``_plan``) says which scenarios run with which variants; the runner
(``_runner``) runs them, one worker process per run against a pooled sandbox server;
the statistics (``_stats``) summarise each scenario's rounds; the targets
(``_targets``) judge them, one table of rows; the report (``_report``) prints the tables,
a PASS/MISS line per target as each scenario ends and a summary at the end. Options:
``--help`` and README.md.

Results go to ``benchmarks/results/results-<UTC stamp>[-<label>].json`` (machine,
parameters, every run's numbers, the targets), where the label is ``quick``, a partial
run's scenario keys or ``--label``'s; the Markdown to ``latest.md`` (the last full run),
``latest-quick.md``, ``latest-<keys>.md``, or beside a labelled run's JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ._common import (
    CONCURRENCY,
    RESULTS_DIR,
    ROOT,
    available_cpus,
    machine,
    sdk_digest,
    uvloop_available,
)
from ._plan import (
    ALL_KEYS,
    FAULT_MIX,
    H_DEADLINE,
    H_HARD_TIMEOUT,
    H_ITEMS,
    H_SCRIPT,
    LATENCY,
    LONG_RETRY_AFTER,
    QUOTAS,
    RATE_LIMIT_MIX,
    SIZES,
    Plan,
    Scenario,
    Variant,
    build_plan,
)
from ._report import render, scenario_table, summary_lines, verdict_lines
from ._runner import ServerPool, WorkerLauncher, load_average, run_scenario
from ._stats import summarize
from ._targets import evaluate_targets, scenario_targets


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
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3, quick 2)")
    parser.add_argument(
        "--quota-rounds",
        type=int,
        default=None,
        help="rounds of g, paced by the quota (default 2, quick 1)",
    )
    parser.add_argument(
        "--comparator-rounds",
        type=int,
        default=1,
        help="rounds in which the variants no target uses run (aiometer, httpx, sequential, "
        "sdk_uvloop, raw in c/e/f, the c=256 pair in e; default 1)",
    )
    parser.add_argument(
        "-n",
        type=int,
        default=None,
        help=f"requests per run in a and b, half that in e, twice that in c and f (default "
        f"{SIZES['n'][0]})",
    )
    parser.add_argument(
        "--memory-n",
        type=int,
        default=None,
        help=f"items in scenario d (default {SIZES['memory_n'][0]:,}; --full: 1,000,000)",
    )
    parser.add_argument(
        "--quota-n",
        type=int,
        default=None,
        help=f"adds per run in scenario g (default {SIZES['quota_n'][0]})",
    )
    parser.add_argument(
        "--memory-server",
        choices=("lean", "sandbox"),
        default="lean",
        help="d's server: the sandbox's answers from a minimal front end storing nothing "
        "(default), or the sandbox itself (about 4,000 answers/s, holds every profile)",
    )
    parser.add_argument(
        "--memory-loop",
        choices=("uvloop", "asyncio"),
        default="uvloop" if uvloop_available() else "asyncio",
        help="d's client event loop (default uvloop when installed: d is a memory figure)",
    )
    parser.add_argument(
        "--spawn",
        action="store_true",
        help="start each worker as a new interpreter (imports included) instead of forking "
        "it from benchmarks.launcher",
    )
    parser.add_argument(
        "--fresh-servers",
        action="store_true",
        help="start a fresh server for every run instead of resetting a pooled one",
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
        "--full", action="store_true", help="scenario d over 1,000,000 items (a few minutes)"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke check: seconds, not minutes")
    parser.add_argument(
        "--time-limit",
        type=float,
        default=None,
        help="seconds per run (default 10, quick 3; c, f: 3x; g, h, d: their own)",
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
        "--label",
        "--name",
        default=None,
        metavar="LABEL",
        help="write results-<stamp>-LABEL.json and .md next to it, not latest*.md (for a run "
        "that must not pass for the current figures, such as an --sdk-path run)",
    )
    parser.add_argument(
        "--render",
        type=Path,
        default=None,
        metavar="RESULTS_JSON",
        help="run nothing: rebuild the tables of a saved results-*.json (and its .md)",
    )
    return parser


STAMP = "%Y%m%dT%H%M%SZ"
RESULTS_NAME = re.compile(r"^results-(\d{8}T\d{6}Z)(?:-([A-Za-z0-9_.-]+))?\.json$")
LABEL = re.compile(r"^[A-Za-z0-9_.-]+$")


def run_label(keys: list[str], *, quick: bool, label: str | None) -> str | None:
    """The results file's label: the user's, ``quick``, a partial run's scenario keys, or
    none for a full run."""
    if label:
        return label
    if quick:
        return "quick"
    if sorted(keys) != sorted(ALL_KEYS):
        return "".join(sorted(keys))
    return None


def markdown_path(json_path: Path, keys: list[str], *, quick: bool, label: str | None) -> Path:
    """``latest.md`` holds the last full run, ``latest-quick.md`` the last quick one and
    ``latest-<keys>.md`` the last partial one; a labelled run's Markdown sits next to it."""
    if label:
        return json_path.with_suffix(".md")
    if quick:
        return json_path.parent / "latest-quick.md"
    if sorted(keys) == sorted(ALL_KEYS):
        return json_path.parent / "latest.md"
    return json_path.parent / f"latest-{''.join(sorted(keys))}.md"


def _user_label(path: Path, keys: list[str]) -> str | None:
    """A saved file's label when the user chose it (not ``quick``, not its scenarios)."""
    match = RESULTS_NAME.match(path.name)
    if match is None:
        return path.stem  # not named by date: treat it as labelled, its .md beside it
    label = match.group(2)
    return None if label in (None, "quick", "".join(sorted(keys))) else label


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
            sample_rss=0.5 if key == "d" else 0.0,
            lean=res.get("lean_server", False),
            settle=res.get("settle_s", 1.0 if key == "g" else 0.0),  # older files: 1 s
            client_loop=res.get("client_loop"),
        )
        res["summary"] = summarize(res["runs"], scenario.reference)
        res["table"] = scenario_table(
            scenario, res["summary"], res.get("comparator_rounds", 99), res.get("load_average")
        )
    targets = evaluate_targets(results)
    text = render(data, results, targets)
    print(text)
    if save:
        data["targets"] = targets
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        keys = list(results)
        quick = bool(data.get("parameters", {}).get("quick"))
        md_path = markdown_path(path, keys, quick=quick, label=_user_label(path, keys))
        md_path.write_text(text, encoding="utf-8")
        print(f"wrote {md_path}")
    return 0


def _add_table(plan: Plan, scenario: Scenario, results: dict[str, dict[str, Any]]) -> None:
    res = results[scenario.key]
    res["table"] = scenario_table(
        scenario, res["summary"], plan.comparator_rounds, res["load_average"]
    )


def _on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # run the cleanups (servers, workers) like Ctrl-C


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.label is not None and not LABEL.match(args.label):
        print("--label: letters, digits, '.', '_' and '-' only", file=sys.stderr)
        return 2
    if args.render is not None:
        return render_saved(args.render, save=not args.no_save)
    if args.uvloop and not uvloop_available():
        print("--uvloop: uvloop is not installed", file=sys.stderr)
        return 2
    plan = build_plan(args)
    signal.signal(signal.SIGTERM, _on_sigterm)
    cpus = available_cpus()
    client_cpus = set(cpus[1:]) if plan.pin else None
    started = datetime.now(timezone.utc)
    load_at_start = load_average()
    meta: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "server_loop": "uvloop" if uvloop_available() else "asyncio",
        "client_loop": "uvloop" if plan.uvloop else "asyncio",
        "client_loops": {s.key: s.client_loop for s in plan.scenarios if s.client_loop},
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
            "comparator_rounds": plan.comparator_rounds,
            "reuse_servers": plan.reuse_servers,
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
    pool = ServerPool(plan, cpus[0] if plan.pin else None)
    try:
        with pool, WorkerLauncher(plan, client_cpus, fork=not args.spawn) as launcher:
            meta["worker_start"] = launcher.mode
            for scenario in plan.scenarios:
                run_scenario(plan, scenario, pool, launcher, results)
                _add_table(plan, scenario, results)
                for line in verdict_lines(scenario_targets(scenario.key, results)):
                    print(line, flush=True)
                print(
                    f"  ({scenario.key}) took {results[scenario.key]['duration_s']:.0f} s",
                    flush=True,
                )
    except KeyboardInterrupt:
        print("\ninterrupted: servers and workers stopped; partial results follow", flush=True)
        for scenario in plan.scenarios:  # the scenario interrupted has no table yet
            if scenario.key in results and "table" not in results[scenario.key]:
                _add_table(plan, scenario, results)
    meta["servers_started"] = pool.started
    meta["load_average"] = [load_at_start, load_average()]
    meta["duration_s"] = round(time.monotonic() - t0, 1)
    meta["sdk_digest_at_end"] = sdk_digest()
    meta["sdk_digests_measured"] = sorted(
        {r["sdk_digest"] for res in results.values() for r in res["runs"] if "sdk_digest" in r}
    )
    targets = evaluate_targets(results)
    text = render(meta, results, targets)
    print("\n" + text)
    for line in summary_lines(meta, results, targets):
        print(line, flush=True)
    if args.no_save or not results:
        return 0
    out_dir: Path = args.output_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    keys = [s.key for s in plan.scenarios]
    label = run_label(keys, quick=plan.quick, label=args.label)
    data = {**meta, "scenarios": results, "targets": targets}
    json_path = out_dir / f"results-{started:{STAMP}}{'-' + label if label else ''}.json"
    json_path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    md_path = markdown_path(json_path, keys, quick=plan.quick, label=args.label)
    md_path.write_text(text, encoding="utf-8")
    print(f"wrote {json_path.relative_to(ROOT) if json_path.is_relative_to(ROOT) else json_path}")
    print(f"wrote {md_path.relative_to(ROOT) if md_path.is_relative_to(ROOT) else md_path}")
    return 0
