"""The benchmark runner behind ``python -m benchmarks`` (options: ``--help``, README.md).

For every scenario, round and variant it runs one worker process (forked by
``benchmarks.launcher``, pinned to the client CPUs) that prints one JSON line, against a
sandbox server (``benchmarks.server``, pinned to the first CPU) of that variant's
configuration: one server per configuration, reset between runs to a fresh server's
state (``--fresh-servers``: a new one per run). Variants alternate within each round
(A B C A B C ...); variants no target uses run in the first ``--comparator-rounds``
rounds only. It prints a table per scenario with ratios to its baseline (``raw``; the
SDK's own fault-free rate in c and f; the server's quota in g), PASS/MISS per target and
the time taken as each scenario ends, a summary at the end, and writes
``benchmarks/results/results-<stamp>.json`` (machine, parameters, every run's numbers)
and ``benchmarks/results/latest.md`` (the tables).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs

from ._common import (
    CONCURRENCY,
    RESULTS_DIR,
    ROOT,
    ServerInfo,
    available_cpus,
    machine,
    reset_server,
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
#: g's rest between warm-up and timed part: the bucket (10 % of the rate) refills in 0.1 s.
QUOTA_SETTLE = 0.3
#: A pooled server's lifetime bound (it also exits when the runner goes away).
SERVER_MAX_SECONDS = 4 * 3600.0
IDEAL_RPS = CONCURRENCY / LATENCY  # Little's law: 64 in flight / 20 ms
#: Issue 15's targets: (a) the SDK's CPU per request at most the raw loop's; (e) the
#: journal's throughput cost at most 5 %; (d) RSS growth under 64 MiB over 1M items.
A_MAX_CPU_RATIO = 1.00
E_MAX_COST = 0.05
D_MAX_GROWTH_MIB = 64.0
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
    #: Requests per run, when not the scenario's (the slow comparators, d's reference).
    n: int | None = None
    #: Context, not a target: runs only in the first ``--comparator-rounds`` rounds.
    comparator: bool = False

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
    #: Serve from ``benchmarks.server --lean`` (d: the sandbox's answers, nothing stored).
    lean: bool = False
    #: The clients' event loop when not the plan's (d: uvloop, a memory figure).
    client_loop: str | None = None

    @property
    def labels(self) -> list[str]:
        return [v.label for v in self.variants]

    def runs_in(self, variant: Variant, round_no: int, comparator_rounds: int) -> bool:
        return not variant.comparator or round_no < comparator_rounds


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
    comparator_rounds: int = 1
    reuse_servers: bool = True


#: Sizes per run, full run / --quick. Chosen for the 5-minute (full) and 60-second
#: (quick) budgets on 2 cores; README.md "Where the time goes" has the arithmetic.
SIZES = {
    "n": (5000, 1000),  # a and b: raw, sdk, aiometer, sdk_uvloop
    "n_half": (2500, 500),  # c, f, e
    # a and b: ~5 ms of CPU per request once its pool settles, 2-2.5x that over its first
    # few hundred requests: fewer than ~1,000 after the warm-up would not be its cost.
    "httpx": (1000, 100),
    "sequential_a": (500, 100),
    "sequential_b": (50, 25),  # one request per 20 ms
    "quota_n": (5000, 1000),  # g: 10 s at 500/s; fewer would shift the verdict (README)
    "memory_n": (200_000, 2000),  # d: what fits in the budget next to a..h; --full: 1M
    "memory_reference_n": (25_000, 2000),  # d's raw: context, not the target
}
FULL_MEMORY_N = 1_000_000


def _size(name: str, quick: bool) -> int:
    return SIZES[name][1 if quick else 0]


def build_plan(args: argparse.Namespace) -> Plan:
    quick, full = args.quick, args.full
    rounds = args.rounds if args.rounds is not None else (2 if quick else 3)
    quota_rounds = args.quota_rounds if args.quota_rounds is not None else (1 if quick else 2)
    limit = args.time_limit if args.time_limit is not None else (3.0 if quick else 10.0)
    n = args.n if args.n is not None else _size("n", quick)
    n_half = max(1, n // 2) if args.n is not None else _size("n_half", quick)
    n_memory = FULL_MEMORY_N if full else _size("memory_n", quick)
    if args.memory_n is not None:
        n_memory = args.memory_n
    n_memory_reference = min(n_memory, _size("memory_reference_n", quick))
    # The SDK sustains a few thousand items/s: a bound for a run that stalls, not a pace.
    memory_limit = max(limit, n_memory / 500.0 + 30.0)
    latency = f"latency={LATENCY:g}"
    quota_n = args.quota_n if args.quota_n is not None else _size("quota_n", quick)
    warmup = args.warmup if args.warmup is not None else (32 if quick else 256)

    def five_way(n_sequential: int) -> list[Variant]:
        return [
            Variant("raw"),
            Variant("sdk"),
            Variant("aiometer", comparator=True),
            Variant("httpx", n=min(n, _size("httpx", quick)), comparator=True),
            Variant("sequential", n=n_sequential, warmup=min(warmup, 16), comparator=True),
            # uvloop's effect, reported apart: never in a ratio with the asyncio runs.
            Variant("sdk_uvloop", "sdk", args=["--uvloop"], comparator=True),
        ]

    def with_reference() -> list[Variant]:
        """raw (no retries), the SDK against a fault-free server, the SDK against faults."""
        return [
            Variant("raw", comparator=True),
            Variant("sdk_clean", "sdk", faults=latency),
            Variant("sdk"),
        ]

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
    n_seq_a, n_seq_b = _size("sequential_a", quick), _size("sequential_b", quick)
    all_scenarios = {
        "a": Scenario(
            "a",
            f"(a) zero server latency, concurrency {CONCURRENCY}: CPU-bound",
            "",
            five_way(min(n, n_seq_a)),
            n,
            rounds,
            limit,
            n_sequential=min(n, n_seq_a),
            census=False,
        ),
        "b": Scenario(
            "b",
            f"(b) {LATENCY * 1000:g} ms server latency, concurrency {CONCURRENCY}: latency-bound",
            latency,
            five_way(min(n, n_seq_b)),
            n,
            rounds,
            limit,
            n_sequential=min(n, n_seq_b),
            census=False,
        ),
        "c": Scenario(
            "c",
            "(c) (b) plus 10 % transient faults (500, 502 HTML, drop after commit, 429/503 "
            "asking no wait): the SDK vs its own fault-free rate",
            f"{latency},{FAULT_MIX}",
            with_reference(),
            n_half,
            rounds,
            limit * 2,
            reference="sdk_clean",
        ),
        "f": Scenario(
            "f",
            "(f) (b) plus 5 % 429 with Retry-After: 0: the SDK vs its own fault-free rate",
            f"{latency},{RATE_LIMIT_MIX}",
            with_reference(),
            n_half,
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
            quota_rounds,
            max(v.time_limit or 0.0 for v in quota_variants),
            reference="",
            settle=QUOTA_SETTLE,
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
            f"(d) memory: a lazy generator of {n_memory:,} items through the SDK, zero "
            f"server latency",
            "",
            [Variant("raw", n=n_memory_reference), Variant("sdk")],
            n_memory,
            args.memory_rounds,
            memory_limit,
            sample_rss=0.5,
            census=False,
            lean=args.memory_server == "lean",
            client_loop=args.memory_loop,
        ),
        "e": Scenario(
            "e",
            f"(e) SDK with journal= (SQLite temp file) vs without, {LATENCY * 1000:g} ms latency",
            latency,
            [
                Variant("raw", comparator=True),
                Variant("sdk"),
                Variant("sdk_journal"),
                # The journaled items/s at concurrency 256 (256 connections).
                Variant("sdk_c256", "sdk", args=["--concurrency", "256"], comparator=True),
                Variant(
                    "sdk_journal_c256",
                    "sdk_journal",
                    args=["--concurrency", "256"],
                    comparator=True,
                ),
            ],
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
        comparator_rounds=args.comparator_rounds,
        reuse_servers=not args.fresh_servers,
    )


# ------------------------------------------------------------------------------ running


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


def scenario_table(
    scenario: Scenario,
    summary: dict[str, dict[str, Any]],
    comparator_rounds: int = 1,
    load: list[float | None] | None = None,
) -> list[str]:
    raw = summary.get("raw", {})
    lines = [f"### {scenario.title}", ""]
    n_note = f"{scenario.n:,} requests per run"
    own_n = [
        f"{v.n:,} for `{v.label}`"
        for v in scenario.variants
        if v.n is not None and v.n != scenario.n
    ]
    if own_n:
        n_note += f" ({', '.join(own_n)})"
    elif scenario.n_sequential:  # a results file from before per-variant sizes
        n_note += f" ({scenario.n_sequential:,} for `sequential`)"
    rounds_note = f"{scenario.rounds} round(s), medians"
    comparators = [f"`{v.label}`" for v in scenario.variants if v.comparator]
    if comparators and comparator_rounds < scenario.rounds:
        rounds_note += (
            f" ({', '.join(comparators)}: context for no target, "
            f"{comparator_rounds} round{'s' if comparator_rounds != 1 else ''})"
        )
    lines.append(f"{n_note}; {rounds_note}; faults: `{scenario.faults or 'none'}`.")
    if load and None not in load:
        lines[-1] += (
            f" Machine load (1-min average, all processes) {load[0]:.1f} before, "
            f"{load[1]:.1f} after."
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
            f"within the burst and rests {scenario.settle:g} s (the bucket refills in 0.1 s) "
            "so the timed part starts with a full bucket.",
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
        server = (
            "`benchmarks.server --lean` (the sandbox's rules and answer bytes from a minimal "
            "HTTP front end that stores nothing)"
            if scenario.lean
            else "the sandbox (it holds every profile)"
        )
        lines += [
            f"Clients on **{scenario.client_loop or 'asyncio'}**: a memory figure, not a "
            f"ratio (req/s and CPU here are not comparable with a and b). Server: {server}. "
            "Peak growth = the highest RSS during the timed part (sampled every "
            f"{scenario.sample_rss:g} s, and `ru_maxrss`) minus the RSS right before it.",
            "",
        ]
        header = [
            "variant",
            "items",
            "failed",
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
                    f"{s['failed']:,}",
                    _fmt(s["rps"]),
                    _fmt(s["rss_before_kib"] / MIB, ".1f"),
                    _fmt(s["rss_growth_peak_kib"] / MIB, ".1f"),
                    _growth_ratio(s, raw)
                    if s["done"] // s["rounds_ok"] == raw.get("done", 0) // raw.get("rounds_ok", 1)
                    else "n/a (other size)",
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
                f"(a) SDK CPU/request ≤ {A_MAX_CPU_RATIO:.2f}x raw",
                _x(ratio) + rounds("sdk", "cpu_us_per_req"),
                None if ratio is None else ratio <= A_MAX_CPU_RATIO,
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
        per_item, ref_per_item = get("sdk", "server_per_item"), get("sdk_clean", "server_per_item")
        if ratio is not None and per_item and ref_per_item:
            # Every extra request a fault costs (a re-send, a reconcile look) takes a slot for
            # a round trip: at the same concurrency ok/s cannot exceed 1 / requests per item.
            measured += (
                f"; ceiling at this fault mix 1 ÷ {per_item:.3f} server requests/item = "
                f"{_x(ref_per_item / per_item)}; server requests/s "
                f"{_x(ratio * per_item / ref_per_item)} of fault-free"
            )
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
        sdk_d = summary.get("sdk", {})
        growth = get("sdk", "rss_growth_peak_kib")
        n_items = res.get("n")
        done = sdk_d["done"] // sdk_d["rounds_ok"] if sdk_d.get("rounds_ok") else None
        # Below 1M items the same budget per item (a leak grows with the items; a fixed
        # cost makes this stricter than the target, never looser). Not an extrapolation:
        # the 1M figure itself comes from `--scenario d --full`.
        limit = D_MAX_GROWTH_MIB * min(1.0, (done or FULL_MEMORY_N) / FULL_MEMORY_N)
        measured = _fmt(None if growth is None else growth / MIB, ".1f", " MiB")
        ok = None if growth is None else growth / MIB < limit
        if done is not None:
            measured += f" over {done:,} items"
            if n_items and done < n_items:
                measured += f" of {n_items:,} (the run stopped early)"
                ok = False
            elif done < FULL_MEMORY_N:
                measured += (
                    f" (< {limit:.1f} MiB asked: the same budget per item; the 1M figure is "
                    "`--scenario d --full`)"
                )
            if sdk_d.get("failed"):
                measured += f", {sdk_d['failed']:,} failed"
        out.append(
            _target(
                key,
                f"(d) SDK peak RSS growth < {D_MAX_GROWTH_MIB:g} MiB for 1M items",
                measured,
                ok,
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
                f"(e) journal= costs ≤ {E_MAX_COST * 100:.0f} % throughput",
                _fmt(None if cost is None else (1 - cost) * 100, ".0f", " % slower") + e_rounds,
                None if cost is None else cost >= 1 - E_MAX_COST,
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


def _loop_exceptions(meta: dict[str, Any]) -> str:
    """`` (d on uvloop)`` when a scenario's clients ran on another loop than the rest."""
    other = {
        key: loop
        for key, loop in (meta.get("client_loops") or {}).items()
        if loop != meta["client_loop"]
    }
    if not other:
        return ""
    return " (" + ", ".join(f"{key} on {loop}" for key, loop in other.items()) + ")"


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
        f"{_loop_exceptions(meta)}"
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
        help=f"requests per run in a and b, half that in c, e, f (default {SIZES['n'][0]})",
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
        help="seconds per run (default 10, quick 3; c, f: 2x; g, h, d: their own)",
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
        md_path = path.parent / _latest_name(list(results), quick="-quick" in path.name)
        if not path.name.startswith("results-"):  # a --name run: its own .md next to it
            md_path = path.with_suffix(".md")
        md_path.write_text(text, encoding="utf-8")
        print(f"wrote {md_path}")
    return 0


