"""Quotas of every shape and backend stalls, sandbox and real nginx: does the SDK converge?

Run on its own (it does not run with ``python -m benchmarks``'s eight scenarios)::

    python -m benchmarks quotas                # every scenario at full scale (10-15 min)
    python -m benchmarks quotas --small        # short runs, each bounded: 3-6 minutes
    python -m benchmarks quotas --only sb-leaky-300,nginx-300-429,stall-6
    python -m benchmarks quotas --list         # the scenario names
    python -m benchmarks.quotas ...            # the same

One client (``ZyntroClient.bulk_add_profiles``, concurrency 64 with 64 connections,
default retry policy, as a new user would run it) adds profiles against the sandbox in
its own process (``benchmarks.server``, 5 ms latency), alone or behind Debian's nginx
(``tests.gateway.nginx``: a foreground nginx in a temp directory, skipped when nginx is
not installed):

* ``sb-<shape>-<rate>``: the sandbox's quota (``Faults.quota_shape``) at 50/s and 300/s:
  ``token`` (token bucket, ``Retry-After`` and ``X-RateLimit-*``), ``leaky`` (nginx's
  ``limit_req`` as the sandbox plays it: refused at once, no headers, 429 JSON),
  ``leaky503`` (the same, 503 with an HTML page), ``sliding`` (a 1 s window that counts
  refused requests, ``Retry-After`` only), ``fixed`` (a 1 s fixed window, ``Retry-After``
  to its end, ``X-RateLimit-*``);
* ``sb-minute``: a fixed window per minute (6,000/min and 9,000 adds at full scale);
* ``nginx-<rate>-<status>``: nginx ``limit_req rate=<rate>r/s burst=<10 %> nodelay`` with
  ``limit_req_status`` 429 or 503, in front of the sandbox without a quota;
* ``stall-<s>``: nginx with ``proxy_read_timeout 1s`` in front of the sandbox, which is
  stopped (SIGSTOP) for 3, 6 or 20 s once 500 items (200 at small scale) have ended.

Each scenario prints ok/s ÷ quota (successes over the wall time), % of the requests
that were refused (counted by the server: the sandbox's quota counter or nginx's access
log), items failed, duplicates (profiles stored twice, counted by the server), and the
time to converge: from the start, the first moment after which every 1 s window of
successes until the last second holds the rate within 10 % of the quota. Stalls print
"lost" instead: items reported ok but not stored, plus items reported failed yet stored.
A PASS/MISS line follows for each target:

* quotas: ok/s >= 0.9x the quota, <= 5 % refused, 0 failed, 0 duplicates, converged
  within 10 % of the quota after <= 5 s;
* the per-minute window: every item succeeds, <= 5 % refused, 0 duplicates;
* stalls: 0 failed, 0 duplicates, 0 lost.

Every scenario is bounded in time (a collapse is cut off and reported, not waited out).
Results go to ``benchmarks/results/quotas-<UTC stamp>[-small].json`` and
``quotas-latest[-small].md`` (``--no-save``: print only).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs

from tests.gateway.backend import SandboxProcess, census
from tests.gateway.nginx import GatewayConfig, Nginx, nginx_binary
from zyntro_async import BulkResult, Limits, ProfileRequest, ZyntroClient
from zyntro_async.testing import seeded_contact_ids

from ._common import CONCURRENCY, RESULTS_DIR, SOURCE, payload, sandbox_server, sdk_digest

LATENCY = 0.005
CONTACTS = 1000
SEED = 11
RATES = (50, 300)
#: Targets.
MIN_RATIO = 0.9
MAX_REFUSED = 0.05
MAX_CONVERGE_S = 5.0
BAND = 0.10


@attrs.frozen
class Scenario:
    name: str
    kind: str  # "sandbox", "nginx" or "stall"
    quota: float | None  # requests per second the quota admits (None: a stall)
    faults: str = ""
    gateway: GatewayConfig | None = None
    stall: float = 0.0
    minute: bool = False
    concurrency: int = CONCURRENCY

    def items(self, small: bool) -> int:
        if self.kind == "stall":
            return 1000 if small else 3000
        assert self.quota is not None
        if self.minute:
            return round(self.quota * 60 * 1.5)  # one window and a half
        return round(self.quota * (4 if small else 15))

    def bound(self, small: bool) -> float:
        """Seconds after which the run is cut off."""
        if self.kind == "stall":
            return self.stall + (25 if small else 60)
        if self.minute:
            return 80.0 if small else 150.0
        return 20.0 if small else 60.0


def _sandbox_quota(shape: str, rate: int) -> str:
    base = f"latency={LATENCY},quota_rps={rate}"
    return {
        "token": f"{base}",
        "leaky": f"{base},quota_shape=leaky_bucket,quota_burst={rate // 10},"
        "quota_headers=none,quota_instant=1",
        "leaky503": f"{base},quota_shape=leaky_bucket,quota_burst={rate // 10},"
        "quota_headers=none,quota_instant=1,quota_status=503,quota_body=html",
        "sliding": f"{base},quota_shape=sliding_window,quota_headers=retry_after",
        "fixed": f"{base},quota_shape=fixed_window",
    }[shape]


def scenarios(small: bool) -> list[Scenario]:
    out = [
        Scenario(f"sb-{shape}-{rate}", "sandbox", rate, faults=_sandbox_quota(shape, rate))
        for shape in ("token", "leaky", "leaky503", "sliding", "fixed")
        for rate in RATES
    ]
    minute_rate = 10 if small else 100  # 600 or 6,000 per minute
    out.append(
        Scenario(
            "sb-minute",
            "sandbox",
            minute_rate,
            faults=f"latency={LATENCY},quota_rps={minute_rate},quota_shape=fixed_window,"
            "quota_window=60,quota_headers=retry_after",
            minute=True,
        )
    )
    out += [
        Scenario(
            f"nginx-{rate}-{status}",
            "nginx",
            rate,
            faults=f"latency={LATENCY}",
            gateway=GatewayConfig(
                limit_rate=rate, limit_burst=rate // 10, limit_status=status, read_timeout=10
            ),
        )
        for rate in RATES
        for status in (429, 503)
    ]
    out += [
        Scenario(
            f"stall-{seconds}",
            "stall",
            None,
            faults=f"latency={LATENCY}",
            gateway=GatewayConfig(read_timeout=1.0),
            stall=seconds,
            concurrency=32,
        )
        for seconds in (3, 6, 20)
    ]
    return out


# --------------------------------------------------------------------------- running


@attrs.define
class Tally:
    """What the client saw: each result's end time (seconds from the start) and outcome."""

    ok_times: list[float] = attrs.Factory(list)
    ok_seqs: set[int] = attrs.Factory(set)
    failed_seqs: set[int] = attrs.Factory(set)
    errors: dict[str, int] = attrs.Factory(dict)
    elapsed: float = 0.0
    cut_off: bool = False

    def add(self, result: BulkResult[Any], at: float) -> None:
        seq = int(result.request.payload["seq"])
        if result.ok:
            self.ok_times.append(at)
            self.ok_seqs.add(seq)
        else:
            self.failed_seqs.add(seq)
            code = getattr(result.error, "code", type(result.error).__name__)
            self.errors[str(code)] = self.errors.get(str(code), 0) + 1


