"""The PostgreSQL ledger: a :class:`._journal_store.JournalStore` several processes share.

The contract is in :mod:`._journal_store`; this is how one table in a PostgreSQL database
keeps it for many processes on many machines at once (the URL: :mod:`._ledger_url`).

Leases: every store has a random holder token. A claim that marks a key ``sent`` writes
the token and ``held_until = now() + lease + request timeout`` from the database's clock,
so no process trusts its own clock. While the store is open it renews ``held_until`` of
every key it holds ``sent`` every third of a lease (one statement), so a request in flight
keeps its key however long its retries take. A claim of a key ``sent`` under another
holder whose ``held_until`` has not passed is answered :attr:`Verdict.HELD` and sends
nothing; one whose ``held_until`` has passed (its holder died, or lost the database) is
claimed as :attr:`Verdict.UNCONFIRMED`, and the pipeline reconciles it before it sends.
Every outcome checks the token: ``mark_done``/``mark_failed`` apply only to a key no store
has claimed or this store claimed last; one another store took over meanwhile is logged
and left to it.
A clean close ends the lease of what the store still holds ``sent`` (requests it cancelled),
but not the request timeout, as such a request may still land: the next claim of one of
them waits that long, then reconciles it.

Claims: queued claims are decided together in one transaction: an ``INSERT ... ON
CONFLICT DO NOTHING`` creates the keys no one has (in key order, so two stores never wait
on each other in a cycle), then ``SELECT ... FOR UPDATE SKIP LOCKED`` locks the others --
a key another store is deciding this instant is skipped and answered ``HELD`` -- and
:func:`decide` rules on each locked entry, as in every store. Outcomes are buffered and
written together (group commit) before the next claims and reads, so reads see them.

Durability: PostgreSQL's commit (``synchronous_commit`` on, its default) is durable before
a claim returns. A failure of the database or the connection fails the waiting operations
and every later one with :class:`JournalError`: the run stops, and its items stay ``sent``
for the next run (or another worker, after their lease) to reconcile.

The driver is psycopg 3 (``psycopg``, the ``postgres`` extra), imported when a ledger
opens.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ._exceptions import JournalError
from ._journal_pg_connect import connect
from ._journal_pg_sql import Statements
from ._journal_store import (
    Claim,
    Claimed,
    JournalEntry,
    JournalState,
    Verdict,
    decide,
)
from ._ledger_url import LedgerURL, parse_ledger_url
from ._payload import is_utf8

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresJournal"]

T = TypeVar("T")
_log = logging.getLogger("zyntro_async.journal")
_DEADLOCK = "40P01"  # SQLSTATE deadlock_detected
_DEADLOCK_RETRIES = 5
_CLOSE_TIMEOUT = 30.0  # seconds a close waits for its last writes before it gives up
_STATES = {s.value: s for s in JournalState}
_MARK_FIELDS = ("k", "st", "c", "s", "d", "p", "e", "at")  # an outcome, as the SQL's arrays


def _check(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if not is_utf8(value) or "\x00" in value:
        raise ValueError(f"{name} is not storable text (a lone surrogate or a NUL)")


def _entry(row: tuple[Any, ...]) -> JournalEntry:
    key, state, contact_id, source, digest, profile_id, code, attempts, at = row[:9]
    return JournalEntry(key, _STATES[state], contact_id, source, digest, profile_id, code,
                        attempts, at)  # fmt: skip


async def _retried(transaction: Callable[[], Awaitable[T]]) -> T:
    """Run ``transaction`` again if PostgreSQL broke a deadlock by aborting it (two stores'
    outcomes for the same keys met in opposite orders): it rolled back, so redoing it is
    safe. Claims never wait in a cycle, so this is for the rare outcome written to a key
    another store is writing too."""
    for attempt in range(_DEADLOCK_RETRIES):
        try:
            return await transaction()
        except Exception as exc:
            if getattr(exc, "sqlstate", None) != _DEADLOCK or attempt == _DEADLOCK_RETRIES - 1:
                raise
            await asyncio.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")


class PostgresJournal:
    """A journal store in a PostgreSQL table, shared by every process given the same URL
    and run. Open with ``await PostgresJournal.open(url, grace=...)``; use from one event
    loop."""

    def __init__(self, url: LedgerURL, conn: psycopg.AsyncConnection[Any], grace: float) -> None:
        """Internal: use :meth:`open`."""
        self._url = url
        self._conn = conn
        self._sql = Statements(url.table)
        self._holder = secrets.token_hex(16)
        self._grace = grace
        self._hold = url.lease + grace
        self._loop = asyncio.get_running_loop()
        self._claims: list[tuple[Claim, asyncio.Future[Claimed]]] = []
        self._marks: list[dict[str, Any]] = []
        self._reads: list[tuple[str, asyncio.Future[JournalEntry | None]]] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._kick = asyncio.Event()
        self._closing = False
        self._failure: BaseException | None = None
        self._failure_reported = False
        self._close_task: asyncio.Task[None] | None = None
        self._worker = self._loop.create_task(self._run(), name="zyntro-ledger")

    @classmethod
    async def open(cls, url: str, *, grace: float | None = None) -> PostgresJournal:
        """Connect to the ledger at ``url`` (creating its tables if absent). ``grace`` is
        the request timeout: how long past a dead holder's lease its request may still
        land (None: 30 s). Workers of any shard split share a run: claims are per key."""
        parsed = parse_ledger_url(url)
        conn = await connect(parsed)
        return cls(parsed, conn, 30.0 if grace is None else grace)

    async def __aenter__(self) -> PostgresJournal:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<PostgresJournal {self._url.shown!r} run={self._url.run!r}>"

    @property
    def path(self) -> str:
        """The ledger's URL, its password masked."""
        return self._url.shown

    # -- operations ----------------------------------------------------------------------

    async def claim(self, claim: Claim) -> Claimed:
        """Decide ``claim`` (:func:`decide`, and the lease) and, if it sends, mark the key
        sent under this store's lease; returns once committed."""
        self._check_usable()
        if type(claim) is not Claim:
            raise TypeError(f"claim must be a Claim, not {type(claim).__name__}")
        for name in ("key", "contact_id", "source", "payload_digest"):
            _check(name, getattr(claim, name))
        fut: asyncio.Future[Claimed] = self._loop.create_future()
        self._claims.append((claim, fut))
        self._kick.set()
        return await fut

    async def get(self, key: str) -> JournalEntry | None:
        self._check_usable()
        _check("key", key)
        fut: asyncio.Future[JournalEntry | None] = self._loop.create_future()
        self._reads.append((key, fut))
        self._kick.set()
        return await fut

    def mark_done(
        self,
        key: str,
        *,
        profile_id: int | None,
        contact_id: str | None = None,
        source: str | None = None,
        payload_digest: str | None = None,
    ) -> None:
        if profile_id is not None and (type(profile_id) is bool or not isinstance(profile_id, int)):
            raise TypeError(f"profile_id must be an int or None, not {type(profile_id).__name__}")
        self._mark(key, "done", profile_id, None, contact_id, source, payload_digest)

    def mark_failed(
        self,
        key: str,
        *,
        error_code: str,
        contact_id: str | None = None,
        source: str | None = None,
        payload_digest: str | None = None,
    ) -> None:
        _check("error_code", error_code)
        self._mark(key, "failed", None, error_code, contact_id, source, payload_digest)

    async def flush(self) -> None:
        self._check_usable()
        fut: asyncio.Future[None] = self._loop.create_future()
        self._waiters.append(fut)
        self._kick.set()
        await fut

    async def close(self) -> None:
        """Write what is buffered, release what this store holds, and disconnect;
        idempotent. Bounded: a database that does not answer is given up on after 30 s."""
        if self._close_task is None:
            self._closing = True
            self._kick.set()
            self._close_task = self._loop.create_task(self._close())
        elif self._close_task.done():
            return
        await asyncio.shield(self._close_task)

    # -- internals -----------------------------------------------------------------------

    def _mark(
        self,
        key: str,
        state: str,
        profile_id: int | None,
        code: str | None,
        contact_id: str | None,
        source: str | None,
        digest: str | None,
    ) -> None:
        self._check_usable()
        _check("key", key)
        for name, value in (("contact_id", contact_id), ("source", source), ("payload", digest)):
            if value is not None:
                _check(name, value)
        self._marks.append(
            {"k": key, "st": state, "c": contact_id, "s": source, "d": digest,
             "p": profile_id, "e": code, "at": time.time()}
        )  # fmt: skip
        self._kick.set()

    def _check_usable(self) -> None:
        if self._failure is not None or self._closing:
            raise self._error()

    def _error(self) -> JournalError:
        if self._failure is None:
            return JournalError(f"journal {self._url.shown!r} is closed")
        self._failure_reported = True
        return JournalError(f"journal {self._url.shown!r} failed: {self._failure}")

    async def _close(self) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(self._worker), _CLOSE_TIMEOUT)
        except asyncio.CancelledError:
            if not self._worker.cancelled():  # this close was cancelled, not the task
                raise
        except asyncio.TimeoutError:
            self._worker.cancel()
            if self._failure is None:
                self._failure = JournalError("the database did not answer within 30 s")
        finally:
            await self._conn.close()
        if self._failure is not None and not self._failure_reported:
            raise self._error()

    async def _run(self) -> None:
        """The store's one task: write batches, and renew the leases every third of one.

        Cancelled (a loop shutting down cancels every task at once, the run's clean-up
        included), it takes no more writes but still writes what is queued, for at most
        the close's bound, then ends cancelled."""
        interrupted = False
        try:
            try:
                await self._serve()
            except asyncio.CancelledError:
                interrupted = self._closing = True
                try:
                    await asyncio.wait_for(self._serve(), _CLOSE_TIMEOUT)
                except asyncio.TimeoutError:
                    self._failure = JournalError("the database did not answer within 30 s")
        except Exception as exc:  # the database, the connection, or a bug: loud, never hung
            self._failure = JournalError(self._url.scrub(str(exc)).strip() or type(exc).__name__)
        except asyncio.CancelledError:  # cancelled again while writing what was queued
            if self._failure is None:
                self._failure = JournalError("the ledger's task was cancelled")
            raise
        finally:
            if self._failure is not None:
                self._fail_all()
        if interrupted:
            raise asyncio.CancelledError

    async def _serve(self) -> None:
        renew_every = self._url.lease / 3
        renewed = time.monotonic()
        while True:
            if not self._closing:
                wait = max(0.0, renewed + renew_every - time.monotonic())
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._kick.wait(), wait)
            self._kick.clear()
            if time.monotonic() >= renewed + renew_every:
                renewed = time.monotonic()
                await self._conn.execute(self._sql.renew, (self._hold, self._url.run, self._holder))
            await self._apply()
            if self._closing and not (self._claims or self._marks or self._reads):
                release = (self._grace, self._url.run, self._holder)
                await self._conn.execute(self._sql.release, release)
                return

    def _fail_all(self) -> None:
        futures: list[asyncio.Future[Any]] = [f for _, f in self._claims]
        futures += [f for _, f in self._reads] + self._waiters
        self._claims, self._reads, self._waiters, self._marks = [], [], [], []
        for fut in futures:
            if not fut.done():
                fut.set_exception(self._error())

    async def _apply(self) -> None:
        """Outcomes, then claims, then reads; then wake the flush waiters."""
        marks, self._marks = self._marks, []
        waiters, self._waiters = self._waiters, []
        if marks:
            try:
                await self._write_marks(marks)
            except asyncio.CancelledError:
                # Queued again for the writes a cancelled store still makes before it
                # ends; writing an outcome twice is harmless (the same row, same values).
                self._marks[:0] = marks
                raise
        while self._claims:
            await self._claim_batch()
        reads, self._reads = self._reads, []
        for key, fut in reads:
            cur = await self._conn.execute(self._sql.read, (self._url.run, key))
            row = await cur.fetchone()
            if not fut.done():
                fut.set_result(None if row is None else _entry(row))
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _write_marks(self, marks: list[dict[str, Any]]) -> None:
        """Write the outcomes, each key's in call order (a key marked twice: two rounds)."""
        lost = 0
        while marks:
            now: dict[str, dict[str, Any]] = {}
            later = []
            for mark in marks:
                if mark["k"] in now:
                    later.append(mark)
                else:
                    now[mark["k"]] = mark
            marks = later
            ordered = [now[key] for key in sorted(now)]
            lost += await _retried(functools.partial(self._write_round, ordered))
        if lost:
            _log.warning(
                "journal %s: %d outcome(s) not recorded: another worker holds the key (it "
                "claimed it first, or took it over after this one's lease ran out) and settles it",
                self._url.shown,
                lost,
            )

    async def _write_round(self, marks: list[dict[str, Any]]) -> int:
        """One outcome per key, in key order; returns how many were refused. Each
        statement is atomic on its own (autocommit): one round trip each."""
        columns = {name: [m[name] for m in marks] for name in _MARK_FIELDS}
        params: dict[str, Any] = {"run": self._url.run, "holder": self._holder, **columns}
        async with self._conn.cursor() as cur:
            await cur.execute(self._sql.mark_held, params)
            written = {key for (key,) in await cur.fetchall()}
            if len(written) < len(marks):
                rest = [m for m in marks if m["k"] not in written]
                params.update({name: [m[name] for m in rest] for name in _MARK_FIELDS})
                await cur.execute(self._sql.mark_new, params)
                written.update(key for (key,) in await cur.fetchall())
        return len(marks) - len(written)

    async def _claim_batch(self) -> None:
        """Decide the queued claims (one per key; a repeat waits for the next batch)."""
        batch: dict[str, tuple[Claim, asyncio.Future[Claimed]]] = {}
        later = []
        for claim, fut in self._claims:
            if fut.cancelled():  # its item was cancelled: nothing will be sent for it
                continue
            if claim.key in batch:
                later.append((claim, fut))
            else:
                batch[claim.key] = (claim, fut)
        self._claims = later
        if not batch:
            return
        keys = sorted(batch)
        answers = await self._decide(batch, keys)
        for key in keys:
            fut = batch[key][1]
            if not fut.done():  # a key skipped as locked is being decided by another store
                fut.set_result(answers.get(key, Claimed(None, Verdict.HELD)))

    async def _decide(
        self, batch: dict[str, tuple[Claim, asyncio.Future[Claimed]]], keys: list[str]
    ) -> dict[str, Claimed]:
        """Create the keys no one has (one statement, committed on its own); then, in one
        transaction, lock the others and rule on them. Neither waits in a cycle on
        another store: inserts go in key order, and a lock taken is skipped."""
        claims = [batch[k][0] for k in keys]
        now = time.time()
        answers: dict[str, Claimed] = {}
        run, holder, sql = self._url.run, self._holder, self._sql
        async with self._conn.cursor() as cur:
            await cur.execute(
                sql.insert_new,
                (run, now, holder, self._hold, keys, [c.contact_id for c in claims],
                 [c.source for c in claims], [c.payload_digest for c in claims]),
            )  # fmt: skip
            for (key,) in await cur.fetchall():
                answers[key] = Claimed(None, Verdict.NEW)
        rest = [k for k in keys if k not in answers]
        if not rest:
            return answers
        sends = []
        async with self._conn.transaction(), self._conn.cursor() as cur:
            await cur.execute(sql.lock_existing, (run, rest))
            for row in await cur.fetchall():
                entry = _entry(row)
                claim = batch[entry.key][0]
                verdict = decide(entry, claim)
                if verdict is Verdict.UNCONFIRMED and row[9] not in (None, holder) and row[10]:
                    verdict = Verdict.HELD  # sent under another holder's live lease
                answers[entry.key] = Claimed(entry, verdict)
                if verdict.sends:
                    sends.append((claim.contact_id, claim.source, claim.payload_digest, now,
                                  holder, self._hold, run, claim.key))  # fmt: skip
            if sends:
                await cur.executemany(sql.mark_sent, sends)
        return answers
