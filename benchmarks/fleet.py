"""N processes on one API key, each a real bulk run: does the shared quota hold the quota?

    python -m benchmarks.fleet                 # the whole matrix: about 8-10 min on 2 cores
    python -m benchmarks.fleet --quick         # N in {1, 4}, the sandbox only: about 3 min
    python -m benchmarks.fleet --only sandbox-4,kill,skew --no-save
    python -m benchmarks.fleet --only nginx-4-learned-shared --no-save --trace

Starts the sandbox in its own process (``benchmarks.server``: 5 ms latency), Debian's
``redis-server`` on a free loopback port (``tests.shared_quota.redis_server``) and, for
the nginx target, Debian's nginx (``tests.gateway.nginx``) in front of the sandbox; stops
every one of them at the end. Each run starts N worker processes
(``benchmarks._fleet_worker``), each a ``client.bulk_add_profiles`` at concurrency 64 on
the sandbox's one API key, all released together; the items (payload ``seq``) are unique
over the whole benchmark, so the sandbox's census counts any add applied twice. Redis is
flushed and the sandbox's profiles forgotten between runs.

The matrix, N in {1, 2, 4, 8}, against (i) the sandbox's token bucket (200/s, burst 20)
and (ii) nginx ``limit_req rate=200r/s burst=20 nodelay`` (429) in front of the sandbox:

* **known**: ``max_per_second=200`` (the fleet's total) with ``shared_quota=``; beside it
  the same without a shared quota, each process given ``200 / N`` by hand (the best a
  user can do without one, while N stays fixed);
* **learned**: ``shared_quota=`` alone; beside it each process learning alone.

Per run: combined ok/s (from the first success to the last: before the first, each run
imports redis-py and connects, 0.1-0.3 s, printed as "first ok") / the quota; the
share of requests refused (the sandbox's quota counter, or nginx's access log), over the
whole run and after its first second (the opening: with the quota unknown, every
process's first flight of 64 meets what the quota holds, ~N x 64 refusals a run of a
few seconds cannot dilute); Jain's
fairness index over the processes' successes while all of them were running (from the
last process's first success to the first one's last); the time
until every 1 s window of combined successes stays within 10 % of the quota
(``benchmarks.quotas.converge_time``); failed items; duplicates.

Then two shared-quota runs (N = 4, known, the sandbox):

* **kill**: Redis SIGKILLed 3 s in and started again 2 s later (empty, on the same port).
  "Shared again" is each process's SDK logging "Redis answers again" (the moment its
  quota is back on the fleet's timeline), measured from the restart; the refused share
  and the ok rate are counted from the kill until 5 s after the restart, the longest gap
  between successes in that stretch shows any stall.
* **skew**: the processes' clocks offset by -5, +5, -5 and +5 s (their ``time.monotonic``
  and ``time.time``; the limiter reads Redis ``TIME``): the quota must still hold.

Targets (PASS/MISS per shared run): known >= 0.95x, <= 1 % refused; learned >= 0.9x,
<= 3 % refused (judged over the whole run and after the opening, both printed), within
10 % of the quota by 10 s; Jain >= 0.95; 0 failed, 0
duplicates; kill: no stall, <= 5 % refused meanwhile, shared again within 5 s; skew:
<= 1.02x and >= 0.95x, <= 1 % refused. ``--trace`` samples every 50 ms the requests
and refusals the enforcer counted and the fleet's state in Redis (its rate, ``w_max``,
episode, slow start, the decayed send and accepted rates) and prints them after each
run. Results go to
``benchmarks/results/fleet-<UTC stamp>.json`` and ``.md`` (``--no-save``: print only).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs

from tests.gateway.nginx import GatewayConfig, Nginx, nginx_binary
from tests.shared_quota.redis_server import RedisServer

from ._common import RESULTS_DIR, ROOT, ServerInfo, machine, reset_server, sandbox_server
from .quotas import _requests_and_refusals, _stats, converge_time

QUOTA = 200
LATENCY = 0.005
CONCURRENCY = 64
CONTACTS = 1000
SEED = 11
NS = (1, 2, 4, 8)
KNOWN_SECONDS, LEARNED_SECONDS, KILL_SECONDS = 6, 10, 12
KILL_AT, RESTART_AFTER, AFTER_RESTART = 3.0, 2.0, 5.0
#: The opening: every process's first flight (concurrency 64 each, before any answer) and
#: its answers, retries after a 1 s Retry-After included.
OPENING = 1.0
SKEWS = (-5.0, 5.0, -5.0, 5.0)


@attrs.frozen
class Run:
    target: str  # "sandbox" or "nginx"
    n: int
    known: bool
    shared: bool
    kind: str = "matrix"  # "matrix", "kill" or "skew"

    @property
    def seconds(self) -> int:
        if self.kind == "kill":
            return KILL_SECONDS
        return KNOWN_SECONDS if self.known else LEARNED_SECONDS

    @property
    def name(self) -> str:
        if self.kind != "matrix":
            return self.kind
        return (
            f"{self.target}-{self.n}-{'known' if self.known else 'learned'}"
            f"-{'shared' if self.shared else 'alone'}"
        )


def plan(quick: bool, only: list[str] | None) -> list[Run]:
    targets = ("sandbox",) if quick else ("sandbox", "nginx")
    ns = (1, 4) if quick else NS
    runs = [
        Run(target, n, known, shared)
        for target in targets
        for n in ns
        for known in (True, False)
        for shared in (True, False)
    ]
    runs += [Run("sandbox", 4, True, True, "kill"), Run("sandbox", 4, True, True, "skew")]
    if only:
        runs = [r for r in runs if any(r.name.startswith(o) for o in only)]
    return runs


# -- the figures -----------------------------------------------------------------------------


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


@attrs.define
class Servers:
    sandbox: ServerInfo
    redis: RedisServer
    nginx: Nginx | None = None


def _counts(run: Run, servers: Servers) -> tuple[int, int]:
    """Requests and refusals so far, as the quota's enforcer counted them."""
    if run.target == "nginx":
        assert servers.nginx is not None
        statuses = servers.nginx.statuses()
        return sum(statuses.values()), statuses.get(429, 0)
    return _requests_and_refusals(_stats(servers.sandbox.env["BENCH_STATS_URL"])["counters"])