async def drive(
    env: dict[str, str],
    base_url: str,
    contact_ids: list[str],
    n: int,
    *,
    concurrency: int,
    bound: float,
    on_done: Callable[[int], None] | None = None,
) -> Tally:
    """One bulk run of ``n`` adds, cut off after ``bound`` seconds."""
    tally = Tally()
    creds = {k: env[f"ZYNTRO_{k.upper()}"] for k in ("api_key", "developer_secret", "org_id")}
    requests = (
        ProfileRequest(contact_ids[i % len(contact_ids)], payload(i), SOURCE) for i in range(n)
    )
    async with ZyntroClient(
        **creds,
        member_id=env["ZYNTRO_MEMBER_ID"],
        base_url=base_url,
        limits=Limits(max_connections=concurrency),
    ) as client:
        start = time.perf_counter()

        async def consume() -> None:
            done = 0
            async for result in client.bulk_add_profiles(requests, concurrency=concurrency):
                tally.add(result, time.perf_counter() - start)
                done += 1
                if on_done is not None:
                    on_done(done)

        try:
            await asyncio.wait_for(consume(), bound)
        except asyncio.TimeoutError:
            tally.cut_off = True
        tally.elapsed = time.perf_counter() - start
    return tally


def converge_time(ok_times: list[float], quota: float, end: float) -> float | None:
    """The first time after which every 1 s window of successes (sliding by 0.1 s, up to
    1 s before the end) holds the rate within ``BAND`` of ``quota``; None if never."""
    times = sorted(ok_times)
    last_start = end - 2.0
    if last_start < 0:
        return None
    starts = [i / 10 for i in range(int(last_start * 10) + 1)]
    good = []
    for t in starts:
        lo = bisect.bisect_left(times, t)
        hi = bisect.bisect_left(times, t + 1.0)
        good.append(abs((hi - lo) - quota) <= BAND * quota)
    converged: float | None = None
    for t, ok in zip(starts, good, strict=False):
        if not ok:
            converged = None
        elif converged is None:
            converged = t
    return converged


