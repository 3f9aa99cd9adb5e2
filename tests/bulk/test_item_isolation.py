"""One bad item fails alone, and the journal never answers for the wrong item.

Every per-item step (coercion, validation, encoding, digest, journal lookup) turns its
failure into that item's failed result with a typed error; a run's report is always set;
a journal key met again with other content is that item's ``JOURNAL_KEY_CONFLICT``.
Everything goes through the public API against the real sandbox.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from zyntro_async import (
    BulkResult,
    ContactDetails,
    Profile,
    ProfileRequest,
    Timeout,
    ValidationError,
    ZyntroClient,
    ZyntroError,
)
from zyntro_async.errors import EnricherError, JournalConflictError
from zyntro_async.testing import ZyntroSandbox

ADD = "addProfileToContact"
MISSING = "00000000-0000-4000-8000-000000000000"  # a contact the sandbox does not hold


@pytest.fixture
async def sandbox() -> AsyncIterator[ZyntroSandbox]:
    async with ZyntroSandbox(seed=1212) as sb:
        yield sb


def client_for(sb: ZyntroSandbox, **kwargs: Any) -> ZyntroClient:
    kwargs.setdefault("timeout", Timeout(connect=5, read=5, total=10))
    return ZyntroClient(**sb.credentials, base_url=sb.base_url, **kwargs)


async def collect(run: Any) -> list[BulkResult[Any]]:
    return [result async for result in run]


# -- 8. a payload that cannot be encoded fails its item only ------------------------------------


@pytest.mark.parametrize("journaled", [False, True], ids=["no-journal", "journal"])
async def test_a_huge_int_payload_fails_alone(
    sandbox: ZyntroSandbox, tmp_path: Path, journaled: bool
) -> None:
    ids = sandbox.seed(20)
    bad_cid = ids[7]
    items = [
        ProfileRequest(cid, {"n": 10**5000} if cid == bad_cid else {"n": n}, "Huge", key=cid)
        for n, cid in enumerate(ids)
    ]
    journal = tmp_path / "run.db" if journaled else None
    async with client_for(sandbox) as client:
        run = client.bulk_add_profiles(items, concurrency=8, journal=journal)
        results = await collect(run)
        with pytest.raises(ValidationError) as single:
            await client.add_profile_to_contact(bad_cid, {"n": 10**5000}, "Huge")
    assert single.value.code == "INVALID_PAYLOAD"
    assert run.report is not None
    assert run.report.stopped is None
    assert (run.report.total, run.report.succeeded, run.report.failed) == (20, 19, 1)
    assert len(results) == 20
    (bad,) = [r for r in results if not r.ok]
    assert bad.key == bad_cid
    assert isinstance(bad.error, ValidationError)
    assert bad.error.code == "INVALID_PAYLOAD"
    assert sandbox.profiles(bad_cid) == []
    for cid in ids:
        if cid != bad_cid:
            assert len(sandbox.profiles(cid)) == 1, cid
    assert sandbox.stats[ADD].requests == 19  # the bad one was never sent


# -- 9. integer contact ids: converted, the same way in every entry point -------------------------


async def test_integer_contact_ids_work_in_every_entry_point(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    for n in (7, 8, 9):
        sandbox.add_contact(id=str(n), first_name=f"Row{n}")
    mappings = [
        {"contact_id": 7, "payload": {"row": 7}, "source": "Db"},
        {"contact_id": 8, "payload": {"row": 8}, "source": "Db", "key": 8},
    ]

    async def enricher(details: ContactDetails) -> dict[str, Any]:
        return {"name": details.contact.first_name}

    async with client_for(sandbox) as client:
        run = client.bulk_add_profiles(mappings, concurrency=2, journal=tmp_path / "add.db")
        added = await collect(run)
        enrich = client.enrich_contacts(
            [7, 9], enricher, source="Enricher", journal=tmp_path / "enrich.db"
        )
        enriched = await collect(enrich)
        plain_enrich = await client.enrich_contacts([8], enricher, source="Enricher")
        fetch = client.bulk_fetch_contacts([7, 8, 9], include_profile=True)
        fetched = await collect(fetch)
        single = await client.fetch_contact(7)
        one = await client.add_profile_to_contact(9, {"single": True}, "Single")

    assert run.report is not None
    assert run.report.stopped is None
    assert all(r.ok and isinstance(r.value, Profile) for r in added), added
    assert {r.request.contact_id for r in added} == {"7", "8"}
    assert [p["profile_payload"] for p in sandbox.profiles("7") if p["profile_source"] == "Db"] == [
        {"row": 7}
    ]
    assert enrich.report is not None
    assert enrich.report.succeeded == 2, enriched
    assert all(r.ok and not r.skipped for r in enriched), enriched
    assert plain_enrich.succeeded == 1
    assert [
        p["profile_payload"] for p in sandbox.profiles("9") if p["profile_source"] == "Enricher"
    ] == [{"name": "Row9"}]
    assert fetch.report is not None
    assert fetch.report.succeeded == 3, fetched
    assert sorted(r.value.contact.id for r in fetched if r.value is not None) == ["7", "8", "9"]
    assert single.contact.id == "7"
    assert isinstance(one, Profile)
    assert [
        p["profile_payload"] for p in sandbox.profiles("9") if p["profile_source"] == "Single"
    ] == [{"single": True}]


async def test_a_journaled_run_refuses_unusable_ids_per_item(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    ids = sandbox.seed(3)
    items: list[Any] = [{"contact_id": cid, "payload": {"ok": 1}, "source": "S"} for cid in ids]
    items.insert(1, {"contact_id": 7.5, "payload": {"x": 1}, "source": "S"})
    items.insert(2, {"contact_id": None, "payload": {"x": 1}, "source": "S"})
    items.insert(3, {"contact_id": ["a"], "payload": {"x": 1}, "source": "S"})
    async with client_for(sandbox) as client:
        run = client.bulk_add_profiles(items, concurrency=4, journal=tmp_path / "j.db")
        results = await collect(run)
    assert run.report is not None
    assert run.report.stopped is None
    assert (run.report.succeeded, run.report.failed) == (3, 3)
    for result in results:
        if not result.ok:
            assert isinstance(result.error, ValidationError), result


async def test_a_bad_id_in_a_bulk_fetch_fails_as_fetch_contact_would(
    sandbox: ZyntroSandbox,
) -> None:
    (good,) = sandbox.seed(1)
    bad: list[Any] = ["", "0", 0, None, 7.5]
    async with client_for(sandbox) as client:
        expected = []
        for contact_id in bad:
            with pytest.raises(ValidationError) as info:
                await client.fetch_contact(contact_id)
            expected.append((info.value.code, info.value.endpoint))
        run = client.bulk_fetch_contacts([good, *bad], concurrency=2)
        results = await collect(run)
    by_request = {repr(r.request): r for r in results}
    assert by_request[repr(good)].ok
    for contact_id, (code, endpoint) in zip(bad, expected, strict=True):
        error = by_request[repr(contact_id)].error
        assert isinstance(error, ValidationError), contact_id
        assert (error.code, error.endpoint) == (code, endpoint), contact_id
        assert endpoint == "fetchContact"
    assert sandbox.stats.fetch_contact.requests == 1  # only the good id went out


# -- 10. a duplicate reports what its first copy did --------------------------------------------


async def test_duplicates_report_what_their_first_copy_did(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    (cid,) = sandbox.seed(1)
    good = {"contact_id": cid, "payload": {"a": 1}, "source": "Dup"}
    bad = {"contact_id": MISSING, "payload": {"a": 1}, "source": "Dup"}
    async with client_for(sandbox) as client:
        run = client.bulk_add_profiles(
            [good, bad, dict(good), dict(bad), dict(good), dict(bad)],
            concurrency=6,
            journal=tmp_path / "j.db",
        )
        results = await collect(run)
    assert run.report is not None
    goods = [r for r in results if r.request.contact_id == cid]
    bads = [r for r in results if r.request.contact_id == MISSING]
    assert len(goods) == len(bads) == 3
    for result in bads:
        assert not result.ok, result
        assert isinstance(result.error, ZyntroError), result  # it says why
    added = [r for r in goods if not r.skipped]
    assert len(added) == 1
    assert added[0].ok
    assert added[0].value is not None
    for result in goods:
        assert result.ok, result
        assert result.error is None
        assert result.value is not None
        assert result.value.id == added[0].value.id
        assert result.value.source == "Dup"
        assert result.value.payload == {"a": 1}
    assert sum(r.skipped for r in goods) == 2
    assert len(sandbox.profiles(cid)) == 1
    assert run.report.total == 6
    assert run.report.succeeded == 1
    assert run.report.failed >= 1


# -- 11. retries count retries ------------------------------------------------------------------


async def test_enriching_clean_contacts_reports_no_retries(sandbox: ZyntroSandbox) -> None:
    ids = sandbox.seed(50)

    async def enricher(details: ContactDetails) -> dict[str, Any]:
        return {"id": details.contact.id}

    async with client_for(sandbox) as client:
        run = client.enrich_contacts(ids, enricher, source="Clean", concurrency=16)
        results = await collect(run)
    assert run.report is not None
    assert run.report.succeeded == 50
    assert run.report.retries == 0
    assert all(r.retries == 0 for r in results)
    assert all(r.attempts == 2 for r in results)  # one fetch, one add
    assert sandbox.stats.requests == 100


# -- 12. the journal never answers for the wrong item --------------------------------------------


@pytest.mark.parametrize("differs", ["contact", "payload", "source"])
async def test_a_journal_key_reused_for_other_content_is_a_conflict(
    sandbox: ZyntroSandbox, tmp_path: Path, differs: str
) -> None:
    first_ids = sandbox.seed(10)
    other_ids = sandbox.seed(10)
    journal = tmp_path / "run.db"

    def batch(second: bool) -> list[ProfileRequest]:
        return [
            ProfileRequest(
                other_ids[n] if second and differs == "contact" else first_ids[n],
                {"row": n, "run": 2} if second and differs == "payload" else {"row": n},
                "Other" if second and differs == "source" else "Rows",
                key=f"row-{n + 1}",
            )
            for n in range(10)
        ]

    async with client_for(sandbox) as client:
        first = await collect(client.bulk_add_profiles(batch(False), journal=journal))
        assert all(r.ok and not r.skipped for r in first), first
        first_profiles = {r.value.id for r in first if r.value is not None}
        sent_before = sandbox.stats[ADD].requests
        run = client.bulk_add_profiles(batch(True), journal=journal)
        second = await collect(run)
    assert run.report is not None
    assert run.report.stopped is None
    assert (run.report.failed, run.report.succeeded, run.report.skipped) == (10, 0, 0)
    assert len(second) == 10
    for result in second:
        assert not result.ok, result
        assert isinstance(result.error, JournalConflictError), result
        assert result.error.code == "JOURNAL_KEY_CONFLICT"
        assert result.value is None or result.value.id not in first_profiles
    assert sandbox.stats[ADD].requests == sent_before  # nothing was sent
    for cid in other_ids:
        assert sandbox.profiles(cid) == []
    for cid in first_ids:
        assert len(sandbox.profiles(cid)) == 1


async def test_one_key_for_two_items_in_one_run_is_a_conflict(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    a, b = sandbox.seed(2)
    items = [
        ProfileRequest(a, {"x": 1}, "S", key="row-1"),
        ProfileRequest(b, {"x": 2}, "S", key="row-1"),
    ]
    async with client_for(sandbox) as client:
        run = client.bulk_add_profiles(items, concurrency=2, journal=tmp_path / "j.db")
        results = await collect(run)
    (ok,) = [r for r in results if r.ok]
    (clash,) = [r for r in results if not r.ok]
    assert isinstance(clash.error, JournalConflictError)
    assert ok.value is not None
    held = {cid: sandbox.profiles(cid) for cid in (a, b)}
    assert sum(len(v) for v in held.values()) == 1
    assert held[ok.request.contact_id][0]["profile_id"] == ok.value.id


# -- whatever user code raises, and whatever strings an item holds, it fails alone -------------


class Abort(BaseException):
    """A BaseException subclass of the caller's own (not an Exception)."""


