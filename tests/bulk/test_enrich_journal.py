"""Enrichment with a journal, against the sandbox: a contact met twice in one input is
enriched once -- the second copy waits for the first and is reported skipped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zyntro_async import ZyntroClient
from zyntro_async.models import ContactDetails
from zyntro_async.testing import Faults, ZyntroSandbox


async def _enricher(details: ContactDetails) -> dict[str, Any]:
    return {"contact": details.contact.id}


async def test_a_contact_twice_in_one_input_is_enriched_once(tmp_path: Path) -> None:
    async with ZyntroSandbox(seed=41, faults=Faults(latency=0.05)) as sb:
        ids = sb.seed(5)
        async with ZyntroClient(**sb.credentials, base_url=sb.base_url) as client:
            run = client.enrich_contacts(
                ids + ids,
                _enricher,
                source="Twice",
                skip_if_enriched=False,
                journal=tmp_path / "j.db",
                concurrency=10,
            )
            results = [r async for r in run]
        assert all(r.ok for r in results), [r.error for r in results if not r.ok]
        for cid in ids:
            assert len(sb.profiles(cid)) == 1, cid
            mine = [r for r in results if r.request == cid]
            assert sorted(r.skipped for r in mine) == [False, True]
        assert sb.stats.add_profile_to_contact.requests == len(ids)