def _stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=30) as resp:
        data: dict[str, Any] = json.loads(resp.read())
        return data


def _requests_and_refusals(counters: dict[str, Any]) -> tuple[int, int]:
    requests = sum(e["requests"] for e in counters.values())
    refused = sum(e["faults"].get("quota", 0) for e in counters.values())
    return requests, refused


async def run_scenario(sc: Scenario, small: bool, nginx_path: str | None) -> dict[str, Any]:
    n, bound = sc.items(small), sc.bound(small)
    if sc.kind == "stall":
        return await _run_stall(sc, n, bound, nginx_path)
    with sandbox_server(
        contacts=CONTACTS, seed=SEED, faults=sc.faults, max_seconds=bound + 120
    ) as server:
        ids = seeded_contact_ids(SEED, CONTACTS)
        stats_url = server.env["BENCH_STATS_URL"]
        with tempfile.TemporaryDirectory(prefix="zyntro-quotas-") as tmp:
            nginx = None
            base_url = server.base_url
            if sc.kind == "nginx":
                assert nginx_path is not None
                assert sc.gateway is not None
                port = int(base_url.split(":")[2].split("/")[0])
                nginx = Nginx(nginx_path, Path(tmp), port, sc.gateway)
                await nginx.start()
                base_url = nginx.base_url
            try:
                before = _stats(stats_url)["counters"]
                tally = await drive(
                    server.env, base_url, ids, n, concurrency=sc.concurrency, bound=bound
                )
                after = _stats(stats_url + "?census=1")
            finally:
                if nginx is not None:
                    statuses = nginx.statuses()
                    nginx.stop()
    if nginx is not None:
        requests = sum(statuses.values())
        assert sc.gateway is not None
        refused = statuses.get(sc.gateway.limit_status, 0)
    else:
        r0, q0 = _requests_and_refusals(before)
        r1, q1 = _requests_and_refusals(after["counters"])
        requests, refused = r1 - r0, q1 - q0
    return _figures(sc, n, tally, requests, refused, after["census"]["duplicates"], None)