async def test_an_enricher_that_raises_a_base_exception_fails_its_item_alone(
    sandbox: ZyntroSandbox,
) -> None:
    ids = sandbox.seed(12)
    cancels, aborts = ids[3], ids[8]

    async def enricher(details: ContactDetails) -> dict[str, Any]:
        if details.contact.id == cancels:
            raise asyncio.CancelledError  # user code, not the run's cancellation
        if details.contact.id == aborts:
            raise Abort
        return {"ok": True}

    async with client_for(sandbox) as client:
        run = client.enrich_contacts(ids, enricher, source="Base", concurrency=4)
        results = await collect(run)

    assert run.report is not None
    assert run.report.stopped is None
    assert (run.report.total, run.report.succeeded, run.report.failed) == (12, 10, 2)
    failed = {r.request: r.error for r in results if not r.ok}
    assert set(failed) == {cancels, aborts}
    assert all(isinstance(error, EnricherError) for error in failed.values())
    assert isinstance(failed[cancels].__cause__, asyncio.CancelledError)
    assert isinstance(failed[aborts].__cause__, Abort)
    assert sandbox.profiles(cancels) == sandbox.profiles(aborts) == []


async def test_the_runs_own_cancellation_is_not_an_enricher_failure(
    sandbox: ZyntroSandbox,
) -> None:
    ids = sandbox.seed(4)
    started = asyncio.Event()

    async def enricher(details: ContactDetails) -> dict[str, Any]:
        started.set()
        await asyncio.Event().wait()  # until the run is cancelled
        return {"never": True}

    async with client_for(sandbox) as client:
        run = client.enrich_contacts(ids, enricher, source="Base", concurrency=4)
        results: list[BulkResult[Any]] = []

        async def consume() -> None:
            results.extend(await collect(run))

        consumer = asyncio.ensure_future(consume())
        await asyncio.wait_for(started.wait(), 5)
        await run.aclose()
        await asyncio.wait({consumer})

    assert run.report is not None
    assert run.report.stopped == "cancelled"
    assert not any(isinstance(r.error, EnricherError) for r in results)
    assert all(sandbox.profiles(cid) == [] for cid in ids)


