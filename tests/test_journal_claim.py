"""Journal.claim: read an entry and write-ahead the key in one transaction, decided on data.

A journaled bulk add relies on it: a key is marked sent only when the claim's rule says so
(the expected contact, source and payload, and the failure codes that settle an item, all
passed as data), a second claim of the same key in the same commit sees the first, a mark
queued before a claim returns is applied after it, and a bad claim fails only itself.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from zyntro_async._journal import Claim, Journal, JournalState
from zyntro_async._journal_store import Verdict

TIMEOUT = 10.0


def _c(key: str = "k", *, digest: str = "d", settled: frozenset[str] = frozenset()) -> Claim:
    return Claim(key, "c1", "s", digest, settled=settled)


async def _claim(j: Journal, claim: Claim):  # type: ignore[no-untyped-def]
    return await asyncio.wait_for(j.claim(claim), TIMEOUT)


async def test_claim_marks_a_new_key_sent_and_reports_no_earlier_entry(tmp_path: Path) -> None:
    async with await Journal.open(tmp_path / "j.db") as j:
        claimed = await _claim(j, _c())
        assert (claimed.entry, claimed.verdict, claimed.sent) == (None, Verdict.NEW, True)
        stored = await j.get("k")
        assert stored is not None
        assert stored.state is JournalState.SENT
        assert stored.attempts == 1
        assert (stored.contact_id, stored.source, stored.payload_digest) == ("c1", "s", "d")


async def test_a_claim_of_a_done_key_writes_nothing(tmp_path: Path) -> None:
    async with await Journal.open(tmp_path / "j.db") as j:
        j.mark_done("k", profile_id=7, contact_id="c1", source="s", payload_digest="d")
        claimed = await _claim(j, _c())
        assert (claimed.verdict, claimed.sent) == (Verdict.DONE, False)
        assert claimed.entry is not None
        assert claimed.entry.profile_id == 7
        after = await j.get("k")
        assert after is not None
        assert (after.state, after.attempts) == (JournalState.DONE, 0)


async def test_a_claim_for_another_payload_writes_nothing(tmp_path: Path) -> None:
    async with await Journal.open(tmp_path / "j.db") as j:
        await _claim(j, _c(digest="d1"))
        j.mark_failed("k", error_code="SERVER_ERROR")
        claimed = await _claim(j, _c(digest="d2"))
        assert (claimed.verdict, claimed.sent) == (Verdict.CONFLICT, False)
        after = await j.get("k")
        assert after is not None
        assert (after.state, after.payload_digest, after.attempts) == (
            JournalState.FAILED,
            "d1",
            1,
        )
        # Unless the claim says the payload may differ: the new one is recorded.
        claim = Claim("k", "c1", "s", "d2", match_payload=False)
        assert (await _claim(j, claim)).verdict is Verdict.RETRY
        after = await j.get("k")
        assert after is not None
        assert (after.state, after.payload_digest, after.attempts) == (JournalState.SENT, "d2", 2)


async def test_a_settled_failure_is_not_claimed_and_another_is(tmp_path: Path) -> None:
    async with await Journal.open(tmp_path / "j.db") as j:
        j.mark_failed("k", error_code="NOT_FOUND", contact_id="c1", source="s")
        settled = frozenset({"NOT_FOUND"})
        claimed = await _claim(j, _c(settled=settled))
        assert (claimed.verdict, claimed.sent) == (Verdict.FAILED, False)
        claimed = await _claim(j, _c())  # retry_failed: no code settles an item
        assert (claimed.verdict, claimed.sent) == (Verdict.RETRY, True)


async def test_two_claims_of_one_key_in_one_commit_see_each_other(tmp_path: Path) -> None:
    async with await Journal.open(tmp_path / "j.db") as j:
        first, second = await asyncio.gather(_claim(j, _c()), _claim(j, _c()))
        assert first.verdict is Verdict.NEW
        assert second.verdict is Verdict.UNCONFIRMED  # sent by the first, outcome unknown
        assert second.entry is not None
        assert (second.entry.state, second.entry.attempts) == (JournalState.SENT, 1)
        stored = await j.get("k")
        assert stored is not None
        assert stored.attempts == 2


async def test_a_mark_queued_before_the_claim_returns_lands_after_it(tmp_path: Path) -> None:
    async with await Journal.open(tmp_path / "j.db", flush_interval=3600) as j:
        claimed = asyncio.ensure_future(j.claim(_c()))
        await asyncio.sleep(0)  # the claim is queued; its commit has not run
        j.mark_done("k", profile_id=9)
        assert (await asyncio.wait_for(claimed, TIMEOUT)).sent
        stored = await j.get("k")
        assert stored is not None
        assert (stored.state, stored.profile_id, stored.attempts) == (JournalState.DONE, 9, 1)


async def test_claim_counts_attempts_across_resends(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with await Journal.open(path) as j:
        await _claim(j, _c())
    async with await Journal.open(path) as j:
        claimed = await _claim(j, _c())
        assert claimed.verdict is Verdict.UNCONFIRMED
        assert claimed.entry is not None
        assert claimed.entry.state is JournalState.SENT
        stored = await j.get("k")
        assert stored is not None
        assert stored.attempts == 2


@pytest.mark.parametrize("bad", [None, 5, b"k"])
async def test_claim_refuses_a_bad_key_at_the_call(tmp_path: Path, bad: object) -> None:
    async with await Journal.open(tmp_path / "j.db") as j:
        with pytest.raises((TypeError, ValueError)):
            await j.claim(Claim(bad, "c", "s", "d"))  # type: ignore[arg-type]


@pytest.mark.parametrize("settled", [None, ["NOT_FOUND"], "NOT_FOUND"])
async def test_a_bad_rule_fails_only_its_own_claim(tmp_path: Path, settled: object) -> None:
    async with await Journal.open(tmp_path / "j.db") as j:
        bad_claim = Claim("a", "c", "s", "d", settled=settled)  # type: ignore[arg-type]
        bad, good = await asyncio.gather(
            j.claim(bad_claim), _claim(j, _c("b")), return_exceptions=True
        )
        assert isinstance(bad, TypeError)
        assert not isinstance(good, BaseException)
        assert good.sent
        assert await j.get("a") is None
        assert (await _claim(j, _c("c"))).sent  # the journal still works
