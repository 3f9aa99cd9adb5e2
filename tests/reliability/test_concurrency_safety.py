"""One client shared by many tasks; closing it under them is clean."""

from __future__ import annotations

import asyncio
import gc

import pytest

from zyntro_async import BulkReport, ProfileRequest, ZyntroClient
from zyntro_async.errors import ClientClosedError
from zyntro_async.testing import Faults, ZyntroSandbox


async def test_one_client_shared_by_1000_tasks() -> None:
    async with ZyntroSandbox(seed=3) as sb:
        ids = sb.seed(1000)
        async with ZyntroClient(**sb.credentials, base_url=sb.base_url) as client:
            results = await asyncio.gather(
                *(
                    client.add_profile_to_contact(cid, {"n": n}, "Shared")
                    for n, cid in enumerate(ids)
                ),
                *(client.fetch_contact(cid) for cid in ids[:200]),
            )
        assert len(results) == 1200
        assert all(len(sb.profiles(cid)) == 1 for cid in ids)


async def test_closing_while_calls_are_in_flight() -> None:
    # Answers that would take a minute: the calls are in flight until the client closes.
    async with ZyntroSandbox(seed=4, faults=Faults(latency=60)) as sb:
        ids = sb.seed(50)
        client = ZyntroClient(**sb.credentials, base_url=sb.base_url)
        tasks = [
            asyncio.ensure_future(client.add_profile_to_contact(cid, {"n": 1}, "Closing"))
            for cid in ids
        ]
        await sb.wait_until(lambda s: s.in_flight == 50)  # all on the wire
        await client.close()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, ClientClosedError) for r in results), results
        assert client.closed
        with pytest.raises(ClientClosedError):
            await client.fetch_contact(ids[0])
    gc.collect()
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert others == []


async def test_closing_under_a_bulk_run_ends_it_and_the_journal_resumes_it(
    tmp_path: object,
) -> None:
    from pathlib import Path

    journal = Path(str(tmp_path)) / "j.db"
    async with ZyntroSandbox(seed=6, faults=Faults(latency=0.3)) as sb:
        ids = sb.seed(40)
        client = ZyntroClient(**sb.credentials, base_url=sb.base_url)
        run = client.bulk_add_profiles(
            (ProfileRequest(cid, {"n": 1}, "B") for cid in ids), concurrency=8, journal=journal
        )

        async def consume() -> BulkReport:
            return await run

        consumer = asyncio.ensure_future(consume())
        await sb.wait_for_requests(8, "addProfileToContact")  # adds are on the wire
        await client.close()
        report = await consumer  # ends: the run was cancelled, not left hanging
        assert report.stopped == "the client was closed"
        assert report.total < len(ids)
        assert all(isinstance(r.error, ClientClosedError) for r in report.failures)
        # Resume with a new client: each contact ends with exactly one profile.
        async with ZyntroClient(**sb.credentials, base_url=sb.base_url) as again:
            resumed = await again.bulk_add_profiles(
                (ProfileRequest(cid, {"n": 1}, "B") for cid in ids), journal=journal
            )
        assert resumed.failed == 0
        assert all(len(sb.profiles(cid)) == 1 for cid in ids)