async def _spawn(settings: dict[str, Any], env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks._fleet_worker", json.dumps(settings),
        cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip


async def run_one(run: Run, servers: Servers, first_seq: int) -> dict[str, Any]:
    servers.redis.cli("flushall")
    if not reset_server(servers.sandbox):
        raise SystemExit("the sandbox did not forget its profiles (POST /reset)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZYNTRO_")}
    env.update({k: v for k, v in servers.sandbox.env.items() if k.startswith("ZYNTRO_")})
    base_url = servers.nginx.base_url if servers.nginx else servers.sandbox.base_url
    per = QUOTA * run.seconds // run.n
    known = QUOTA if run.shared else QUOTA / run.n
    procs = []
    try:
        for i in range(run.n):
            settings = {
                "base_url": base_url,
                "seed": SEED,
                "contacts": CONTACTS,
                "start": first_seq + i * per,
                "items": per,
                "concurrency": CONCURRENCY,
                "max_per_second": known if run.known else None,
                "shared_quota": servers.redis.url if run.shared else None,
                "bound": run.seconds * 3 + 10,
                "skew": SKEWS[i % len(SKEWS)] if run.kind == "skew" else 0.0,
            }
            procs.append(await _spawn(settings, env))
        for proc in procs:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            if line.strip() != b"ready":
                raise SystemExit(f"a worker did not start: {line!r}")
        requests0, refused0 = _counts(run, servers)
        go = time.monotonic()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
        opening = asyncio.ensure_future(_counts_at(run, servers, go + OPENING))
        tracing = asyncio.ensure_future(_trace(run, servers, go)) if TRACE else None
        kill: dict[str, Any] = {}
        if run.kind == "kill":
            kill = await _outage(run, servers, go)
        requests_open, refused_open = await opening
        lines = [
            await asyncio.wait_for(p.stdout.read(), run.seconds * 3 + 30)  # type: ignore[union-attr]
            for p in procs
        ]
        for proc in procs:
            await proc.wait()
        if tracing is not None:
            tracing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await tracing
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    workers = [json.loads(line.decode().strip().splitlines()[-1]) for line in lines]
    requests1, refused1 = _counts(run, servers)
    census = _stats(servers.sandbox.env["BENCH_STATS_URL"] + "?census=1")["census"]
    requests, refused = requests1 - requests0, refused1 - refused0
    out: dict[str, Any] = {"run": run.name, **attrs.asdict(run), "items": per * run.n}
    out.update(figures(workers, go))
    out.update(
        requests=requests,
        refused=refused,
        refused_share=round(refused / requests, 4) if requests else None,
        refused_after_opening=_share(refused1 - refused_open, requests1 - requests_open),
        duplicates=census["duplicates"],
        went_local=sum(len(w["went_local"]) for w in workers),
        load=os.getloadavg()[0],
    )
    if kill:
        kill["shared_again_s"] = _shared_again(workers, kill["restarted"])
        times = [t for w in workers for t in w["ok_times"]]
        lo, hi = kill.pop("killed"), kill.pop("restarted") + AFTER_RESTART
        kill["longest_gap_s"] = round(longest_gap(times, lo, min(hi, max(times))), 3)
        kill["ratio"] = round(sum(1 for t in times if lo <= t <= hi) / (hi - lo) / QUOTA, 3)
        out["kill"] = kill
    if TRACE:
        out["trace"] = TRACE_ROWS[:]
    judge(run, out)
    return out


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole > 0 else None