@pytest.mark.parametrize("field", ["key", "source", "contact_id"])
async def test_a_lone_surrogate_fails_its_own_item_before_the_journal(
    sandbox: ZyntroSandbox, tmp_path: Path, field: str
) -> None:
    ids = sandbox.seed(10)
    bad = ids[4]

    def item(cid: str) -> ProfileRequest:
        fields = {"contact_id": cid, "source": "Utf", "key": cid}
        if cid == bad:
            fields[field] = fields[field] + "\ud800"
        return ProfileRequest(fields["contact_id"], {"n": 1}, fields["source"], key=fields["key"])

    items = [item(cid) for cid in ids]
    journal = tmp_path / "run.db"
    async with client_for(sandbox) as client:
        runs = [client.bulk_add_profiles(items, concurrency=10, journal=journal) for _ in "12"]
        first = await collect(runs[0])
        second = await collect(runs[1])

    for run, results, done in ((runs[0], first, False), (runs[1], second, True)):
        assert run.report is not None
        assert run.report.stopped is None
        assert (run.report.total, run.report.failed) == (10, 1)
        (failed,) = [r for r in results if not r.ok]
        assert isinstance(failed.error, ValidationError)
        assert "UTF-8" in str(failed.error)
        assert all(r.skipped is done for r in results if r.ok)
    assert sandbox.profiles(bad) == []
    assert all(len(sandbox.profiles(cid)) == 1 for cid in ids if cid != bad)
