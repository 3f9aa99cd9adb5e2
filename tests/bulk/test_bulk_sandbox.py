"""Bulk runs against the sandbox: every item accounted for, exactly one record per success,
under faults, cancellation and resumption."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from zyntro_async import (
    BulkResult,
    ContactDetails,
    NotFoundError,
    PermissionDeniedError,
    ProfileRequest,
    Progress,
    RetryPolicy,
    Timeout,
    ZyntroClient,
)
from zyntro_async.errors import EnricherError
from zyntro_async.testing import Faults, ZyntroSandbox

FAULT_MIX = Faults(
    rate_limit=0.02,
    server_error=0.02,
    bad_gateway_html=0.02,
    unavailable=0.02,
    drop_after_commit=0.02,
    timeout_after_commit=0.01,
    retry_after=0.01,
    hang_seconds=1.0,
)


@pytest.fixture
async def sandbox() -> AsyncIterator[ZyntroSandbox]:
    async with ZyntroSandbox(seed=1234) as sb:
        yield sb


def client_for(sb: ZyntroSandbox, **kwargs: Any) -> ZyntroClient:
    kwargs.setdefault("timeout", Timeout(connect=5, read=0.5, total=5))
    return ZyntroClient(**sb.credentials, base_url=sb.base_url, **kwargs)


def requests_for(ids: list[str], source: str = "Clearbit") -> list[ProfileRequest]:
    return [
        ProfileRequest(
            cid, {"rank": n, "company": f"Co {n}", "tags": ["a", "ü"]}, source, key=f"k{n}"
        )
        for n, cid in enumerate(ids)
    ]


def assert_exactly_once(sb: ZyntroSandbox, results: list[BulkResult[Any]], source: str) -> None:
    for result in results:
        cid = result.request.contact_id
        held = [p for p in sb.profiles(cid) if p["profile_source"] == source]
        if result.ok:
            assert len(held) == 1, (cid, result)
            assert held[0]["profile_payload"] == result.request.payload
            assert result.value is not None
            assert result.value.id == held[0]["profile_id"]
        else:
            assert held == [], (cid, result)


@pytest.mark.slow
async def test_5000_items_under_a_fault_mix_are_all_accounted_for(sandbox: ZyntroSandbox) -> None:
    ids = sandbox.seed(5000)
    sandbox.faults = FAULT_MIX
    results: list[BulkResult[Any]] = []
    async with client_for(sandbox, retry=RetryPolicy(max_attempts=4)) as client:
        run = client.bulk_add_profiles(requests_for(ids), concurrency=64)
        async for result in run:
            results.append(result)
        report = run.report
    assert report is not None
    assert report.total == len(results) == 5000
    assert report.succeeded + report.failed + report.skipped == report.total
    assert report.succeeded > 4900
    assert sum(sandbox.stats.faults.values()) > 300  # the mix really happened
    assert report.retries > 0
    assert report.recovered > 0  # some committed-then-dropped adds were reconciled
    assert {r.key for r in results} == {f"k{n}" for n in range(5000)}
    assert_exactly_once(sandbox, results, "Clearbit")


async def test_a_cancelled_run_resumed_with_its_journal_adds_each_item_once(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    ids = sandbox.seed(900)
    sandbox.faults = Faults(drop_after_commit=0.05, server_error=0.03, latency=0.001)
    journal = tmp_path / "run.db"
    requests = requests_for(ids)
    # Enough attempts that 8 % faults never exhaust one: the point is exactly-once.
    async with client_for(sandbox, retry=RetryPolicy(max_attempts=6)) as client:
        seen = 0

        async def first_run() -> None:
            nonlocal seen
            async for _ in client.bulk_add_profiles(requests, concurrency=32, journal=journal):
                seen += 1
                if seen == 300:
                    await sandbox.wait_until(lambda s: s.in_flight > 0)  # adds on the wire
                    asyncio.current_task().cancel()  # type: ignore[union-attr]

        with pytest.raises(asyncio.CancelledError):
            await first_run()
        assert seen < 900  # the run ended when it was cancelled, not at its end
        resumed = client.bulk_add_profiles(requests, concurrency=32, journal=journal)
        results = [r async for r in resumed]
    assert resumed.report is not None
    assert resumed.report.total == 900
    assert resumed.report.skipped >= seen  # every result delivered was journaled
    assert resumed.report.failed == 0
    for cid, request in zip(ids, requests, strict=True):
        held = sandbox.profiles(cid)
        assert len(held) == 1, cid
        assert held[0]["profile_payload"] == request.payload
    assert all(r.ok for r in results)


async def test_the_same_item_twice_is_added_once_with_a_journal(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    (cid,) = sandbox.seed(1)
    item = {"contact_id": cid, "payload": {"a": 1}, "source": "S"}
    async with client_for(sandbox) as client:
        report = await client.bulk_add_profiles(
            [item, dict(item), dict(item)], concurrency=3, journal=tmp_path / "j.db"
        )
    assert report.succeeded == 1
    assert report.skipped == 2
    assert len(sandbox.profiles(cid)) == 1


async def test_failed_items_are_reported_per_item_while_the_rest_succeed(
    sandbox: ZyntroSandbox,
) -> None:
    ids = sandbox.seed(20)
    someone_else = sandbox.add_credentials()["member_id"]
    foreign = sandbox.add_contact(first_name="Not", last_name="Mine", owner=someone_else)
    items: list[Any] = [ProfileRequest(cid, {"x": 1}, "S") for cid in ids]
    items.insert(5, ProfileRequest("00000000-0000-4000-8000-000000000000", {"x": 1}, "S"))
    items.insert(9, ProfileRequest(foreign, {"x": 1}, "S"))
    items.insert(12, {"contact_id": ids[0]})  # no payload, no source
    items.insert(15, ProfileRequest(ids[1], {"x": {1, 2}}, "S"))  # type: ignore[dict-item]
    async with client_for(sandbox) as client:
        report = await client.bulk_add_profiles(items, concurrency=8)
    assert report.total == 24
    assert report.succeeded == 20
    assert report.failed == 4
    codes = sorted(r.error.code for r in report.failures if r.error is not None)
    assert codes == ["INVALID_PAYLOAD", "MISSING_FIELDS", "NOT_FOUND", "NOT_OWNER"]
    kinds = {type(r.error) for r in report.failures}
    assert NotFoundError in kinds
    assert PermissionDeniedError in kinds
    assert sandbox.profiles(foreign) == []


async def test_enrich_contacts_pipeline(sandbox: ZyntroSandbox) -> None:
    ids = sandbox.seed(30)
    already = ids[0]
    sandbox_profiles_before = len(sandbox.profiles(already))
    async with client_for(sandbox) as client:
        await client.add_profile_to_contact(already, {"old": True}, "Enricher")
        calls: list[str] = []

        async def enricher(details: ContactDetails) -> dict[str, Any] | None:
            calls.append(details.contact.id)
            if details.contact.id == ids[1]:
                raise RuntimeError("upstream enrichment API is down")
            if details.contact.id == ids[2]:
                return None
            return {"first": details.contact.first_name, "seen": True}

        progress: list[Progress] = []
        run = client.enrich_contacts(
            [*ids, "00000000-0000-4000-8000-000000000000"],
            enricher,
            source="Enricher",
            concurrency=8,
            on_progress=progress.append,
        )
        report = await run
    assert report.total == 31
    assert report.failed == 2  # the enricher error and the unknown contact
    assert report.skipped == 2  # already enriched, and "nothing to add"
    assert report.succeeded == 27
    errors = {type(r.error) for r in report.failures}
    assert errors == {EnricherError, NotFoundError}
    enricher_failure = next(r for r in report.failures if isinstance(r.error, EnricherError))
    assert isinstance(enricher_failure.error.__cause__, RuntimeError)  # type: ignore[union-attr]
    assert already not in calls
    assert len(sandbox.profiles(already)) == sandbox_profiles_before + 1
    for cid in ids[3:]:
        (profile,) = sandbox.profiles(cid)
        assert profile["profile_payload"]["seen"] is True
    assert progress
    assert progress[-1].done == 31


async def test_bulk_fetch_contacts(sandbox: ZyntroSandbox) -> None:
    ids = sandbox.seed(50)

    async def contact_ids() -> AsyncIterator[str]:
        for cid in ids:
            yield cid

    async with client_for(sandbox) as client:
        results = [r async for r in client.bulk_fetch_contacts(contact_ids(), include_notes=True)]
    assert len(results) == 50
    assert all(r.ok and r.value is not None and r.value.notes is not None for r in results)
    assert {r.value.contact.id for r in results if r.value} == set(ids)