TRACE = False
TRACE_ROWS: list[dict[str, Any]] = []


async def _trace(run: Run, servers: Servers, go: float) -> None:
    """Every 0.05 s: the requests and refusals so far and the fleet's state in Redis."""
    import redis

    from zyntro_async._shared_quota._local import cubic_rate

    TRACE_ROWS.clear()
    client = redis.Redis.from_url(servers.redis.url)
    try:
        while True:
            at = time.monotonic() - go
            requests, refused = _counts_fast(run, servers)
            row: dict[str, Any] = {"t": round(at, 2), "req": requests, "refused": refused}
            keys = [k for k in client.keys("zyntro:quota:*") if not k.endswith(b":live")]
            if keys:
                f = {k.decode(): float(v) for k, v in client.hgetall(keys[0]).items()}
                sec, usec = client.time()
                now = sec - 1735689600 + usec / 1e6
                w_max = f.get("w_max", 0.0)
                age = now - f.get("cut_at", 0.0)
                rate = cubic_rate(w_max, age, f.get("doubling") == 1) if w_max else 0.0
                row.update(
                    rate=round(rate, 1),
                    w_max=round(w_max, 1),
                    ep=int(f.get("episode", 0)),
                    ss=int(f.get("doubling", 0)),
                    sent=round(f.get("sent_rate", 0.0), 1),
                    ok=round(f.get("ok_rate", 0.0), 1),
                )
            TRACE_ROWS.append(row)
            await asyncio.sleep(0.05)
    finally:
        client.close()


def _print_trace(rows: list[dict[str, Any]]) -> None:
    """The trace by 0.05 s: requests and refusals in the step, the fleet's state."""
    last = {"req": 0, "refused": 0}
    for row in rows:
        sent, refused = row["req"] - last["req"], row["refused"] - last["refused"]
        last = row
        state = " ".join(
            f"{k}={row[k]}" for k in ("rate", "w_max", "ep", "ss", "sent", "ok") if k in row
        )
        print(f"  t={row['t']:5.2f} sent {sent:4d} refused {refused:3d}  {state}")


def _counts_fast(run: Run, servers: Servers) -> tuple[int, int]:
    if run.target == "nginx":
        assert servers.nginx is not None
        lines = servers.nginx._read_log()
        return len(lines), sum(1 for line in lines if line and line[0] == "429")
    return _counts(run, servers)


async def _counts_at(run: Run, servers: Servers, at: float) -> tuple[int, int]:
    await asyncio.sleep(max(0.0, at - time.monotonic()))
    # In a thread: nginx's log is read until it stops growing, which blocks up to 2 s.
    return await asyncio.get_running_loop().run_in_executor(None, _counts, run, servers)


