"""Running a plan: the server pool, the worker launcher, one run, one scenario's rounds.

Each run is one worker process (forked by ``benchmarks.launcher``, pinned to the client
CPUs) that prints one JSON line, against a sandbox server (``benchmarks.server``, pinned
to the first CPU) of that variant's configuration: one server per configuration, reset
between runs to a fresh server's state (``--fresh-servers``: a new one per run).
Variants alternate within each round (A B C A B C ...); variants no target uses run in
the first ``--comparator-rounds`` rounds only.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import attrs

from ._common import (
    CONCURRENCY,
    ROOT,
    ServerInfo,
    available_cpus,
    reset_server,
    sandbox_server,
    stop_process,
)
from ._plan import SERVER_MAX_SECONDS, Plan, Scenario, Variant
from ._stats import MIB, summarize


def load_average() -> float | None:
    """The machine's 1-minute load average (all processes, others' included), or None."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _affinity(cpus: set[int] | None) -> Callable[[], None] | None:
    if not cpus or not hasattr(os, "sched_setaffinity"):
        return None

    def pin() -> None:
        os.sched_setaffinity(0, cpus)

    return pin


class ServerPool:
    """Sandbox servers by configuration, reused across runs (``--fresh-servers``: not).

    A server's state after a run is the profiles it stored (the sandbox keeps all of
    them), its counters, its fault dice's position and its quota buckets. Before every
    run the pool has the server forget its profiles and collect its garbage
    (``POST /reset``), so each run meets the heap a fresh server has; counters are read
    as differences by the workers; the dice are random either way (a fresh server only
    replays the same draws); a bucket refills within 0.1 s, less than a worker takes to
    start. A server with scripted answers (h) counts requests from its start: never
    reused. If a reset fails, that run gets a fresh server.
    """

    def __init__(self, plan: Plan, server_cpu: int | None) -> None:
        self._plan = plan
        self._cpu = server_cpu
        self._stack = contextlib.ExitStack()
        self._servers: dict[tuple[str, bool], ServerInfo] = {}
        self.started = 0

    def __enter__(self) -> ServerPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()

    def _start(self, stack: contextlib.ExitStack, faults: str, scenario: Scenario) -> ServerInfo:
        self.started += 1
        return stack.enter_context(
            sandbox_server(
                contacts=self._plan.contacts,
                seed=self._plan.seed,
                faults=faults,
                scripts=scenario.scripts,
                lean=scenario.lean,
                cpu=self._cpu,
                max_seconds=SERVER_MAX_SECONDS,
            )
        )

    @contextlib.contextmanager
    def server(self, scenario: Scenario, faults: str) -> Iterator[ServerInfo]:
        key = (faults, scenario.lean)
        if not self._plan.reuse_servers or scenario.scripts:
            with contextlib.ExitStack() as stack:
                yield self._start(stack, faults, scenario)
            return
        server = self._servers.get(key)
        if server is not None and not reset_server(server):
            server = None  # it cannot start clean: a fresh one (the old one stays up, idle)
        if server is None:
            server = self._servers[key] = self._start(self._stack, faults, scenario)
        yield server


