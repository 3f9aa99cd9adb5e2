"""A PostgreSQL ledger run remembers its shard count: workers with any index of the same
count share it (together they add every item once), a worker with another count is
refused with a ``ConfigurationError`` naming both before it sends anything, and a run
started by an earlier version (no record of its count) keeps working and records one."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from zyntro_async import ConfigurationError, ProfileRequest, ZyntroClient
from zyntro_async.testing import ZyntroSandbox

from .test_ledger_runs import ADD, ledger

pytest.importorskip("psycopg")


def _items(ids: list[str]) -> list[ProfileRequest]:
    return [ProfileRequest(cid, {"n": n}, "S", key=cid) for n, cid in enumerate(ids)]


async def _add(sb: ZyntroSandbox, items: list[ProfileRequest], url: str, shard: Any) -> Any:
    async with ZyntroClient(**sb.credentials, base_url=sb.base_url) as client:
        return await client.bulk_add_profiles(items, journal=url, shard=shard)


async def test_a_ledger_run_takes_any_index_of_its_count_and_refuses_another_count(
    pg_url: str,
) -> None:
    url = ledger(pg_url)
    async with ZyntroSandbox(seed=61) as sb:
        ids = sb.seed(40)
        items = _items(ids)
        first = await _add(sb, items, url, (0, 2))
        second = await _add(sb, items, url, (1, 2))
        assert first.succeeded + second.succeeded == len(ids)
        sent = sb.stats[ADD].requests
        assert sent == len(ids)
        for shard, named in (((0, 3), "shard 0/3"), (None, "not sharded")):
            with pytest.raises(ConfigurationError) as refused:
                await _add(sb, items, url, shard)
            assert "split into 2 shard(s)" in str(refused.value)
            assert named in str(refused.value)
            assert "ledger-secret-pw" not in str(refused.value)
        assert sb.stats[ADD].requests == sent  # refused before anything was sent
        again = await _add(sb, items, url, (1, 2))  # the same count: any worker resumes
        assert again.succeeded == 0
        assert sb.stats[ADD].requests == sent


async def test_a_ledger_run_without_a_recorded_count_keeps_working_and_records_one(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    import psycopg

    url = ledger(pg_url)
    run = url.partition("run=")[2]
    async with ZyntroSandbox(seed=62) as sb:
        items = _items(sb.seed(20))
        made = await _add(sb, items, url, None)
        sent = sb.stats[ADD].requests
        # As an earlier version left it: the run's entries, and no record of its count.
        async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
            await conn.execute("DELETE FROM zyntro_journal_runs WHERE run = %s", (run,))
        with caplog.at_level(logging.WARNING, logger="zyntro_async"):
            again = await _add(sb, items, url, (0, 3))
        assert "no record of the shard split" in caplog.text
        assert sb.stats[ADD].requests == sent  # its entries still answer: nothing re-sent
        assert again.skipped == again.total > 0
        assert made.total == len(items)
        with pytest.raises(ConfigurationError, match="split into 3 shard"):
            await _add(sb, items, url, (0, 2))
