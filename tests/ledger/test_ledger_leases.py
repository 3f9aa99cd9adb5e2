"""The ledger's leases, store against store on a real PostgreSQL: a key sent under a live
lease is not claimed by another holder, a lease is renewed while its holder lives, an
expired one is taken over as unconfirmed, and an outcome from a holder that lost its lease
does not overwrite the new holder's."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid

from zyntro_async._journal_postgres import PostgresJournal
from zyntro_async._journal_store import Claim, JournalState, Verdict


def _url(pg_url: str, lease: float) -> str:
    return f"{pg_url}?run={uuid.uuid4().hex}&lease={lease}"


def _claim(key: str) -> Claim:
    return Claim(key, "c-" + key, "S", "d-" + key)


async def test_a_live_lease_holds_the_key_and_is_renewed(pg_url: str) -> None:
    url = _url(pg_url, 0.6)
    async with (
        await PostgresJournal.open(url, grace=0.0) as a,
        await PostgresJournal.open(url, grace=0.0) as b,
    ):
        assert (await a.claim(_claim("k"))).verdict is Verdict.NEW
        await asyncio.sleep(1.5)  # over twice the lease: only renewals keep it
        held = await b.claim(_claim("k"))
        assert held.verdict is Verdict.HELD
        assert not held.sent
        a.mark_done("k", profile_id=7)
        await a.flush()
        done = await b.claim(_claim("k"))
        assert done.verdict is Verdict.DONE
        assert done.entry is not None
        assert done.entry.profile_id == 7


class Holder:
    """A holder in another process (``tests.ledger._holder``), to kill or freeze."""

    def __init__(self, url: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.ledger._holder"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "LEDGER_URL": url},
        )  # fmt: skip
        assert self.ask(None) == "ready"

    def ask(self, line: str | None) -> str:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        if line is not None:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


async def test_a_dead_holders_key_is_taken_over_as_unconfirmed(pg_url: str) -> None:
    url = _url(pg_url, 0.5)
    holder = Holder(url)
    try:
        assert holder.ask("claim k") == "new"
        async with await PostgresJournal.open(url, grace=0.0) as b:
            assert (await b.claim(_claim("k"))).verdict is Verdict.HELD
            holder.proc.send_signal(signal.SIGKILL)
            holder.proc.wait(10)
            assert (await b.claim(_claim("k"))).verdict is Verdict.HELD  # lease not over
            await asyncio.sleep(0.8)
            taken = await b.claim(_claim("k"))
            assert taken.verdict is Verdict.UNCONFIRMED  # reconciled before it is re-sent
            assert taken.entry is not None
            assert taken.entry.state is JournalState.SENT
            b.mark_done("k", profile_id=11)
            await b.flush()
            entry = await b.get("k")
            assert entry is not None
            assert entry.state is JournalState.DONE
            assert entry.attempts == 2
    finally:
        holder.stop()


async def test_an_outcome_after_losing_the_lease_is_not_recorded(pg_url: str) -> None:
    url = _url(pg_url, 0.5)
    holder = Holder(url)
    try:
        assert holder.ask("claim k") == "new"
        holder.proc.send_signal(signal.SIGSTOP)  # a holder frozen past its lease
        await asyncio.sleep(0.8)
        async with await PostgresJournal.open(url, grace=0.0) as b:
            assert (await b.claim(_claim("k"))).verdict is Verdict.UNCONFIRMED
            b.mark_failed("k", error_code="NOT_FOUND")
            await b.flush()
            holder.proc.send_signal(signal.SIGCONT)
            assert holder.ask("done k 5") == "ok"  # its outcome comes too late
            entry = await b.get("k")
            assert entry is not None
            assert entry.state is JournalState.FAILED
            assert entry.error_code == "NOT_FOUND"
    finally:
        holder.stop()


async def test_two_stores_claiming_the_same_keys_send_each_once(pg_url: str) -> None:
    url = _url(pg_url, 5)
    keys = [f"k{i}" for i in range(200)]
    async with (
        await PostgresJournal.open(url, grace=0.0) as a,
        await PostgresJournal.open(url, grace=0.0) as b,
    ):
        answers = await asyncio.gather(*(store.claim(_claim(k)) for k in keys for store in (a, b)))
    asked = [k for k in keys for _ in (0, 1)]
    sent = [k for k, answer in zip(asked, answers, strict=True) if answer.sent]
    assert sorted(sent) == sorted(keys)  # each key sent by exactly one of them
    assert {answer.verdict for answer in answers} == {Verdict.NEW, Verdict.HELD}


async def test_a_clean_close_keeps_the_request_timeout_of_what_it_held(pg_url: str) -> None:
    url = _url(pg_url, 30)
    async with await PostgresJournal.open(url, grace=0.6) as a:
        assert (await a.claim(_claim("k"))).sent  # and then the run is cancelled: no outcome
    async with await PostgresJournal.open(url, grace=0.6) as b:
        # The lease (30 s) ended with the close; a cancelled request may still land within
        # the request timeout, so the key is held that long, then reconciled.
        assert (await b.claim(_claim("k"))).verdict is Verdict.HELD
        await asyncio.sleep(0.8)
        assert (await b.claim(_claim("k"))).verdict is Verdict.UNCONFIRMED