class WorkerLauncher:
    """Starts each run's worker: forked by ``benchmarks.launcher`` (imports done once), or
    spawned as ``python -m benchmarks.worker`` (``--spawn``, or where fork is missing).

    Either way one new process per run, pinned to the client CPUs, with the server's
    environment; the forked one starts in milliseconds instead of ~0.4 s of imports.
    """

    def __init__(self, plan: Plan, client_cpus: set[int] | None, *, fork: bool) -> None:
        self._plan = plan
        self._cpus = client_cpus
        self._proc: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._dir = tempfile.TemporaryDirectory(prefix="zyntro-bench-runs-")
        self.digest: str | None = None
        self.mode = "spawn"
        if fork and hasattr(os, "fork"):
            self._start()

    def _start(self) -> None:
        env = {**os.environ}
        env.pop("BENCH_SDK_PATH", None)
        if self._plan.sdk_path:
            env["BENCH_SDK_PATH"] = self._plan.sdk_path
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.launcher"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=_affinity(self._cpus),
        )
        self._proc = proc

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                self._lines.put(line)
            self._lines.put(None)

        threading.Thread(target=read, name="launcher-reader", daemon=True).start()
        ready = self._next(60.0)
        if ready is None or not ready.get("ready"):
            self.close()
            print("  (worker launcher did not start: spawning workers instead)", flush=True)
            return
        self.digest = ready.get("sdk_digest")
        self.mode = "fork"

    def _next(self, timeout: float | None) -> dict[str, Any] | None:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            return None
        return None if line is None else dict(json.loads(line))

    def close(self) -> None:
        if self._proc is not None:
            stop_process(self._proc)
            self._proc = None
        self._dir.cleanup()

    def __enter__(self) -> WorkerLauncher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def run(
        self, argv: list[str], env: dict[str, str], timeout: float
    ) -> tuple[int | None, str, str]:
        """Run one worker: (return code, or None if it was killed on ``timeout``; stdout;
        stderr)."""
        if self._proc is None:
            return self._spawn(argv, env, timeout)
        out_path = os.path.join(self._dir.name, "stdout")
        err_path = os.path.join(self._dir.name, "stderr")
        request = {"argv": argv, "env": env, "stdout": out_path, "stderr": err_path}
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(request) + "\n")
        self._proc.stdin.flush()
        started = self._next(30.0)
        if started is None or "pid" not in started:
            raise RuntimeError("the worker launcher stopped answering")
        pid = int(started["pid"])
        ended = self._next(timeout)
        code: int | None
        if ended is None:  # overran: kill that worker (our launcher's child), then collect
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self._next(30.0)
            code = None
        else:
            code = int(ended["returncode"])
        with open(out_path, encoding="utf-8") as out, open(err_path, encoding="utf-8") as err:
            return code, out.read(), err.read()

    def _spawn(
        self, argv: list[str], env: dict[str, str], timeout: float
    ) -> tuple[int | None, str, str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.worker", *argv],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_affinity(self._cpus),
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, "", ""
        finally:
            stop_process(proc)
        return proc.returncode, out, err


def run_one(
    plan: Plan,
    scenario: Scenario,
    spec: Variant,
    round_no: int,
    pool: ServerPool,
    launcher: WorkerLauncher,
) -> dict[str, Any]:
    """One worker process against a server from ``pool``; its JSON plus where it ran."""
    cpus = available_cpus()
    server_cpu = cpus[0] if plan.pin else None
    client_cpus = set(cpus[1:]) if plan.pin else None
    n = spec.n if spec.n is not None else scenario.n
    warmup = spec.warmup if spec.warmup is not None else plan.warmup
    time_limit = spec.time_limit or scenario.time_limit
    argv = [
        spec.worker,
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
    if plan.uvloop or scenario.client_loop == "uvloop":
        argv.append("--uvloop")
    if scenario.sample_rss:
        argv += ["--sample-rss", str(scenario.sample_rss)]
    if scenario.settle:
        argv += ["--settle", str(scenario.settle)]
    if scenario.hard_timeout:
        argv += ["--hard-timeout", str(scenario.hard_timeout)]
    if scenario.census:
        argv.append("--census")
    if scenario.completion_times:
        argv.append("--completion-times")
    started = time.monotonic()
    faults = spec.faults if spec.faults is not None else scenario.faults
    with pool.server(scenario, faults) as server:
        ready = time.monotonic()
        env = {**os.environ, **server.env, "BENCH_SERVER_PID": str(server.pid)}
        env.pop("BENCH_SDK_PATH", None)
        if plan.sdk_path:
            env["BENCH_SDK_PATH"] = plan.sdk_path
        code, out, err = launcher.run(argv, env, timeout=time_limit + 180)
    if code is None:
        return _failed_run(spec.label, scenario, round_no, "worker timed out and was killed")
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if code != 0 or not lines:
        return _failed_run(spec.label, scenario, round_no, f"exit {code}: {err.strip()[-1500:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    result["worker_variant"] = result["variant"]
    result["variant"] = spec.label
    result["quota"] = spec.quota
    result["round"] = round_no
    result["wall_with_startup_s"] = round(time.monotonic() - started, 2)
    result["server_wait_s"] = round(ready - started, 2)
    result["worker_start"] = launcher.mode
    result["server_cpu"] = server_cpu
    result["client_cpus"] = sorted(client_cpus) if client_cpus else None
    return result


def _failed_run(variant: str, scenario: Scenario, round_no: int, error: str) -> dict[str, Any]:
    return {"variant": variant, "scenario": scenario.key, "round": round_no, "error": error}


def _progress(scenario: Scenario, r: dict[str, Any], rounds: int) -> str:
    head = f"  [{scenario.key} round {r['round'] + 1}/{rounds}] {r['variant']:<16}"
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
    if r.get("steady_ok_rps"):
        extra += f"  ok/s {r['ok_rps']:.0f}, steady {r['steady_ok_rps']:.0f}"
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
        f"{r['cpu_us_per_req']:7.0f} µs CPU/req{extra}  [{_wall_note(r)}]"
    )


def _wall_note(r: dict[str, Any]) -> str:
    """The run's wall time and, when the worker says, where it went besides the timed part."""
    note = f"{r['wall_with_startup_s']:.1f} s wall"
    phases = r.get("phases_s") or {}
    if phases:
        timed = phases.get("timed") or 0.0
        other = r["wall_with_startup_s"] - timed
        note += f", {other:.1f} s around the timed part"
        if phases.get("start_and_imports") is not None:
            note += f" (start+imports {phases['start_and_imports']:.1f}"
            note += f", setup+warm-up {phases['setup_and_warmup']:.1f}"
            note += f", close {phases['stats_and_close']:.1f})"
    return note


def run_scenario(
    plan: Plan,
    scenario: Scenario,
    pool: ServerPool,
    launcher: WorkerLauncher,
    results: dict[str, dict[str, Any]],
) -> None:
    """Every round of ``scenario``, variants alternating, into ``results[scenario.key]``
    (also when interrupted: the runs done so far are results). The caller adds the table."""
    print(f"\n{scenario.title}", flush=True)
    started = time.monotonic()
    load_before = load_average()
    runs: list[dict[str, Any]] = []
    try:
        for round_no in range(scenario.rounds):
            for variant in scenario.variants:
                if scenario.runs_in(variant, round_no, plan.comparator_rounds):
                    run = run_one(plan, scenario, variant, round_no, pool, launcher)
                    print(_progress(scenario, run, scenario.rounds), flush=True)
                    runs.append(run)
    finally:
        if runs:
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
                "lean_server": scenario.lean,
                "settle_s": scenario.settle,
                "client_loop": scenario.client_loop or ("uvloop" if plan.uvloop else "asyncio"),
                "comparator_rounds": plan.comparator_rounds,
                "variants": [attrs.asdict(v) for v in scenario.variants],
                "summary": summary,
                "runs": runs,
                "duration_s": round(time.monotonic() - started, 1),
                "load_average": [load_before, load_average()],
            }