def run_scenario(
    plan: Plan,
    scenario: Scenario,
    pool: ServerPool,
    launcher: WorkerLauncher,
    results: dict[str, dict[str, Any]],
) -> None:
    """Every round of ``scenario``, variants alternating, into ``results[scenario.key]``
    (also when interrupted: the runs done so far are results)."""
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
                "table": scenario_table(
                    scenario, summary, plan.comparator_rounds, [load_before, load_average()]
                ),
                "duration_s": round(time.monotonic() - started, 1),
                "load_average": [load_before, load_average()],
            }


def summary_lines(
    meta: dict[str, Any], results: dict[str, dict[str, Any]], targets: list[dict[str, Any]]
) -> list[str]:
    """The end of the output: time per scenario, every verdict, the count."""
    counts = Counter(t["result"] for t in targets)
    took = ", ".join(f"({key}) {res['duration_s']:.0f} s" for key, res in results.items())
    tally = ", ".join(f"{counts[k]} {k}" for k in ("PASS", "MISS", "n/a") if counts[k])
    return [
        "",
        f"Summary: {tally or 'no targets'}; {meta['duration_s']:.0f} s in all "
        f"({meta.get('servers_started', '?')} server starts): {took}",
        *verdict_lines(targets),
    ]


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
                for line in verdict_lines(scenario_targets(scenario.key, results)):
                    print(line, flush=True)
                print(
                    f"  ({scenario.key}) took {results[scenario.key]['duration_s']:.0f} s",
                    flush=True,
                )
    except KeyboardInterrupt:
        print("\ninterrupted: servers and workers stopped; partial results follow", flush=True)
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
