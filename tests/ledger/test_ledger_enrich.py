"""Enrichment on a shared PostgreSQL ledger: workers enriching the same contacts wait for a
key another one holds instead of failing it, and a killed worker's enrichments are finished
by the survivor without a second profile -- looked for by the payload the dead worker's
enricher made, not the survivor's."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from zyntro_async import BulkResult, Profile, ZyntroClient
from zyntro_async.models import ContactDetails
from zyntro_async.testing import Faults, ZyntroSandbox

from ._enricher import SOURCE
from .test_ledger_workers import LEASE, _assert_every_key_done, _env, _finish, _results, _setup


def _enricher(name: str) -> Any:
    async def enricher(details: ContactDetails) -> dict[str, Any]:
        return {"by": name, "contact": details.contact.id}

    return enricher


async def _enrich(
    sb: ZyntroSandbox, ids: list[str], url: str, name: str
) -> list[BulkResult[Profile]]:
    async with ZyntroClient(**sb.credentials, base_url=sb.base_url) as client:
        run = client.enrich_contacts(
            ids,
            _enricher(name),
            source=SOURCE,
            skip_if_enriched=False,
            journal=url,
            concurrency=8,
        )
        return [r async for r in run]


async def test_two_workers_enrich_each_contact_once_and_fail_none(
    pg_url: str, tmp_path: Path
) -> None:
    async with ZyntroSandbox(seed=31, faults=Faults(latency=0.02)) as sb:
        ids, _, url = _setup(sb, tmp_path, 120, pg_url)
        a, b = await asyncio.gather(_enrich(sb, ids, url, "a"), _enrich(sb, ids, url, "b"))
        failed = [(r.request, r.error) for r in a + b if not r.ok]
        assert failed == []  # none failed as a conflict: a held key is waited for
        for cid in ids:
            assert len(sb.profiles(cid)) == 1, cid  # never twice, never lost
        enriched = [r.request for r in a + b if not r.skipped]
        assert sorted(enriched) == sorted(ids)  # each enriched by one, skipped by the other
        assert sb.stats.add_profile_to_contact.successes == len(ids)
        await _assert_every_key_done(url)


async def _start(sb: ZyntroSandbox, url: str, ids: Path, out: Path, name: str) -> Any:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.ledger._enricher", str(ids), str(out), name,
        env=_env(sb, url), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


@pytest.mark.slow
async def test_a_killed_enrichers_contacts_are_finished_by_the_survivor_once(
    pg_url: str, tmp_path: Path
) -> None:
    rng = random.Random(23)
    started: list[asyncio.subprocess.Process] = []
    try:
        for trial in range(3):
            folder = tmp_path / str(trial)
            folder.mkdir()
            faults = Faults(latency=0.05, drop_after_commit=0.05)
            async with ZyntroSandbox(seed=200 + trial, faults=faults) as sb:
                ids, path, url = _setup(sb, folder, 200, pg_url)
                a = await _start(sb, url, path, folder / "a.jsonl", "a")
                b = await _start(sb, url, path, folder / "b.jsonl", "b")
                started.extend((a, b))
                target = rng.randint(20, 80)
                await sb.wait_until(
                    lambda s, n=target: s.add_profile_to_contact.successes >= n, timeout=60
                )
                assert a.returncode is None
                a.send_signal(signal.SIGKILL)
                await a.wait()
                killed_at = time.monotonic()
                await _finish(b)
                assert time.monotonic() - killed_at <= LEASE + 1.0 + 5.0
                results = _results(folder / "b.jsonl")
                assert len(results) == len(ids)
                failed = [r for r in results if not r["ok"]]
                assert not failed, json.dumps(failed[:5])
                for cid in ids:
                    assert len(sb.profiles(cid)) == 1, (trial, cid)  # 0 duplicates, 0 lost
                await _assert_every_key_done(url)
    finally:
        for proc in started:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
