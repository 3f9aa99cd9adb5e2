"""A re-run on a journal answers each item from what the journal holds for its key.

Done items are skipped with their profile; an item that failed for its own reason is
reported as a ``PreviousFailure`` and not sent, unless ``retry_failed=True``; an item whose
failure was not its own (a refusal by the rate limit) is sent again; a key met with another
payload is that item's ``JOURNAL_KEY_CONFLICT``, and nothing is sent for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from zyntro_async import BulkResult, Profile, ProfileRequest, RetryPolicy, ZyntroClient
from zyntro_async.errors import (
    JournalConflictError,
    NotFoundError,
    PreviousFailure,
    ValidationError,
)
from zyntro_async.testing import Fault, ZyntroSandbox

ADD = "addProfileToContact"
MISSING = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
async def sandbox() -> AsyncIterator[ZyntroSandbox]:
    async with ZyntroSandbox(seed=77) as sb:
        yield sb


def _client(sb: ZyntroSandbox, **kwargs: Any) -> ZyntroClient:
    return ZyntroClient(**sb.credentials, base_url=sb.base_url, **kwargs)


async def _run(
    client: ZyntroClient, requests: list[ProfileRequest], **options: Any
) -> list[BulkResult[Profile]]:
    """The run's results in input order (a run yields them as they finish)."""
    results = [r async for r in client.bulk_add_profiles(requests, concurrency=1, **options)]
    return [next(r for r in results if r.request == request) for request in requests]


async def test_a_rerun_answers_each_item_from_its_journal_entry(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    ok_id, refused_id = sandbox.seed(2)
    journal = tmp_path / "run.db"
    items = [
        ProfileRequest(ok_id, {"v": 1}, "S", key="ok"),
        ProfileRequest(MISSING, {"v": 1}, "S", key="missing"),  # the item's own failure
        ProfileRequest(refused_id, {"v": 1}, "S", key="refused"),  # not the item's failure
        ProfileRequest(ok_id, {}, "S", key="invalid"),  # refused before it is sent
    ]
    # One at a time, no retries: the third add sent is refused by the rate limit.
    sandbox.script(ADD, None, None, Fault.RATE_LIMIT)
    async with _client(sandbox, retry=RetryPolicy(max_attempts=1)) as client:
        first = await _run(client, items, journal=journal)
    ok, missing, refused, invalid = first
    assert ok.ok
    assert ok.value is not None
    assert isinstance(missing.error, NotFoundError)
    assert not refused.ok
    assert refused.error is not None
    assert not refused.unknown  # a refusal: certainly not applied
    assert isinstance(invalid.error, ValidationError)
    assert sandbox.profiles(refused_id) == []
    sent_before = sandbox.stats[ADD].requests

    conflicting = ProfileRequest(ok_id, {"v": 2}, "S", key="ok")
    async with _client(sandbox) as client:
        second = await _run(client, [*items, conflicting], journal=journal)
    ok2, missing2, refused2, invalid2, conflict2 = second
    assert ok2.ok
    assert ok2.skipped
    assert ok2.value is not None
    assert ok2.value.id == ok.value.id
    assert isinstance(missing2.error, PreviousFailure)
    assert missing2.error.code == "NOT_FOUND"
    assert "an earlier run" in str(missing2.error)
    assert isinstance(invalid2.error, PreviousFailure)
    assert invalid2.error.code == invalid.error.code
    assert refused2.ok  # sent again, and added once
    assert not refused2.skipped
    assert len(sandbox.profiles(refused_id)) == 1
    assert isinstance(conflict2.error, JournalConflictError)
    assert conflict2.error.code == "JOURNAL_KEY_CONFLICT"
    assert len(sandbox.profiles(ok_id)) == 1
    assert sandbox.stats[ADD].requests == sent_before + 1  # only the refused item was sent

    async with _client(sandbox) as client:
        third = await _run(client, items, journal=journal, retry_failed=True)
    ok3, missing3, refused3, invalid3 = third
    assert ok3.skipped
    assert refused3.skipped
    assert isinstance(missing3.error, NotFoundError)  # sent again, and refused again
    assert isinstance(invalid3.error, ValidationError)  # checked again, never sent
    assert sandbox.stats[ADD].requests == sent_before + 2
