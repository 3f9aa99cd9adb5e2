"""SQLite checkpoint journal that makes bulk ``addProfileToContact`` runs resumable.

``addProfileToContact`` is not idempotent, so a crashed or cancelled run must never resend an
item blindly. The runner records every item here:

* :meth:`Journal.mark_sent` is write-ahead: it returns only once the ``sent`` row is committed,
  and the request is sent after it returns.
* :meth:`Journal.mark_done` / :meth:`Journal.mark_failed` are buffered; losing one in a crash
  leaves the item ``sent``, which the runner reconciles (fetches the contact) before resending.

Durability: the database runs in WAL mode with ``synchronous=NORMAL``. A commit is written to
the WAL with ``write(2)`` before it returns, so it survives the process being killed (SIGKILL,
OOM killer); it is not guaranteed to survive an OS crash or power loss, which is not the failure
this journal guards against.

Concurrency: one process per journal. The connection uses ``locking_mode=EXCLUSIVE`` and holds
the database lock for its whole life, so a second run on the same file fails at
:meth:`Journal.open` with :class:`JournalError` ("journal is in use by another run") instead of
interleaving writes. The lock is released by the OS when the owner exits, even on SIGKILL.

Threading: all SQLite work runs in one dedicated worker thread that owns the connection; the
event loop only queues operations and awaits futures. A background flusher coalesces the
operations of many tasks into one transaction (group commit).

Group commit: queued operations are committed together when ``batch_size`` of them are queued
or ``flush_interval`` seconds after the first one, whichever comes first; reads and
:meth:`Journal.flush` commit at once. So ``mark_sent`` waits up to ``flush_interval`` when fewer
than ``batch_size`` operations queue up meanwhile: with few concurrent senders, throughput is
about senders / ``flush_interval``; lower ``flush_interval`` for low concurrency.

Memory: nothing loads the whole table; SQLite's page cache is capped at 32 MiB and the WAL is
checkpointed every 32 MiB. Every flush drains the whole buffer, and ``mark_sent`` only returns
after a flush, so the buffer holds at most one batch plus one ``mark_done``/``mark_failed`` per
item in flight. ``mark_done``/``mark_failed`` are synchronous and the flusher runs only when the
caller yields: code that marks many items without awaiting should ``await flush()`` every few
thousand calls.

Privacy: the file stores only key digests, payload digests, contact ids, source names, profile
ids and error codes; never a payload and never a secret.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import enum
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Final, TypeVar

import attrs

from ._exceptions import JournalError

__all__ = [
    "Journal",
    "JournalEntry",
    "JournalError",
    "JournalState",
    "digest_or_none",
    "item_key",
    "payload_digest",
]

_T = TypeVar("_T")

#: ``PRAGMA application_id`` of a journal file ("ZYJL").
_APPLICATION_ID: Final = 0x5A594A4C
#: ``PRAGMA user_version`` of the current schema.
_SCHEMA_VERSION: Final = 1
#: Keys per ``IN (...)`` list; below SQLite's historical 999-variable limit.
_IN_CHUNK: Final = 500
#: Seconds to wait for a lock held by another connection before giving up.
_BUSY_TIMEOUT: Final = 0.25
#: SQLite page cache (KiB), WAL pages between checkpoints, WAL size kept after a checkpoint.
_CACHE_KIB: Final = 32 * 1024
_CHECKPOINT_PAGES: Final = 8192
_WAL_LIMIT_BYTES: Final = 64 * 1024 * 1024

_SCHEMA: Final = """
CREATE TABLE entries (
    key TEXT PRIMARY KEY NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('sent', 'done', 'failed')),
    contact_id TEXT NOT NULL,
    source TEXT NOT NULL,
    payload_digest TEXT NOT NULL,
    profile_id INTEGER,
    error_code TEXT,
    attempts INTEGER NOT NULL,
    updated_at REAL NOT NULL
)
"""

_COLUMNS: Final = (
    "key, state, contact_id, source, payload_digest, profile_id, error_code, attempts, updated_at"
)

# Parameters: key, contact_id, source, payload_digest, updated_at.
_SQL_SENT: Final = f"""
INSERT INTO entries ({_COLUMNS}) VALUES (?1, 'sent', ?2, ?3, ?4, NULL, NULL, 1, ?5)
ON CONFLICT (key) DO UPDATE SET
    state = 'sent', contact_id = ?2, source = ?3, payload_digest = ?4,
    profile_id = NULL, error_code = NULL, attempts = entries.attempts + 1, updated_at = ?5
