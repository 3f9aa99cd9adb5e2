"""Several worker processes on one PostgreSQL ledger, against the sandbox: together they do
every item, and no item is ever added twice -- also when one is SIGKILLed mid-run: the
survivor takes its items over after their lease plus the request timeout and reconciles
them."""

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

import pytest

from zyntro_async.testing import Faults, ZyntroSandbox

LEASE = 1.0  # the workers' lease (s); their request timeout is 1 s: held 2 s after death


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


async def _start(sb: ZyntroSandbox, url: str, ids: Path, out: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.ledger._worker", str(ids), str(out), "8",
        env=_env(sb, url), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def _finish(proc: asyncio.subprocess.Process) -> None:
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()[-2000:]


def _results(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


async def _assert_every_key_done(url: str) -> None:
    """Every key of the run's ledger is done."""
    import psycopg

    base, _, query = url.partition("?")
    run = dict(part.split("=") for part in query.split("&"))["run"]
    async with await psycopg.AsyncConnection.connect(base) as conn:
        cur = await conn.execute("SELECT state FROM zyntro_journal WHERE run = %s", (run,))
        rows = await cur.fetchall()
    assert {state for (state,) in rows} == {"done"}


def _setup(sb: ZyntroSandbox, tmp_path: Path, n: int, pg_url: str) -> tuple[list[str], Path, str]:
    ids = sb.seed(n)
    path = tmp_path / "ids.txt"
    path.write_text("\n".join(ids) + "\n")
    return ids, path, f"{pg_url}?run={uuid.uuid4().hex}&lease={LEASE}"


async def test_two_workers_with_one_input_add_each_item_once(pg_url: str, tmp_path: Path) -> None:
    async with ZyntroSandbox(seed=3, faults=Faults(latency=0.01)) as sb:
        ids, path, url = _setup(sb, tmp_path, 200, pg_url)
        outs = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
        workers = [await _start(sb, url, path, out) for out in outs]
        try:
            for proc in workers:
                await _finish(proc)
        finally:
            for proc in workers:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
        a, b = (_results(out) for out in outs)
        assert len(a) == len(b) == len(ids)
        for cid in ids:
            assert len(sb.profiles(cid)) == 1, cid  # never twice, never lost
        assert all(r["ok"] for r in a + b), [r for r in a + b if not r["ok"]][:5]
        added = [r["key"] for r in a + b if not r["skipped"]]
        assert sorted(added) == sorted(ids)  # each added by exactly one; the other skipped it
        assert sb.stats.add_profile_to_contact.successes == len(ids)


@pytest.mark.slow
async def test_a_killed_workers_items_are_taken_over_after_its_lease(
    pg_url: str, tmp_path: Path
) -> None:
    rng = random.Random(24)
    started: list[asyncio.subprocess.Process] = []
    try:
        await _trials(rng, started, pg_url, tmp_path)
    finally:
        for proc in started:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def _trials(
    rng: random.Random, started: list[asyncio.subprocess.Process], pg_url: str, tmp_path: Path
) -> None:
    for trial in range(5):
        folder = tmp_path / str(trial)
        folder.mkdir()
        faults = Faults(latency=0.05, drop_after_commit=0.05)
        async with ZyntroSandbox(seed=100 + trial, faults=faults) as sb:
            ids, path, url = _setup(sb, folder, 300, pg_url)
            a = await _start(sb, url, path, folder / "a.jsonl")
            b = await _start(sb, url, path, folder / "b.jsonl")
            started.extend((a, b))
            target = rng.randint(20, 120)
            await sb.wait_until(
                lambda s, n=target: s.add_profile_to_contact.successes >= n, timeout=60
            )
            assert a.returncode is None
            a.send_signal(signal.SIGKILL)
            await a.wait()
            killed_at = time.monotonic()
            # The survivor waits out the dead worker's lease and request timeout on what
            # it held, takes those items over, reconciles them, and finishes every item.
            await _finish(b)
            assert time.monotonic() - killed_at <= LEASE + 1.0 + 5.0
            results = _results(folder / "b.jsonl")
            assert len(results) == len(ids)
            assert all(r["ok"] for r in results), [r for r in results if not r["ok"]][:5]
            for cid in ids:
                assert len(sb.profiles(cid)) == 1, (trial, cid)  # 0 duplicates, 0 lost
            await _assert_every_key_done(url)
