"""Enrichment on a shared PostgreSQL ledger: workers enriching the same contacts wait for a
key another one holds instead of failing it, and a killed worker's enrichments are finished
by the survivor without a second profile -- looked for by the payload the dead worker's
enricher made, not the survivor's."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from zyntro_async import BulkResult, Profile, ZyntroClient
from zyntro_async.testing import Faults, ZyntroSandbox

from ._worker import SOURCE, enricher
from ._workers import assert_every_key_done, kill_trials, setup


async def _enrich(
    sb: ZyntroSandbox, ids: list[str], url: str, name: str
) -> list[BulkResult[Profile]]:
    async with ZyntroClient(**sb.credentials, base_url=sb.base_url) as client:
        run = client.enrich_contacts(
            ids,
            enricher(name),
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
        ids, _, url = setup(sb, tmp_path, 120, pg_url)
        a, b = await asyncio.gather(_enrich(sb, ids, url, "a"), _enrich(sb, ids, url, "b"))
        failed = [(r.request, r.error) for r in a + b if not r.ok]
        assert failed == []  # none failed as a conflict: a held key is waited for
        for cid in ids:
            assert len(sb.profiles(cid)) == 1, cid  # never twice, never lost
        enriched = [r.request for r in a + b if not r.skipped]
        assert sorted(enriched) == sorted(ids)  # each enriched by one, skipped by the other
        assert sb.stats.add_profile_to_contact.successes == len(ids)
        await assert_every_key_done(url)


@pytest.mark.slow
async def test_a_killed_enrichers_contacts_are_finished_by_the_survivor_once(
    pg_url: str, tmp_path: Path
) -> None:
    await kill_trials(
        pg_url, tmp_path, mode="enrich", trials=3, contacts=200, seed=20, kill_after=(20, 80)
    )