"""

# Parameters: key, contact_id?, source?, payload_digest?, profile_id, updated_at.
_SQL_DONE: Final = f"""
INSERT INTO entries ({_COLUMNS})
VALUES (?1, 'done', coalesce(?2, ''), coalesce(?3, ''), coalesce(?4, ''), ?5, NULL, 0, ?6)
ON CONFLICT (key) DO UPDATE SET
    state = 'done',
    contact_id = coalesce(?2, entries.contact_id),
    source = coalesce(?3, entries.source),
    payload_digest = coalesce(?4, entries.payload_digest),
    profile_id = ?5, error_code = NULL, updated_at = ?6
"""

# Parameters: key, contact_id?, source?, payload_digest?, error_code, updated_at.
_SQL_FAILED: Final = f"""
INSERT INTO entries ({_COLUMNS})
VALUES (?1, 'failed', coalesce(?2, ''), coalesce(?3, ''), coalesce(?4, ''), NULL, ?5, 0, ?6)
ON CONFLICT (key) DO UPDATE SET
    state = 'failed',
    contact_id = coalesce(?2, entries.contact_id),
    source = coalesce(?3, entries.source),
    payload_digest = coalesce(?4, entries.payload_digest),
    profile_id = NULL, error_code = ?5, updated_at = ?6
"""

# Same parameters as the upserts above. mark_done/mark_failed nearly always follow a committed
# mark_sent, and a plain UPDATE is much cheaper than an upsert; rows it misses get the upsert.
_SQL_DONE_UPDATE: Final = """
UPDATE entries SET
    state = 'done',
    contact_id = coalesce(?2, contact_id),
    source = coalesce(?3, source),
    payload_digest = coalesce(?4, payload_digest),
    profile_id = ?5, error_code = NULL, updated_at = ?6
WHERE key = ?1
"""
_SQL_FAILED_UPDATE: Final = """
UPDATE entries SET
    state = 'failed',
    contact_id = coalesce(?2, contact_id),
    source = coalesce(?3, source),
    payload_digest = coalesce(?4, payload_digest),
    profile_id = NULL, error_code = ?5, updated_at = ?6
WHERE key = ?1
"""
_UPDATE_FIRST: Final = {_SQL_DONE: _SQL_DONE_UPDATE, _SQL_FAILED: _SQL_FAILED_UPDATE}

_Params = tuple[object, ...]
_Row = tuple[str, str, str, str, str, int | None, str | None, int, float]
# A claim's answer: the entry before it, and whether this claim marked the key sent.
_Claimed = tuple["JournalEntry | None", bool]


class JournalState(enum.Enum):
    """Recorded state of an item; an item absent from the journal is pending."""

    SENT = "sent"
    DONE = "done"
    FAILED = "failed"


@attrs.frozen
class JournalEntry:
    """One journal row.

    ``contact_id``, ``source`` and ``payload_digest`` are ``""`` when the row was created by
    ``mark_done``/``mark_failed`` without them. ``attempts`` counts recorded ``mark_sent`` calls.
    """

    key: str
    state: JournalState
    contact_id: str
    source: str
    payload_digest: str
    profile_id: int | None
    error_code: str | None
    attempts: int
    updated_at: float


# Built once: json.dumps with options builds a new encoder per call.
_CANONICAL: Final = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _canonical_digest(value: object) -> str:
    text = _CANONICAL.encode(value)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def item_key(
    contact_id: str,
    source: str,
    payload: object,
    key: str | None = None,
    *,
    digest: str | None = None,
) -> str:
    """Return the stable identity of an item: a hex SHA-256 over (contact, source, payload
    digest), so the payload is serialised and hashed once (pass ``digest`` if you have it).

    With a caller-supplied correlation ``key`` the identity depends on that key only, so the
    payload may change between runs without the item being sent twice.
    Raises ``TypeError`` if ``payload`` is not JSON-serializable.
    """
    if key is not None:
        return _canonical_digest(["key", key])
    if digest is None:
        digest = payload_digest(payload)
    return _canonical_digest(["profile", contact_id, source, digest])


def payload_digest(payload: object) -> str:
    """Return the hex SHA-256 of the payload's canonical JSON (what the journal stores)."""
    return _canonical_digest(payload)


