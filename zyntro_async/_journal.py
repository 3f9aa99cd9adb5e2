"""The SQLite journal: one implementation of :class:`._journal_store.JournalStore`.

The contract (write-ahead claims, outcomes, reads, failures) is in :mod:`._journal_store`;
this is how a SQLite file on one machine keeps it.

Durability: WAL mode with ``synchronous=NORMAL``: a commit is in the WAL (``write(2)``) before
it returns, so it survives the process being killed (SIGKILL, OOM killer), not an OS crash or
power loss, which is not the failure this journal guards against.

Identity: a journal file deleted or replaced under a running journal would silently take
every later commit with it (SQLite writes on into the unlinked file). Each commit and the
close compare the files at the path (``st_dev``/``st_ino``) with the ones open; on a
mismatch the batch fails with :class:`JournalError` (the run stops), and what the open
connection holds is written back to the path if it is free (else next to it, as
``<path>.rescued``), so a re-run still knows what was sent.

Concurrency: one process per journal. The connection holds the database lock for its whole
life (``locking_mode=EXCLUSIVE``), so a second run on the file fails at :meth:`Journal.open`
with :class:`JournalError` ("journal is in use by another run") instead of interleaving
writes; the OS releases the lock when the owner exits, even on SIGKILL.

Threading: all SQLite work runs in one dedicated worker thread that owns the connection; the
event loop only queues operations and awaits futures, and a claim reaches the thread as
data (:class:`._journal_store.Claim`). A background flusher coalesces the operations of many
tasks into one transaction (group commit).

Group commit: queued operations are committed together when ``batch_size`` of them are queued
or ``flush_interval`` seconds after the first one, whichever comes first; claims, reads and
:meth:`Journal.flush` start a commit at once, and those queued while one runs ride the next,
so a caller waits about one commit.

Memory: nothing loads the whole table; SQLite's page cache and the WAL are capped at 32 MiB.
Every flush drains the buffer and a claim returns only after one, so the buffer holds at
most one batch plus one ``mark_done``/``mark_failed`` per item in flight. Marks are
synchronous and the flusher runs when the caller yields: code that marks many items
without awaiting should ``await flush()`` every few thousand calls.

Layout: this module is the event-loop side (operations, batch queue, flusher);
:mod:`._journal_sqlite` the file side (schema, statements, what the worker thread runs).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import sqlite3
import time
from types import TracebackType
from typing import Any

from ._digest import digest_or_none, item_key, payload_digest
from ._exceptions import JournalError
from ._journal_sqlite import (
    SQL_DONE,
    SQL_FAILED,
    Batch,
    FileIdentity,
    apply_batch,
    connect,
    keep_split,
    rescue,
)
from ._journal_store import Claim, Claimed, JournalEntry, JournalState
from ._payload import is_utf8
from ._shard import Shard

__all__ = [
    "Claim",
    "Claimed",
    "Journal",
    "JournalEntry",
    "JournalError",
    "JournalState",
    "digest_or_none",
    "item_key",
    "payload_digest",
]


def _connect(path: str) -> tuple[sqlite3.Connection, FileIdentity]:
    """Worker thread: open the journal and note which files it opened."""
    conn = connect(path)
    return conn, FileIdentity(path)


def _check_str(name: str, value: object, *, optional: bool = False) -> None:
    """Reject a bad argument at the call, before it can poison a shared batch: SQLite
    cannot store a string that is not valid UTF-8 (a lone surrogate), and one such row
    would fail the transaction of every operation batched with it."""
    if not (isinstance(value, str) or (optional and value is None)):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if isinstance(value, str) and not is_utf8(value):
        raise ValueError(f"{name} is not valid UTF-8 (a lone surrogate)")


def _check_optionals(contact_id: object, source: object, payload_digest: object) -> None:
    _check_str("contact_id", contact_id, optional=True)
    _check_str("source", source, optional=True)
    _check_str("payload_digest", payload_digest, optional=True)


class Journal:
    """Crash-safe, group-committed record of which bulk items were sent, done or failed:
    a :class:`~._journal_store.JournalStore` in a SQLite file.

    Open with ``await Journal.open(path)`` (or ``async with await Journal.open(path) as j``);
    use from one event loop.
    """

    def __init__(
        self,
        path: str,
        conn: sqlite3.Connection,
        executor: concurrent.futures.ThreadPoolExecutor,
        *,
        flush_interval: float,
        batch_size: int,
        files: FileIdentity | None = None,
    ) -> None:
        """Internal: use :meth:`open`."""
        self._path = path
        self._conn = conn  # only touched in the worker thread
        self._files = files  # likewise
        self._executor = executor
        self._flush_interval = flush_interval
        self._batch_size = batch_size
        self._loop = asyncio.get_running_loop()
        self._batch = Batch()
        self._kick = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._closing = False
        self._close_task: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self._failure_reported = False
        self._flusher = self._loop.create_task(self._run_flusher(), name="zyntro-journal-flusher")

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        flush_interval: float = 0.05,
        batch_size: int = 512,
        split: Shard | None = None,
    ) -> Journal:
        """Open (creating if needed) the journal at ``path`` and start its flusher.

        ``flush_interval`` is the longest a queued operation waits for its group commit and
        ``batch_size`` the number of queued operations that triggers one at once.
        ``split``: the run's shard split, recorded by the journal's first run and checked
        against it after (:func:`~._journal_store.check_split`); None: neither.

        Raises :class:`JournalError` if the file cannot be opened, is not a journal of this
        schema version, or is in use by another run; :class:`ConfigurationError` if it was
        made under another split.
        """
        if flush_interval < 0:
            raise ValueError("flush_interval must be >= 0")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        fspath = os.fspath(path)
        executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="zyntro-journal"
        )
        loop = asyncio.get_running_loop()
        try:
            conn, files = await loop.run_in_executor(executor, _connect, fspath)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        if split is not None:
            try:
                await loop.run_in_executor(executor, keep_split, conn, split, fspath)
            except BaseException:
                executor.submit(conn.close)
                executor.shutdown(wait=False)
                raise
        return cls(
            fspath,
            conn,
            executor,
            flush_interval=flush_interval,
            batch_size=batch_size,
            files=files,
        )

    async def __aenter__(self) -> Journal:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def path(self) -> str:
        """Filesystem path of the journal."""
        return self._path

    # -- public operations -------------------------------------------------------------------

    async def get(self, key: str) -> JournalEntry | None:
        """Return the entry for ``key`` (``None`` if pending), seeing every earlier mark."""
        self._check_usable()
        _check_str("key", key)
        fut: asyncio.Future[JournalEntry | None] = self._loop.create_future()
        self._batch.reads.append((key, fut))
        self._queued(urgent=True)
        return await fut

    async def claim(self, claim: Claim) -> Claimed:
        """Decide ``claim`` on its key's entry and, if it sends, mark the key sent, in one
        transaction; returns once that is committed (write-ahead: send after it returns).

        Increments ``attempts`` when it marks. If the caller is cancelled while waiting, the
        claim may still be committed: an item recorded ``sent`` but never sent is reconciled,
        never lost.
        """
        self._check_usable()
        if type(claim) is not Claim:
            raise TypeError(f"claim must be a Claim, not {type(claim).__name__}")
        if type(claim.settled) is not frozenset:  # the rule runs in the worker thread
            raise TypeError(
                f"Claim.settled must be a frozenset, not {type(claim.settled).__name__}"
            )
        key, contact_id, source = claim.key, claim.contact_id, claim.source
        if not (
            type(key) is str
            and type(contact_id) is str
            and type(source) is str
            and type(claim.payload_digest) is str
            and is_utf8(key)
            and is_utf8(contact_id)
            and is_utf8(source)
            and is_utf8(claim.payload_digest)
        ):
            _check_str("key", key)
            _check_str("contact_id", contact_id)
            _check_str("source", source)
            _check_str("payload_digest", claim.payload_digest)
        fut: asyncio.Future[Claimed] = self._loop.create_future()
        self._batch.add_claim(claim, time.time(), fut)
        self._queued(urgent=True)
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
        """Buffer "``key`` was created as ``profile_id``"; committed with the next batch.

        Creates the row if ``key`` was never marked sent; the optional fields fill it and,
        when given, overwrite the stored ones.
        """
        self._check_usable()
        _check_str("key", key)
        if profile_id is not None and (type(profile_id) is bool or not isinstance(profile_id, int)):
            raise TypeError(f"profile_id must be an int or None, not {type(profile_id).__name__}")
        if not (contact_id is None and source is None and payload_digest is None):
            _check_optionals(contact_id, source, payload_digest)
        self._batch.add_write(
            SQL_DONE, key, (key, contact_id, source, payload_digest, profile_id, time.time())
        )
        self._queued(urgent=False)

    def mark_failed(
        self,
        key: str,
        *,
        error_code: str,
        contact_id: str | None = None,
        source: str | None = None,
        payload_digest: str | None = None,
    ) -> None:
        """Buffer "``key`` failed permanently with ``error_code``"; committed with the next batch.

        Creates the row if ``key`` was never marked sent (see :meth:`mark_done`).
        """
        self._check_usable()
        _check_str("key", key)
        _check_str("error_code", error_code)
        if not (contact_id is None and source is None and payload_digest is None):
            _check_optionals(contact_id, source, payload_digest)
        self._batch.add_write(
            SQL_FAILED, key, (key, contact_id, source, payload_digest, error_code, time.time())
        )
        self._queued(urgent=False)

    async def flush(self) -> None:
        """Commit everything queued so far."""
        self._check_usable()
        fut: asyncio.Future[None] = self._loop.create_future()
        self._batch.commit_waiters.append(fut)
        self._queued(urgent=True)
        await fut

    async def close(self) -> None:
        """Commit what is queued, stop the flusher and release the file; idempotent.

        Raises :class:`JournalError` if queued writes could not be committed and that failure
        was not already reported to a caller.
        """
        if self._close_task is None:
            self._closing = True
            self._kick.set()
            self._close_task = self._loop.create_task(self._close())
        elif self._close_task.done():
            return
        await asyncio.shield(self._close_task)

    # -- internals ---------------------------------------------------------------------------

    def _error(self) -> JournalError:
        """Return a fresh JournalError describing the failure (or the closed state)."""
        if self._failure is None:
            return JournalError(f"journal {self._path!r} is closed")
        self._failure_reported = True
        err = JournalError(f"journal {self._path!r} failed: {self._failure}")
        err.__cause__ = self._failure
        return err

    async def _close(self) -> None:
        try:
            await asyncio.wait({self._flusher})  # ends cancelled if the loop cancelled it
        finally:
            try:
                await self._loop.run_in_executor(self._executor, self._close_sync)
            except JournalError as exc:
                if self._failure is None:
                    self._failure = exc
            finally:
                self._executor.shutdown(wait=False)
        if self._failure is not None and not self._failure_reported:
            raise self._error()

    def _close_sync(self) -> None:
        """Worker thread: the files are still the ones open (else rescue), then close."""
        try:
            if self._failure is None:
                self._check_files()
        finally:
            self._conn.close()

    def _check_files(self) -> None:
        """Worker thread: raise JournalError if the journal's files were deleted or
        replaced, after writing what the connection holds to where it can be found."""
        if self._files is None:
            return
        try:
            self._files.check()
        except JournalError as exc:
            where = rescue(self._conn, self._path)
            kept = (
                f"; what it held is written to {where!r}"
                if where is not None
                else "; what it held could not be written anywhere"
            )
            raise JournalError(f"{exc.message}{kept}") from None

    def _check_usable(self) -> None:
        if self._failure is not None or self._closing:
            raise self._error()

    def _queued(self, *, urgent: bool) -> None:
        """Wake the flusher now (batch full / urgent) or arm the flush_interval timer."""
        if urgent or self._batch.size() >= self._batch_size or self._flush_interval == 0:
            self._kick.set()
        elif self._timer is None and not self._kick.is_set():
            self._timer = self._loop.call_later(self._flush_interval, self._kick.set)

    async def _run_flusher(self) -> None:
        """Background task: take the queued batch and apply it, until closed or failed.

        Cancelled (a loop shutting down cancels every task at once, the run's clean-up
        included), it takes no more writes but still commits what is queued, then ends
        cancelled: an outcome a caller queued is not dropped for want of a commit, and
        waiting for it is bounded by one commit."""
        cancelled = False
        while True:
            if not self._closing:
                try:
                    await self._kick.wait()
                except asyncio.CancelledError:
                    cancelled = self._closing = True
            self._kick.clear()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            batch, self._batch = self._batch, Batch()
            if batch.empty():
                if self._closing:
                    break
                continue
            applied, interrupted = await self._apply(batch)
            if interrupted:
                cancelled = self._closing = True
            if not applied:
                break
        if cancelled:
            raise asyncio.CancelledError

    async def _apply(self, batch: Batch) -> tuple[bool, bool]:
        """Run one batch in the worker thread and settle its futures. Returns whether it
        was applied, and whether this task was cancelled meanwhile (the commit goes on in
        its thread, and is waited for)."""
        work = self._loop.run_in_executor(self._executor, self._apply_sync, batch)
        interrupted = False
        while True:
            try:
                reads, claimed = await asyncio.shield(work)
                break
            except asyncio.CancelledError:
                interrupted = True
            except Exception as exc:
                self._failure = exc
                self._fail_futures(batch.futures() + self._batch.futures())
                self._batch = Batch()
                return False, interrupted
        for fut in batch.commit_waiters:
            if not fut.done():
                fut.set_result(None)
        for (*_, claim_fut), answer in zip(batch.claims, claimed, strict=True):
            if not claim_fut.done():
                claim_fut.set_result(answer)
        for key, read_fut in batch.reads:
            if not read_fut.done():
                read_fut.set_result(reads.get(key))
        return True, interrupted

    def _fail_futures(self, futures: list[asyncio.Future[Any]]) -> None:
        for fut in futures:
            if not fut.done():
                fut.set_exception(self._error())

    def _apply_sync(self, batch: Batch) -> tuple[dict[str, JournalEntry], list[Claimed]]:
        """Worker thread: :func:`apply_batch`; a commit into files that are no longer the
        journal's fails the batch (see :class:`FileIdentity`)."""
        committed, reads, claimed = apply_batch(self._conn, batch)
        if committed:
            self._check_files()
        return reads, claimed