async def _run_stall(sc: Scenario, n: int, bound: float, nginx_path: str | None) -> dict[str, Any]:
    assert nginx_path is not None
    assert sc.gateway is not None
    with tempfile.TemporaryDirectory(prefix="zyntro-stall-") as tmp:
        process = SandboxProcess(Path(tmp) / "sandbox", contacts=100, faults=sc.faults, seed=SEED)
        nginx = Nginx(nginx_path, Path(tmp) / "nginx", process.port, sc.gateway)
        try:
            await nginx.start()
            loop = asyncio.get_running_loop()
            after = 200 if n <= 1000 else 500

            def on_done(done: int) -> None:
                if done == after:
                    process.stall()
                    loop.call_later(sc.stall, process.resume)

            tally = await drive(
                process.env,
                nginx.base_url,
                process.contact_ids,
                n,
                concurrency=sc.concurrency,
                bound=bound,
                on_done=on_done,
            )
            statuses = nginx.statuses()
        finally:
            nginx.stop()
            found = census(process.stop())
    lost = len(tally.ok_seqs - found.stored) + len(tally.failed_seqs & found.stored)
    return _figures(
        sc, n, tally, sum(statuses.values()), statuses.get(504, 0), found.duplicates, lost
    )


def _figures(
    sc: Scenario,
    n: int,
    tally: Tally,
    requests: int,
    refused: int,
    duplicates: int,
    lost: int | None,
) -> dict[str, Any]:
    ok = len(tally.ok_seqs)
    ok_rate = ok / tally.elapsed if tally.elapsed > 0 else 0.0
    converge = (
        converge_time(tally.ok_times, sc.quota, tally.elapsed)
        if sc.quota is not None and not sc.minute
        else None
    )
    return {
        "scenario": sc.name,
        "kind": sc.kind,
        "quota": sc.quota,
        "items": n,
        "ok": ok,
        "failed": len(tally.failed_seqs),
        "not_done": n - ok - len(tally.failed_seqs),
        "errors": tally.errors,
        "elapsed_s": round(tally.elapsed, 3),
        "cut_off": tally.cut_off,
        "ok_per_s": round(ok_rate, 2),
        "ratio": round(ok_rate / sc.quota, 3) if sc.quota else None,
        "requests": requests,
        "refused": refused,
        "refused_share": round(refused / requests, 4) if requests else None,
        "duplicates": duplicates,
        "lost": lost,
        "converge_s": converge,
        "faults": sc.faults,
        "gateway": attrs.asdict(sc.gateway) if sc.gateway else None,
        "stall_s": sc.stall or None,
    }


def targets(sc: Scenario, r: dict[str, Any]) -> list[tuple[str, bool]]:
    share = r["refused_share"] if r["refused_share"] is not None else 0.0
    if sc.kind == "stall":
        return [
            ("0 failed, all done", r["failed"] == 0 and r["not_done"] == 0),
            ("0 duplicates", r["duplicates"] == 0),
            ("0 lost", r["lost"] == 0),
        ]
    if sc.minute:
        return [
            ("every item succeeds", r["ok"] == r["items"]),
            ("<= 5 % refused", share <= MAX_REFUSED),
            ("0 duplicates", r["duplicates"] == 0),
        ]
    converge = r["converge_s"]
    return [
        (">= 0.9x quota", r["ratio"] is not None and r["ratio"] >= MIN_RATIO),
        ("<= 5 % refused", share <= MAX_REFUSED),
        ("0 failed, all done", r["failed"] == 0 and r["not_done"] == 0),
        ("0 duplicates", r["duplicates"] == 0),
        ("converged <= 5 s", converge is not None and converge <= MAX_CONVERGE_S),
    ]


def line(r: dict[str, Any]) -> str:
    ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else "-"
    share = f"{100 * r['refused_share']:.1f} %" if r["refused_share"] is not None else "-"
    converge = f"{r['converge_s']:.1f} s" if r["converge_s"] is not None else "never"
    if r["quota"] is None or r["scenario"] == "sb-minute":
        converge = "-"
    lost = "-" if r["lost"] is None else str(r["lost"])
    cut = f" CUT OFF at {r['elapsed_s']:.0f} s" if r["cut_off"] else ""
    what = "504s" if r["kind"] == "stall" else "refused"
    return (
        f"{r['scenario']:<16} ok {r['ok']}/{r['items']} in {r['elapsed_s']:.1f} s "
        f"({r['ok_per_s']:.1f}/s, {ratio} quota), {what} {share} of {r['requests']} req, "
        f"failed {r['failed']}, not done {r['not_done']}, duplicates {r['duplicates']}, "
        f"lost {lost}, converged {converge}{cut}"
    )


