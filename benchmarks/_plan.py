"""The benchmark's scenarios as data: sizes, server faults, variants and rounds.

``build_plan`` turns the command line into a :class:`Plan`: the scenarios chosen, each
with its variants (which worker, against which server configuration, how many requests)
and its rounds. Nothing here starts a process or measures anything.
"""

from __future__ import annotations

import argparse

import attrs

from ._common import CONCURRENCY, available_cpus

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
H_HARD_TIMEOUT = 30.0
#: c and f: ok/s is judged over the steady part of a run, between these percentiles of
#: the ok items' completion times. The first 10 % covers the intake filling the slots; the
#: last 10 % the drain, where fewer items than slots are left and the slowest items'
#: backoff (full-jitter exponential, a settle delay before a reconcile look) is the wall
#: time: a tail, not a rate. What is between is what a long run sustains.
STEADY_PERCENTILES = (10, 90)
#: g's rest between warm-up and timed part: the bucket (10 % of the rate) refills in 0.1 s.
QUOTA_SETTLE = 0.3
#: A pooled server's lifetime bound (it also exits when the runner goes away).
SERVER_MAX_SECONDS = 4 * 3600.0
IDEAL_RPS = CONCURRENCY / LATENCY  # Little's law: 64 in flight / 20 ms
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
    #: Workers record each ok item's completion time (c, f: the steady-state ok/s).
    completion_times: bool = False

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
    "n_half": (2500, 500),  # e
    # c and f: long enough that the steady part (the 10th to 90th percentile of completion
    # times, 8,000 items) lasts seconds and the tail is a small share of the run.
    "n_steady": (10_000, 1000),
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
    n_steady = 2 * n if args.n is not None else _size("n_steady", quick)
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
    low, high = STEADY_PERCENTILES
    steady = (
        f"steady-state ok/s (between the {low}th and {high}th percentile of the ok items' "
        "completion times) and over the whole run"
    )
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
            f"asking no wait): the SDK vs its own fault-free rate, {steady}",
            f"{latency},{FAULT_MIX}",
            with_reference(),
            n_steady,
            rounds,
            limit * 3,
            reference="sdk_clean",
            completion_times=True,
        ),
        "f": Scenario(
            "f",
            "(f) (b) plus 5 % 429 with Retry-After: 0: the SDK vs its own fault-free rate, "
            f"{steady}",
            f"{latency},{RATE_LIMIT_MIX}",
            with_reference(),
            n_steady,
            rounds,
            limit * 3,
            reference="sdk_clean",
            completion_times=True,
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
            f"RetryPolicy(deadline={H_DEADLINE:g}): held, probed, and the run goes on",
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
                # Journaled items/s at concurrency 256 (256 connections).
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
