"""Driving worker processes (:mod:`tests.ledger._worker`) on one PostgreSQL ledger against
a sandbox: start, finish, read their results, and the kill trials both pipelines share."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from zyntro_async.testing import Faults, ZyntroSandbox

LEASE = 1.0  # the workers' lease (s); their request timeout is 1 s: held 2 s after death

Process = asyncio.subprocess.Process


def _env(sb: ZyntroSandbox, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZYNTRO_")}
    creds = sb.credentials
    env.update(
        ZYNTRO_BASE_URL=sb.base_url,
        ZYNTRO_API_KEY=creds["api_key"],
        ZYNTRO_DEVELOPER_SECRET=creds["developer_secret"],
        ZYNTRO_ORG_ID=creds["org_id"],
        ZYNTRO_MEMBER_ID=creds["member_id"],
        LEDGER_URL=url,
    )
    return env


async def start(sb: ZyntroSandbox, url: str, ids: Path, out: Path, *args: str) -> Process:
    """A worker: ``args`` are its mode and arguments after IDS and OUT."""
    mode, *rest = args
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.ledger._worker", mode, str(ids), str(out), *rest,
        env=_env(sb, url), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def finish(proc: Process) -> None:
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()[-2000:]


async def kill_all(started: list[Process]) -> None:
    for proc in started:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def results(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


async def assert_every_key_done(url: str) -> None:
    """Every key of the run's ledger is done."""
    import psycopg

    base, _, query = url.partition("?")
    run = dict(part.split("=") for part in query.split("&"))["run"]
    async with await psycopg.AsyncConnection.connect(base) as conn:
        cur = await conn.execute("SELECT state FROM zyntro_journal WHERE run = %s", (run,))
        rows = await cur.fetchall()
    assert {state for (state,) in rows} == {"done"}


def setup(sb: ZyntroSandbox, tmp_path: Path, n: int, pg_url: str) -> tuple[list[str], Path, str]:
    """``n`` contacts, their ids in a file, and a fresh run on the ledger."""
    ids = sb.seed(n)
    path = tmp_path / "ids.txt"
    path.write_text("\n".join(ids) + "\n")
    return ids, path, f"{pg_url}?run={uuid.uuid4().hex}&lease={LEASE}"


async def kill_trials(
    pg_url: str,
    tmp_path: Path,
    *,
    mode: str,
    trials: int,
    contacts: int,
    seed: int,
    kill_after: tuple[int, int],
) -> None:
    """Two workers (``mode``: "add" or "enrich") on one input and ledger, one SIGKILLed
    after a random number of adds in ``kill_after``, per trial. The survivor waits out
    the dead worker's lease and request timeout on what it held, takes those items over,
    reconciles them and finishes every item: none failed, each contact holds exactly one
    profile (0 duplicates, 0 lost), every key done, within lease + 5 s of the kill."""
    rng = random.Random(seed)
    started: list[Process] = []
    try:
        for trial in range(trials):
            folder = tmp_path / str(trial)
            folder.mkdir()
            faults = Faults(latency=0.05, drop_after_commit=0.05)
            async with ZyntroSandbox(seed=seed * 10 + trial, faults=faults) as sb:
                ids, path, url = setup(sb, folder, contacts, pg_url)
                # An adder's argument is its concurrency; an enricher's, its name.
                a, b = [
                    await start(sb, url, path, folder / f"{name}.jsonl", mode,
                                "8" if mode == "add" else name)
                    for name in "ab"
                ]  # fmt: skip
                started.extend((a, b))
                target = rng.randint(*kill_after)
                await sb.wait_until(
                    lambda s, n=target: s.add_profile_to_contact.successes >= n, timeout=60
                )
                assert a.returncode is None
                a.send_signal(signal.SIGKILL)
                await a.wait()
                killed_at = time.monotonic()
                await finish(b)
                assert time.monotonic() - killed_at <= LEASE + 1.0 + 5.0
                done = results(folder / "b.jsonl")
                assert len(done) == len(ids)
                failed = [r for r in done if not r["ok"]]
                assert not failed, json.dumps(failed[:5])
                for cid in ids:
                    assert len(sb.profiles(cid)) == 1, (trial, cid)
                await assert_every_key_done(url)
    finally:
        await kill_all(started)