def table(results: list[dict[str, Any]], verdicts: dict[str, list[tuple[str, bool]]]) -> str:
    rows = [
        "| scenario | items | ok/s ÷ quota | refused (504 for stalls) | failed | not done "
        "| duplicates | lost | converged | targets |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else "-"
        share = f"{100 * r['refused_share']:.1f} %" if r["refused_share"] is not None else "-"
        conv = f"{r['converge_s']:.1f} s" if r["converge_s"] is not None else "never"
        if r["quota"] is None or r["scenario"] == "sb-minute":
            conv = "-"
        marks = ", ".join(f"{'PASS' if ok else 'MISS'} {t}" for t, ok in verdicts[r["scenario"]])
        lost = "-" if r["lost"] is None else str(r["lost"])
        rows.append(
            f"| {r['scenario']} | {r['items']} | {ratio} | {share} | {r['failed']} "
            f"| {r['not_done']} | {r['duplicates']} | {lost} | {conv} | {marks} |"
        )
    return "\n".join(rows) + "\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks quotas",
        description="quota shapes and stalls, sandbox and nginx (see the module docstring)",
    )
    parser.add_argument("--small", action="store_true", help="short runs (3-6 minutes)")
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--list", action="store_true", help="print the scenario names")
    parser.add_argument("--no-save", action="store_true", help="print only, write no files")
    return parser


async def _main(args: argparse.Namespace) -> int:
    plan = scenarios(args.small)
    if args.list:
        print("\n".join(sc.name for sc in plan))
        return 0
    if args.only:
        wanted = {name.strip() for name in args.only.split(",") if name.strip()}
        unknown = wanted - {sc.name for sc in plan}
        if unknown:
            print(f"unknown scenarios: {sorted(unknown)} (see --list)", file=sys.stderr)
            return 2
        plan = [sc for sc in plan if sc.name in wanted]
    nginx_path = nginx_binary()
    if nginx_path is None:
        skipped = [sc.name for sc in plan if sc.kind != "sandbox"]
        if skipped:
            print(f"# nginx is not installed: skipping {', '.join(skipped)}", flush=True)
        plan = [sc for sc in plan if sc.kind == "sandbox"]
    started = datetime.now(timezone.utc)
    results: list[dict[str, Any]] = []
    verdicts: dict[str, list[tuple[str, bool]]] = {}
    for sc in plan:
        r = await run_scenario(sc, args.small, nginx_path)
        results.append(r)
        verdicts[sc.name] = targets(sc, r)
        print(line(r), flush=True)
        for target, ok in verdicts[sc.name]:
            print(f"    {'PASS' if ok else 'MISS'} {target}", flush=True)
    passed = sum(ok for v in verdicts.values() for _, ok in v)
    total = sum(len(v) for v in verdicts.values())
    print(f"{passed}/{total} targets PASS", flush=True)
    if not args.no_save:
        stamp = started.strftime("%Y%m%dT%H%M%SZ")
        suffix = "-small" if args.small else ""
        RESULTS_DIR.mkdir(exist_ok=True)
        data = {
            "started": started.isoformat(timespec="seconds"),
            "sdk_digest": sdk_digest(),
            "small": args.small,
            "latency_s": LATENCY,
            "concurrency": CONCURRENCY,
            "results": results,
            "targets": {k: [[t, ok] for t, ok in v] for k, v in verdicts.items()},
        }
        json_path = RESULTS_DIR / f"quotas-{stamp}{suffix}.json"
        json_path.write_text(json.dumps(data, indent=1) + "\n")
        md_path = RESULTS_DIR / f"quotas-latest{suffix}.md"
        md_path.write_text(table(results, verdicts))
        print(f"wrote {json_path.name} and {md_path.name}", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return asyncio.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())
