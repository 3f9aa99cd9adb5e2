"""An add whose answer cannot be parsed may have been applied: it is reconciled, never
re-sent blindly and never reported as "failed, not applied".

A raw-TCP front forwards each request to the sandbox (the add IS stored) and then answers
with bytes aiohttp cannot parse: a garbled status line, 10,000 headers, one 100 KB header.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from zyntro_async import APIConnectionError, ProfileRequest, RetryPolicy, Timeout, ZyntroClient
from zyntro_async.testing import ZyntroSandbox

from ._raw_front import GARBAGE, raw_front

ADD = "addProfileToContact"


def client_at(sb: ZyntroSandbox, base_url: str, **kwargs: Any) -> ZyntroClient:
    return ZyntroClient(
        **sb.credentials, base_url=base_url, timeout=Timeout(connect=5, read=5, total=10), **kwargs
    )


@pytest.mark.parametrize("garbage", sorted(GARBAGE))
async def test_an_applied_add_with_an_unparseable_answer_is_recovered(garbage: str) -> None:
    async with ZyntroSandbox(seed=221) as sb:
        (cid,) = sb.seed(1)

        def answer(endpoint: str, status: int, body: bytes) -> bytes | None:
            return GARBAGE[garbage](endpoint, status, body) if endpoint == ADD else None

        async with raw_front(sb, answer) as base, client_at(sb, base) as client:
            profile = await client.add_profile_to_contact(cid, {"n": 1}, "Raw")

        records = sb.profiles(cid)
        assert len(records) == 1
        assert profile.id == records[0]["profile_id"]
        assert sb.stats[ADD].requests == 1  # looked up, never sent again


@pytest.mark.parametrize("garbage", sorted(GARBAGE))
async def test_a_journaled_rerun_never_adds_twice_after_unparseable_answers(
    garbage: str, tmp_path: Path
) -> None:
    """Every answer is garbage, the look-ups' too: nothing can be settled, so every item is
    ``unknown``; the journal keeps them sent, and the re-run (the README's advice) finds
    the records instead of adding them again."""
    journal = tmp_path / "run.db"
    async with ZyntroSandbox(seed=222) as sb:
        ids = sb.seed(10)
        items = [ProfileRequest(cid, {"n": n}, "Raw", key=cid) for n, cid in enumerate(ids)]
        # An add in doubt looks until its deadline: a short one ends the first run soon.
        policy = RetryPolicy(deadline=1.0)
        async with (
            raw_front(sb, GARBAGE[garbage]) as base,
            client_at(sb, base, retry=policy) as client,
        ):
            first = [r async for r in client.bulk_add_profiles(items, journal=journal)]

        assert len(first) == 10
        assert all(not r.ok and r.unknown for r in first), first
        assert all(isinstance(r.error, APIConnectionError) for r in first)
        assert all(len(sb.profiles(cid)) == 1 for cid in ids)

        async with client_at(sb, sb.base_url) as client:
            second = [r async for r in client.bulk_add_profiles(items, journal=journal)]

        assert all(r.ok and r.recovered for r in second), second
        assert {cid: len(sb.profiles(cid)) for cid in ids} == dict.fromkeys(ids, 1)
