"""Journal.claim: read an entry and write-ahead the key in one transaction.

A journaled bulk add relies on it: a key is marked sent only when the caller's rule says
so, a second claim of the same key in the same commit sees the first, and one bad rule
fails only its own claim.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from zyntro_async._journal import Journal, JournalEntry, JournalState

TIMEOUT = 10.0


def _always(entry: JournalEntry | None) -> bool:
    return True


async def _claim(j: Journal, key: str, send_if=_always):  # type: ignore[no-untyped-def]
    return await asyncio.wait_for(
        j.claim(key, contact_id="c1", source="s", payload_digest="d", send_if=send_if), TIMEOUT
    )


async def test_claim_marks_a_new_key_sent_and_reports_no_earlier_entry(tmp_path: Path) -> None:
    async with await Journal.open(tmp_path / "j.db") as j:
        entry, marked = await _claim(j, "k")
        assert (entry, marked) == (None, True)
        stored = await j.get("k")
        assert stored is not None
        assert stored.state is JournalState.SENT
        assert stored.attempts == 1


async def test_claim_refused_by_the_rule_writes_nothing(tmp_path: Path) -> None:
    async with await Journal.open(tmp_path / "j.db") as j:
        j.mark_done("k", profile_id=7, contact_id="c1", source="s", payload_digest="d")
        entry, marked = await _claim(
            j, "k", lambda e: e is None or e.state is not JournalState.DONE
        )
        assert not marked
        assert entry is not None
        assert entry.state is JournalState.DONE
        assert entry.profile_id == 7
        after = await j.get("k")
        assert after is not None
        assert after.state is JournalState.DONE


async def test_two_claims_of_one_key_in_one_commit_see_each_other(tmp_path: Path) -> None:
    async with await Journal.open(tmp_path / "j.db") as j:
        first, second = await asyncio.gather(
            _claim(j, "k", lambda e: e is None), _claim(j, "k", lambda e: e is None)
        )
        assert first == (None, True)
        entry, marked = second
        assert not marked
        assert entry is not None
        assert entry.state is JournalState.SENT


async def test_a_rule_that_raises_fails_only_its_own_claim(tmp_path: Path) -> None:
    def broken(entry: JournalEntry | None) -> bool:
        raise RuntimeError("boom")

    async with await Journal.open(tmp_path / "j.db") as j:
        bad, good = await asyncio.gather(
            _claim(j, "a", broken), _claim(j, "b"), return_exceptions=True
        )
        assert isinstance(bad, RuntimeError)
        assert good == (None, True)
        assert await j.get("a") is None
        await _claim(j, "c")  # the journal still works


async def test_claim_counts_attempts_across_resends(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with await Journal.open(path) as j:
        await _claim(j, "k")
    async with await Journal.open(path) as j:
        entry, marked = await _claim(j, "k")
        assert marked
        assert entry is not None
        assert entry.state is JournalState.SENT
        stored = await j.get("k")
        assert stored is not None
        assert stored.attempts == 2


@pytest.mark.parametrize("bad", [None, 5, b"k"])
async def test_claim_refuses_a_bad_key_at_the_call(tmp_path: Path, bad: object) -> None:
    async with await Journal.open(tmp_path / "j.db") as j:
        with pytest.raises((TypeError, ValueError)):
            await j.claim(bad, contact_id="c", source="s", payload_digest="d", send_if=_always)  # type: ignore[arg-type]
