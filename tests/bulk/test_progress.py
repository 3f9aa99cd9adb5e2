"""What ``on_progress`` tells a user: a rate of the items processed (a resumed run's skips
are nearly free and left out), and an unknown total shown as unknown."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from zyntro_async import ProfileRequest, Progress, ZyntroClient
from zyntro_async.testing import ZyntroSandbox


@pytest.fixture
async def sandbox() -> AsyncIterator[ZyntroSandbox]:
    async with ZyntroSandbox(seed=5) as sb:
        yield sb


@pytest.fixture
async def client(sandbox: ZyntroSandbox) -> AsyncIterator[ZyntroClient]:
    async with ZyntroClient(**sandbox.credentials, base_url=sandbox.base_url) as c:
        yield c


def requests(ids: list[str]) -> list[ProfileRequest]:
    return [ProfileRequest(contact_id=cid, payload={"n": 1}, source="S") for cid in ids]


async def test_the_rate_counts_processed_items_not_skipped_ones(
    sandbox: ZyntroSandbox, client: ZyntroClient, tmp_path: Path
) -> None:
    ids = sandbox.seed(60)
    journal = tmp_path / "run.db"
    first = await client.bulk_add_profiles(requests(ids[:40]), journal=journal)
    assert first.succeeded == 40
    seen: list[Progress] = []
    report = await client.bulk_add_profiles(
        requests(ids), journal=journal, on_progress=seen.append, concurrency=4
    )
    assert (report.skipped, report.succeeded) == (40, 20)
    last = seen[-1]
    assert (last.done, last.skipped) == (60, 40)
    assert last.rate == pytest.approx((last.ok + last.failed) / last.elapsed)


async def test_an_unknown_total_shows_as_unknown(
    sandbox: ZyntroSandbox, client: ZyntroClient
) -> None:
    ids = sandbox.seed(10)

    def lazily() -> Iterator[str]:  # a generator: no len(), so no total
        yield from ids

    seen: list[Progress] = []
    await client.bulk_fetch_contacts(lazily(), on_progress=seen.append)
    line = str(seen[-1])
    assert seen[-1].total is None
    assert line.startswith("10/? done (10 ok, 0 failed, 0 skipped, 0 in flight), ")
    assert "None" not in line
