"""Workers on one PostgreSQL ledger, one SIGKILLed at a random moment: duplicates, lost items,
and how soon the dead worker's items are done by another.

    python -m benchmarks.ledger_kills                  # 50 trials of 4 workers: ~7 min
    python -m benchmarks.ledger_kills --trials 5       # a smoke run

Starts a PostgreSQL cluster of its own and, per trial, a sandbox (50 ms latency, 5 % of
adds' answers lost after they were applied) with 400 contacts, then 4 worker processes
(``tests.ledger._worker add``: ``bulk_add_profiles`` of every contact, concurrency 8, a 1 s
request timeout, ``journal=`` one run on the ledger with a 1 s lease) on the same input,
each starting at its own quarter of it, then wrapping around (so any worker finishes the
others' leftovers).
Once the sandbox has stored a random 20-300 profiles, one worker (at random) is killed with
SIGKILL. Measured per trial: contacts with more than one profile (duplicates) or none
(lost) once the survivors are done, and the seconds from the kill until every key that was
``sent`` at that moment is ``done`` in the ledger (the target: within lease + request
timeout + 5 s). Writes ``benchmarks/results/ledger-kills-<UTC stamp>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from tests.ledger.postgres_server import postgres_cluster
from zyntro_async.testing import Faults, ZyntroSandbox

RESULTS = Path(__file__).resolve().parent / "results"
LEASE, TIMEOUT, WORKERS, ITEMS = 1.0, 1.0, 4, 400


async def _keys(conn: Any, run: str, state: str) -> set[str]:
    cur = await conn.execute("SELECT key FROM zyntro_journal WHERE run = %s AND state = %s",
                             (run, state))  # fmt: skip
    return {key for (key,) in await cur.fetchall()}


async def _trial(pg_url: str, folder: Path, seed: int, rng: random.Random) -> dict[str, Any]:
    import psycopg

    run = uuid.uuid4().hex
    faults = Faults(latency=0.05, drop_after_commit=0.05)
    async with ZyntroSandbox(seed=seed, faults=faults) as sb:
        ids = sb.seed(ITEMS)
        path = folder / "ids.txt"
        path.write_text("\n".join(ids) + "\n")
        creds = sb.credentials
        env = {
            **{k: v for k, v in __import__("os").environ.items() if not k.startswith("ZYNTRO_")},
            "ZYNTRO_BASE_URL": sb.base_url,
            "ZYNTRO_API_KEY": creds["api_key"],
            "ZYNTRO_DEVELOPER_SECRET": creds["developer_secret"],
            "ZYNTRO_ORG_ID": creds["org_id"],
            "ZYNTRO_MEMBER_ID": creds["member_id"],
            "LEDGER_URL": f"{pg_url}?run={run}&lease={LEASE}",
        }
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.ledger._worker",
                "add",
                str(path),
                str(folder / f"w{i}.jsonl"),
                "8",
                str(i / WORKERS),
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            for i in range(WORKERS)
        ]
        try:
            target = rng.randint(20, 300)
            await sb.wait_until(lambda s: s.add_profile_to_contact.successes >= target, timeout=120)
            victim = rng.randrange(WORKERS)
            async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
                procs[victim].kill()
                await procs[victim].wait()
                killed = time.monotonic()
                in_flight = await _keys(conn, run, "sent")
                cur = await conn.execute(
                    "SELECT count(DISTINCT holder), max(held_until - now()) FROM zyntro_journal"
                    " WHERE run = %s AND state = 'sent'",
                    (run,),
                )
                holders, longest = await cur.fetchone() or (0, None)
                taken_over = None
                while time.monotonic() - killed < 60:
                    if in_flight <= await _keys(conn, run, "done"):
                        taken_over = time.monotonic() - killed
                        break
                    await asyncio.sleep(0.05)
            codes = [await asyncio.wait_for(p.wait(), 180) for p in procs]
        finally:
            for p in procs:
                if p.returncode is None:
                    p.kill()
                    await p.wait()
        counts = [len(sb.profiles(cid)) for cid in ids]
    failed = 0
    for i in range(WORKERS):
        if i != victim:
            lines = (folder / f"w{i}.jsonl").read_text().splitlines()
            failed += sum(1 for line in lines if not json.loads(line)["ok"])
    return {
        "target": target,
        "in_flight_at_kill": len(in_flight),
        "holders_at_kill": holders,
        "longest_hold_s": None if longest is None else longest.total_seconds(),
        "taken_over_s": taken_over,
        "duplicates": sum(1 for c in counts if c > 1),
        "lost": sum(1 for c in counts if c == 0),
        "survivor_exit_codes": [c for i, c in enumerate(codes) if i != victim],
        "survivor_failures": failed,
    }


async def _main(trials: int) -> list[dict[str, Any]]:
    rng = random.Random(2026)
    out = []
    with postgres_cluster() as pg_url, TemporaryDirectory(prefix="zyntro-kills-") as tmp:
        for n in range(trials):
            folder = Path(tmp) / str(n)
            folder.mkdir()
            result = await _trial(pg_url, folder, 500 + n, rng)
            print(f"trial {n + 1:2}: {json.dumps(result)}", flush=True)
            out.append(result)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=50)
    args = parser.parse_args()
    results = asyncio.run(_main(args.trials))
    times = [r["taken_over_s"] for r in results]
    worst = None if None in times else max(times)
    summary = {
        "trials": len(results),
        "workers": WORKERS,
        "items": ITEMS,
        "lease": LEASE,
        "request_timeout": TIMEOUT,
        "duplicates": sum(r["duplicates"] for r in results),
        "lost": sum(r["lost"] for r in results),
        "worst_taken_over_s": worst,
        "bound_s": LEASE + TIMEOUT + 5,
        "survivors_failed": sum(1 for r in results for c in r["survivor_exit_codes"] if c),
        "survivor_item_failures": sum(r["survivor_failures"] for r in results),
    }
    ok = (
        summary["survivor_item_failures"] == 0
        and summary["duplicates"] == 0
        and summary["lost"] == 0
        and worst is not None
        and worst <= LEASE + TIMEOUT + 5
    )
    print(json.dumps(summary), "PASS" if ok else "MISS")
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = RESULTS / f"ledger-kills-{stamp}.json"
    path.write_text(json.dumps({"summary": summary, "trials": results}, indent=2) + "\n")
    print(f"wrote {path.relative_to(RESULTS.parent.parent)}")


if __name__ == "__main__":
    main()
