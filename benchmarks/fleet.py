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
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from tests.gateway.nginx import GatewayConfig, Nginx, nginx_binary
from tests.shared_quota.redis_server import RedisServer

from ._common import ROOT, ServerInfo, reset_server, sandbox_server
from ._fleet_plan import (
    AFTER_RESTART,
    CONCURRENCY,
    CONTACTS,
    KILL_AT,
    LATENCY,
    OPENING,
    QUOTA,
    RESTART_AFTER,
    SEED,
    SKEWS,
    Run,
    plan,
)
from ._fleet_report import figures, judge, line, longest_gap, markdown, save, summary
from .quotas import _requests_and_refusals, _stats


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
