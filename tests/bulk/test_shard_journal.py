"""A journal remembers the shard split it was made under: a later run under a split that
could send an item twice is refused with a ``ConfigurationError`` naming both, before
anything is sent; the same split resumes as before, and a journal an earlier version made
(no record of its split) keeps working and records the split of its next run."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from zyntro_async import ConfigurationError, ProfileRequest, ZyntroClient
from zyntro_async.models import ContactDetails
from zyntro_async.testing import ZyntroSandbox

ADD = "addProfileToContact"


@pytest.fixture
async def sandbox() -> AsyncIterator[ZyntroSandbox]:
    async with ZyntroSandbox(seed=2025) as sb:
        yield sb


def _items(ids: list[str]) -> list[ProfileRequest]:
    return [ProfileRequest(cid, {"n": n}, "S") for n, cid in enumerate(ids)]


def _shown(split: tuple[int, int] | None) -> str:
    return "not sharded" if split is None else f"shard {split[0]}/{split[1]}"


@pytest.mark.parametrize(
    ("first", "then"),
    [((0, 2), (0, 3)), ((0, 2), (1, 2)), ((0, 2), None), (None, (0, 2)), ((1, 3), (1, 2))],
)
async def test_a_journal_refuses_a_run_under_another_split(
    sandbox: ZyntroSandbox, tmp_path: Path, first: Any, then: Any
) -> None:
    items = _items(sandbox.seed(30))
    journal = tmp_path / "j.db"
    async with ZyntroClient(**sandbox.credentials, base_url=sandbox.base_url) as client:
        made = await client.bulk_add_profiles(items, journal=journal, shard=first)
        sent = sandbox.stats[ADD].requests
        assert made.succeeded == sent > 0
        with pytest.raises(ConfigurationError) as refused:
            await client.bulk_add_profiles(items, journal=journal, shard=then)
        assert sandbox.stats[ADD].requests == sent  # refused before anything was sent
        assert _shown(first) in str(refused.value)
        assert _shown(then) in str(refused.value)
        assert str(journal) in str(refused.value)
        again = await client.bulk_add_profiles(items, journal=journal, shard=first)
    assert again.skipped == again.total == made.total  # the same split resumes as before
    assert sandbox.stats[ADD].requests == sent


async def test_an_enrichment_journal_refuses_another_split(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    ids = sandbox.seed(20)

    async def enricher(details: ContactDetails) -> dict[str, Any]:
        return {"id": details.contact.id}

    journal = tmp_path / "j.db"
    async with ZyntroClient(**sandbox.credentials, base_url=sandbox.base_url) as client:
        await client.enrich_contacts(ids, enricher, source="E", journal=journal, shard=(1, 2))
        sent = sandbox.stats[ADD].requests
        with pytest.raises(ConfigurationError, match=r"shard 1/2.*shard 1/4"):
            await client.enrich_contacts(ids, enricher, source="E", journal=journal, shard="1/4")
    assert sandbox.stats[ADD].requests == sent


async def test_a_journal_without_a_recorded_split_keeps_working_and_records_one(
    sandbox: ZyntroSandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    items = _items(sandbox.seed(30))
    journal = tmp_path / "j.db"
    async with ZyntroClient(**sandbox.credentials, base_url=sandbox.base_url) as client:
        made = await client.bulk_add_profiles(items, journal=journal, shard=(0, 2))
        sent = sandbox.stats[ADD].requests
        # As an earlier version left it: the same file format, without the split's record.
        with sqlite3.connect(journal) as conn:
            conn.execute("DROP TABLE meta")
        conn.close()
        with caplog.at_level(logging.WARNING, logger="zyntro_async"):
            again = await client.bulk_add_profiles(items, journal=journal, shard=(0, 2))
        assert again.skipped == again.total == made.total  # its entries still answer
        assert sandbox.stats[ADD].requests == sent
        assert "no record of the shard split" in caplog.text
        with pytest.raises(ConfigurationError, match="shard 0/2"):
            await client.bulk_add_profiles(items, journal=journal, shard=(0, 3))
    assert sandbox.stats[ADD].requests == sent
