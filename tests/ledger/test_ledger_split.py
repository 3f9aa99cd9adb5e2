"""A PostgreSQL ledger answers for every shard's items: workers of one split share a run
(together they add every item once), and a worker of another split, or one not sharded,
finishes the leftovers of a shard whose worker stopped, sending nothing twice."""

from __future__ import annotations

from typing import Any

import pytest

from zyntro_async import ProfileRequest, ZyntroClient
from zyntro_async.testing import ZyntroSandbox

from .test_ledger_runs import ADD, ledger

pytest.importorskip("psycopg")


def _items(ids: list[str]) -> list[ProfileRequest]:
    return [ProfileRequest(cid, {"n": n}, "S", key=cid) for n, cid in enumerate(ids)]


async def _add(sb: ZyntroSandbox, items: list[ProfileRequest], url: str, shard: Any) -> Any:
    async with ZyntroClient(**sb.credentials, base_url=sb.base_url) as client:
        return await client.bulk_add_profiles(items, journal=url, shard=shard)


async def test_any_split_finishes_a_ledger_runs_leftovers_and_sends_nothing_twice(
    pg_url: str,
) -> None:
    url = ledger(pg_url)
    async with ZyntroSandbox(seed=61) as sb:
        ids = sb.seed(40)
        items = _items(ids)
        first = await _add(sb, items, url, (0, 2))  # shard 1/2's worker never ran
        assert 0 < first.succeeded < len(ids)
        assert first.other_shards == len(ids) - first.succeeded
        sweep = await _add(sb, items, url, (0, 3))  # another count: its share of the rest
        rest = await _add(sb, items, url, None)  # not sharded: everything left
        assert first.succeeded + sweep.succeeded + rest.succeeded == len(ids)
        assert sb.stats[ADD].requests == len(ids)  # each item sent once
        assert rest.skipped == first.succeeded + sweep.succeeded
        again = await _add(sb, items, url, (1, 2))
        assert again.succeeded == 0
        assert sb.stats[ADD].requests == len(ids)
        for cid in ids:
            assert len(sb.profiles(cid)) == 1