async def _outage(run: Run, servers: Servers, go: float) -> dict[str, Any]:
    """Kill Redis ``KILL_AT`` s after ``go``, start it again ``RESTART_AFTER`` s later;
    the refusals from the kill until ``AFTER_RESTART`` s after the restart."""
    await asyncio.sleep(max(0.0, go + KILL_AT - time.monotonic()))
    requests0, refused0 = _counts(run, servers)
    killed = time.monotonic()
    servers.redis.kill()
    await asyncio.sleep(RESTART_AFTER)
    servers.redis.start()
    restarted = time.monotonic()
    await asyncio.sleep(AFTER_RESTART)
    requests1, refused1 = _counts(run, servers)
    requests = requests1 - requests0
    return {
        "killed": killed,
        "restarted": restarted,
        "requests": requests,
        "refused": refused1 - refused0,
        "refused_share": round((refused1 - refused0) / requests, 4) if requests else None,
    }


def _shared_again(workers: list[dict[str, Any]], restarted: float) -> float | None:
    """Seconds from the restart until the last process rejoined (None: one never did)."""
    back = []
    for w in workers:
        after = [t for t in w["shared_again"] if t >= restarted]
        if not after:
            return None
        back.append(min(after) - restarted)
    return round(max(back), 3)


# -- the whole benchmark -------------------------------------------------------------------------


@contextlib.contextmanager
def _redis(folder: Path) -> Iterator[RedisServer]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(binary, folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def run_target(
    target: str, runs: list[Run], tmp: Path, results: list[dict[str, Any]]
) -> None:
    faults = f"latency={LATENCY}" + (f",quota_rps={QUOTA}" if target == "sandbox" else "")
    seconds = sum(r.seconds * 3 + 60 for r in runs) + 300
    with (
        sandbox_server(contacts=CONTACTS, seed=SEED, faults=faults, max_seconds=seconds) as sb,
        _redis(tmp / f"redis-{target}") as redis,
    ):
        servers = Servers(sb, redis)
        if target == "nginx":
            path = nginx_binary()
            if path is None:
                raise SystemExit("nginx is not installed (apt-get install nginx)")
            port = int(sb.base_url.split(":")[2].split("/")[0])
            gateway = GatewayConfig(limit_rate=QUOTA, limit_burst=QUOTA // 10, limit_status=429)
            servers.nginx = Nginx(path, tmp / "nginx", port, gateway)
            await servers.nginx.start()
        try:
            for run in runs:
                out = await run_one(run, servers, first_seq=len(results) * 100_000)
                results.append(out)
                print(line(out), flush=True)
                if TRACE:
                    _print_trace(out["trace"])
        finally:
            if servers.nginx is not None:
                servers.nginx.stop()


# -- output ----------------------------------------------------------------------------------


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


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    runs = plan(args.quick, args.only.split(",") if args.only else None)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="zyntro-fleet-") as tmp:
        for target in ("sandbox", "nginx"):
            mine = [r for r in runs if r.target == target]
            if mine:
                await run_target(target, mine, Path(tmp), results)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fleet", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="N in {1, 4}, the sandbox only")
    parser.add_argument("--only", help="comma-separated run-name prefixes (sandbox-4, kill)")
    parser.add_argument("--no-save", action="store_true", help="print only")
    parser.add_argument("--trace", action="store_true", help="sample the fleet every 0.05 s")
    parser.add_argument("--render", metavar="JSON", help="write a saved run's .md again")
    args = parser.parse_args()
    if args.render:
        path = Path(args.render)
        path.with_suffix(".md").write_text(markdown(json.loads(path.read_text())))
        return
    global TRACE
    TRACE = args.trace
    if TRACE:
        import redis  # noqa: F401 -- imported before the first run's trace starts

        import zyntro_async._shared_quota._local  # noqa: F401
    started = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    uptime = [_uptime()]
    print(uptime[0], flush=True)
    results = asyncio.run(main_async(args))
    uptime.append(_uptime())
    print(uptime[-1])
    print(summary(results))
    if not args.no_save:
        print(f"saved {save(results, started, uptime)}.json/.md")


if __name__ == "__main__":
    main()