def digest_or_none(payload: object) -> str | None:
    """:func:`payload_digest`, or None for a payload JSON cannot carry."""
    try:
        return payload_digest(payload)
    except (TypeError, ValueError):
        return None


def _entry(row: _Row) -> JournalEntry:
    return JournalEntry(
        key=row[0],
        state=JournalState(row[1]),
        contact_id=row[2],
        source=row[3],
        payload_digest=row[4],
        profile_id=row[5],
        error_code=row[6],
        attempts=row[7],
        updated_at=row[8],
    )


def _check_str(name: str, value: object, *, optional: bool = False) -> None:
    """Reject a bad argument at the call, before it can poison a shared batch."""
    if not (isinstance(value, str) or (optional and value is None)):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")


def _check_optionals(contact_id: object, source: object, payload_digest: object) -> None:
    _check_str("contact_id", contact_id, optional=True)
    _check_str("source", source, optional=True)
    _check_str("payload_digest", payload_digest, optional=True)


def _is_locked(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _connect(path: str) -> sqlite3.Connection:
    """Open, lock, and validate or initialise the journal at ``path`` (worker thread)."""
    try:
        conn = sqlite3.connect(path, timeout=_BUSY_TIMEOUT, isolation_level=None)
    except sqlite3.Error as exc:
        raise JournalError(f"cannot open journal {path!r}: {exc}") from exc
    try:
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        # A write transaction takes the exclusive lock now and keeps it until close.
        conn.execute("BEGIN IMMEDIATE")
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        n_objects = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app_id == 0 and version == 0 and n_objects == 0:
            conn.execute(_SCHEMA)
            conn.execute(f"PRAGMA application_id={_APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
        elif app_id != _APPLICATION_ID:
            raise JournalError(f"{path!r} is not a zyntro_async journal")
        elif version != _SCHEMA_VERSION:
            raise JournalError(
                f"journal {path!r} has schema version {version}, expected {_SCHEMA_VERSION}"
            )
        conn.execute("COMMIT")
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise JournalError(f"cannot enable WAL mode on journal {path!r} (got {mode!r})")
        conn.execute("PRAGMA synchronous=NORMAL")
        # Bounded memory and disk on runs of millions of items: a 32 MiB page cache (random
        # keys make the key index the hot spot), a checkpoint every 8192 pages (32 MiB of WAL,
        # fewer fsyncs than the default 1000), and the WAL truncated back to 64 MiB afterwards.
        conn.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
        conn.execute(f"PRAGMA wal_autocheckpoint={_CHECKPOINT_PAGES}")
        conn.execute(f"PRAGMA journal_size_limit={_WAL_LIMIT_BYTES}")
    except JournalError:
        conn.close()
        raise
    except sqlite3.Error as exc:
        conn.close()
        if _is_locked(exc):
            raise JournalError(f"journal {path!r} is in use by another run") from exc
        raise JournalError(f"cannot open journal {path!r}: {exc}") from exc
    return conn


@attrs.define
class _Batch:
    """Operations queued since the last flush, applied together in one worker call."""

    # Writes grouped by statement for executemany: (sql, rows), applied in list order.
    runs: list[tuple[str, list[_Params]]] = attrs.field(factory=list)
    n_writes: int = 0
    # Index in ``runs`` of the latest run of each statement, and of the latest run per key.
    _run_of_sql: dict[str, int] = attrs.field(factory=dict)
    _run_of_key: dict[str, int] = attrs.field(factory=dict)
    # Resolved once this batch's transaction is committed (mark_sent, flush).
    commit_waiters: list[asyncio.Future[None]] = attrs.field(factory=list)
    # get/get_many: (keys, future), answered after the commit.
    reads: list[tuple[Sequence[str], asyncio.Future[dict[str, JournalEntry]]]] = attrs.field(
        factory=list
    )
    # claim: (key, sent-row params, decision, future), decided and written in the commit.
    claims: list[
        tuple[str, _Params, Callable[[JournalEntry | None], bool], asyncio.Future[_Claimed]]
    ] = attrs.field(factory=list)
    # Other read-only queries run after the commit: (function, future).
    queries: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = attrs.field(
        factory=list
    )

    def size(self) -> int:
        """Number of queued operations, compared with ``batch_size``."""
        return self.n_writes + len(self.claims) + len(self.reads) + len(self.queries)

    def add_write(self, sql: str, key: str, params: _Params) -> None:
        """Queue a write, joining the latest run of ``sql`` unless that reorders ``key``.

        Writes to different keys commute, so only each key's own order must be kept; this
        keeps runs long (one executemany per statement) under interleaved sent/done traffic.
        """
        run = self._run_of_sql.get(sql)
        if run is None or self._run_of_key.get(key, -1) > run:
            run = len(self.runs)
            self.runs.append((sql, []))
            self._run_of_sql[sql] = run
        self.runs[run][1].append(params)
        self._run_of_key[key] = run
        self.n_writes += 1

    def empty(self) -> bool:
        return not (self.runs or self.claims or self.commit_waiters or self.reads or self.queries)

    def futures(self) -> list[asyncio.Future[Any]]:
        out: list[asyncio.Future[Any]] = list(self.commit_waiters)
        out.extend(fut for *_, fut in self.claims)
        out.extend(fut for _, fut in self.reads)
        out.extend(fut for _, fut in self.queries)
        return out


class Journal:
    """Crash-safe, group-committed record of which bulk items were sent, done or failed.

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
    ) -> None:
        """Internal: use :meth:`open`."""
        self._path = path
        self._conn = conn  # only touched in the worker thread
        self._executor = executor
        self._flush_interval = flush_interval
        self._batch_size = batch_size
        self._loop = asyncio.get_running_loop()
        self._batch = _Batch()
        self._kick = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._closing = False
        self._close_task: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self._failure_reported = False
        self._transactions = 0  # written by the worker thread only
        self._flusher = self._loop.create_task(self._run_flusher(), name="zyntro-journal-flusher")

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        flush_interval: float = 0.05,
        batch_size: int = 512,
    ) -> Journal:
        """Open (creating if needed) the journal at ``path`` and start its flusher.

        ``flush_interval`` is the longest a queued operation waits for its group commit and
        ``batch_size`` the number of queued operations that triggers one at once.

        Raises :class:`JournalError` if the file cannot be opened, is not a journal of this
        schema version, or is in use by another run.
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
            conn = await loop.run_in_executor(executor, _connect, fspath)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(fspath, conn, executor, flush_interval=flush_interval, batch_size=batch_size)

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

    @property
    def transactions(self) -> int:
        """Number of write transactions committed so far (metrics; shows group commit)."""
        return self._transactions

    # -- public operations -------------------------------------------------------------------

    async def get(self, key: str) -> JournalEntry | None:
        """Return the entry for ``key`` (``None`` if pending), seeing every earlier mark."""
        found = await self.get_many((key,))
        return found.get(key)

    async def get_many(self, keys: Sequence[str]) -> dict[str, JournalEntry]:
        """Return the entries of ``keys`` that are in the journal, seeing every earlier mark."""
        self._check_usable()
        if isinstance(keys, str):
            raise TypeError("keys must be a sequence of str, not a str")
        keys = tuple(keys)
        for key in keys:
            _check_str("key", key)
        if not keys:
            return {}
        fut: asyncio.Future[dict[str, JournalEntry]] = self._loop.create_future()
        self._batch.reads.append((keys, fut))
        self._queued(urgent=True)
        return await fut

    async def mark_sent(
        self, key: str, *, contact_id: str, source: str, payload_digest: str
    ) -> None:
        """Record that ``key`` is about to be sent; returns once the row is committed.

        Increments ``attempts``. If the caller is cancelled while waiting, the row may still be
        committed; an item recorded ``sent`` but never sent is reconciled, never lost.
        """
        self._check_usable()
        if not (
            type(key) is str
            and type(contact_id) is str
            and type(source) is str
            and type(payload_digest) is str
        ):
            _check_str("key", key)
            _check_str("contact_id", contact_id)
            _check_str("source", source)
            _check_str("payload_digest", payload_digest)
        fut: asyncio.Future[None] = self._loop.create_future()
        self._batch.add_write(
            _SQL_SENT, key, (key, contact_id, source, payload_digest, time.time())
        )
        self._batch.commit_waiters.append(fut)
        # Group commit: start a commit now if none is running; marks queued while one runs
        # ride the next. A caller waits about one commit, never flush_interval.
        self._queued(urgent=True)
        await fut

    async def claim(
        self,
        key: str,
        *,
        contact_id: str,
        source: str,
        payload_digest: str,
        send_if: Callable[[JournalEntry | None], bool],
    ) -> tuple[JournalEntry | None, bool]:
        """Read ``key``'s entry and, if ``send_if(entry)``, mark it sent: one transaction.

        Returns ``(entry before, marked)``. When ``marked``, this is :meth:`mark_sent`
        (committed on return, write-ahead); either way it costs one round trip where
        :meth:`get` then :meth:`mark_sent` cost two. ``send_if`` runs in the journal's
        worker thread, in commit order: make it a pure function of the entry.
        """
        self._check_usable()
        _check_str("key", key)
        _check_str("contact_id", contact_id)
        _check_str("source", source)
        _check_str("payload_digest", payload_digest)
        fut: asyncio.Future[_Claimed] = self._loop.create_future()
        params = (key, contact_id, source, payload_digest, time.time())
        self._batch.claims.append((key, params, send_if, fut))
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
            _SQL_DONE, key, (key, contact_id, source, payload_digest, profile_id, time.time())
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
            _SQL_FAILED, key, (key, contact_id, source, payload_digest, error_code, time.time())
        )
        self._queued(urgent=False)

    async def flush(self) -> None:
        """Commit everything queued so far."""
        self._check_usable()
        fut: asyncio.Future[None] = self._loop.create_future()
        self._batch.commit_waiters.append(fut)
        self._queued(urgent=True)
        await fut

    async def counts(self) -> dict[JournalState, int]:
        """Return the number of entries in each state (all states present, maybe 0).

        Scans the table (about 0.5 s per million rows): for progress reports, not per item.
        """
        rows: list[tuple[str, int]] = await self._query(
            lambda conn: conn.execute(
                "SELECT state, count(*) FROM entries GROUP BY state"
            ).fetchall()
        )
        out = dict.fromkeys(JournalState, 0)
        for state, n in rows:
            out[JournalState(state)] = n
        return out

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
            if not self._flusher.done():
                await asyncio.shield(self._flusher)
        finally:
            try:
                await self._loop.run_in_executor(self._executor, self._conn.close)
            finally:
                self._executor.shutdown(wait=False)
        if self._failure is not None and not self._failure_reported:
            raise self._error()

    def _check_usable(self) -> None:
        if self._failure is not None or self._closing:
            raise self._error()

    def _queued(self, *, urgent: bool) -> None:
        """Wake the flusher now (batch full / urgent) or arm the flush_interval timer."""
        if urgent or self._batch.size() >= self._batch_size or self._flush_interval == 0:
            self._kick.set()
        elif self._timer is None and not self._kick.is_set():
            self._timer = self._loop.call_later(self._flush_interval, self._kick.set)

    async def _query(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        self._check_usable()
        fut: asyncio.Future[_T] = self._loop.create_future()
        self._batch.queries.append((fn, fut))
        self._queued(urgent=True)
        return await fut

    async def _run_flusher(self) -> None:
        """Background task: take the queued batch and apply it, until closed or failed."""
        try:
            while True:
                if not self._closing:
                    await self._kick.wait()
                self._kick.clear()
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None
                batch, self._batch = self._batch, _Batch()
                if batch.empty():
                    if self._closing:
                        return
                    continue
                if not await self._apply(batch):
                    return
        except asyncio.CancelledError:
            if self._failure is None:
                self._failure = JournalError("journal flusher was cancelled")
            self._fail_futures(self._batch.futures())
            raise

    async def _apply(self, batch: _Batch) -> bool:
        """Run one batch in the worker thread and settle its futures; False if it failed."""
        try:
            reads, claimed, query_results = await asyncio.shield(
                self._loop.run_in_executor(self._executor, self._apply_sync, batch)
            )
        except asyncio.CancelledError:
            self._failure = JournalError("journal flusher was cancelled")
            self._fail_futures(batch.futures())
            raise
        except Exception as exc:
            self._failure = exc
            self._fail_futures(batch.futures() + self._batch.futures())
            self._batch = _Batch()
            return False
        for fut in batch.commit_waiters:
            if not fut.done():
                fut.set_result(None)
        for (*_, claim_fut), answer in zip(batch.claims, claimed, strict=True):
            if claim_fut.done():
                continue
            if isinstance(answer, BaseException):
                claim_fut.set_exception(answer)
            else:
                claim_fut.set_result(answer)
        for keys, read_fut in batch.reads:
            if not read_fut.done():
                read_fut.set_result({k: reads[k] for k in keys if k in reads})
        for (_, query_fut), result in zip(batch.queries, query_results, strict=True):
            if not query_fut.done():
                query_fut.set_result(result)
        return True

    def _fail_futures(self, futures: list[asyncio.Future[Any]]) -> None:
        for fut in futures:
            if not fut.done():
                fut.set_exception(self._error())

    def _apply_sync(
        self, batch: _Batch
    ) -> tuple[dict[str, JournalEntry], list[_Claimed | Exception], list[Any]]:
        """Worker thread: commit the batch's writes and claims in one transaction, then run
        its reads."""
        conn = self._conn
        claimed: list[_Claimed | Exception] = []
        if batch.runs or batch.claims:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, rows in batch.runs:
                    update = _UPDATE_FIRST.get(sql)
                    # Each row updates at most one entry (key is unique), so a short count means
                    # some keys are missing. Re-applying the run as upserts is then exact: done
                    # and failed assignments are idempotent, and the order is kept.
                    if update is None or conn.executemany(update, rows).rowcount != len(rows):
                        conn.executemany(sql, rows)
                if batch.claims:
                    claimed = _claim_sync(conn, batch.claims)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise
            self._transactions += 1
        reads = _select(conn, list(dict.fromkeys(k for ks, _ in batch.reads for k in ks)))
        return reads, claimed, [fn(conn) for fn, _ in batch.queries]


def _select(conn: sqlite3.Connection, keys: Sequence[str]) -> dict[str, JournalEntry]:
    out: dict[str, JournalEntry] = {}
    for start in range(0, len(keys), _IN_CHUNK):
        chunk = keys[start : start + _IN_CHUNK]
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT {_COLUMNS} FROM entries WHERE key IN ({marks})"
        for row in conn.execute(sql, chunk):
            out[row[0]] = _entry(row)
    return out


def _claim_sync(
    conn: sqlite3.Connection,
    claims: Sequence[tuple[str, _Params, Callable[[JournalEntry | None], bool], Any]],
) -> list[_Claimed | Exception]:
    """Worker thread, inside the batch's transaction: decide each claim on the entry as it
    stands (earlier claims of the same key included) and write the sent rows."""
    current = _select(conn, list(dict.fromkeys(key for key, *_ in claims)))
    answers: list[_Claimed | Exception] = []
    rows: list[_Params] = []
    for key, params, send_if, _ in claims:
        entry = current.get(key)
        try:
            send = bool(send_if(entry))
        except Exception as exc:  # the caller's decision failed: only its claim fails
            answers.append(exc)
            continue
        answers.append((entry, send))
        if send:
            rows.append(params)
            _, contact_id, source, digest, now = params
            current[key] = JournalEntry(
                key=key,
                state=JournalState.SENT,
                contact_id=str(contact_id),
                source=str(source),
                payload_digest=str(digest),
                profile_id=None,
                error_code=None,
                attempts=1 if entry is None else entry.attempts + 1,
                updated_at=now,  # type: ignore[arg-type]
            )
    if rows:
        conn.executemany(_SQL_SENT, rows)
    return answers
