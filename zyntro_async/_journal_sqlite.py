"""The SQLite journal's file side: schema, statements, and what its worker thread runs.

Everything here but :class:`Batch` runs in the journal's one worker thread (:mod:`._journal`
queues the operations on the event loop and awaits their futures): opening and validating
the file (:func:`connect`), checking that it is still the file at its path
(:class:`FileIdentity`, :func:`rescue`), and applying one queued :class:`Batch` in one
transaction (:func:`apply_batch`): marks grouped by statement, claims decided by
:func:`._journal_store.decide` on the rows as they stand, then reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from collections.abc import Sequence
from typing import Any, Final

import attrs

from ._exceptions import JournalError
from ._journal_store import (
    Claim,
    Claimed,
    JournalEntry,
    JournalState,
    Verdict,
    check_split,
    decide,
)
from ._shard import Shard

_log = logging.getLogger("zyntro_async.journal")

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

# What a journal records about itself (the split it was made under): added to a file an
# earlier version made when it is opened, without changing the schema version, so both
# versions keep opening the file.
_META: Final = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)
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
SQL_DONE: Final = f"""
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
SQL_FAILED: Final = f"""
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
# claim, and a plain UPDATE is much cheaper than an upsert; rows it misses get the upsert.
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
_UPDATE_FIRST: Final = {SQL_DONE: _SQL_DONE_UPDATE, SQL_FAILED: _SQL_FAILED_UPDATE}

_Params = tuple[object, ...]
_Row = tuple[str, str, str, str, str, int | None, str | None, int, float]


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


def _is_locked(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def connect(path: str) -> sqlite3.Connection:
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
        conn.execute(_META)
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


def keep_split(conn: sqlite3.Connection, split: Shard, path: str) -> None:
    """Record ``split`` as the journal's if it has none, else refuse one
    :func:`check_split` refuses (worker thread). A journal with entries and no record (an
    earlier version made it) records ``split``, with a warning: its entries' is unknown."""
    row = conn.execute("SELECT value FROM meta WHERE name = 'split'").fetchone()
    if row is not None:
        index, _, count = str(row[0]).partition("/")
        try:
            recorded = (int(index), int(count))
        except ValueError:
            raise JournalError(f"the journal's recorded split {row[0]!r} is unreadable") from None
        check_split(recorded, split, where=f"journal {path!r}")
        return
    had = conn.execute("SELECT EXISTS (SELECT 1 FROM entries)").fetchone()[0]
    conn.execute("INSERT INTO meta (name, value) VALUES ('split', ?)", (f"{split[0]}/{split[1]}",))
    if had:
        _log.warning(
            "journal %r had no record of the shard split it was made under (an earlier "
            "version made it); it is recorded as %d/%d now, unchecked",
            path,
            *split,
        )


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


class FileIdentity:
    """The journal's files as opened: a path deleted or replaced while the connection
    writes on would take every later commit with it (SQLite writes on into the unlinked
    file), so each commit and the close compare the files at the path with the ones open.

    The database file is known from the start; its write-ahead log from the first time
    it is seen (it is created by the first write). Runs in the worker thread.
    """

    __slots__ = ("_db", "_path", "_wal")

    def __init__(self, path: str) -> None:
        self._path = path
        self._db = _identity(path)
        self._wal = _identity(path + "-wal")

    def check(self) -> None:
        """Raise :class:`JournalError` if a file at the path is not the one open."""
        for suffix, known in (("", self._db), ("-wal", self._wal)):
            now = _identity(self._path + suffix)
            if known is None:
                if suffix == "-wal":
                    self._wal = now
                continue
            if now != known:
                what = "deleted" if now is None else "replaced by another file"
                raise JournalError(
                    f"journal file {self._path + suffix!r} was {what} while this run used "
                    "it; the run stops, as nothing it records would be kept"
                )


def rescue(conn: sqlite3.Connection, path: str) -> str | None:
    """Write what the open connection holds to ``path`` if nothing is there now (a
    deleted journal), else next to it; return where, or None if that failed too."""
    target = path if _identity(path) is None else path + ".rescued"
    try:
        with contextlib.closing(sqlite3.connect(target)) as copy:
            conn.backup(copy)
    except (sqlite3.Error, OSError):
        return None
    return target


# The statement of a run of claims in a Batch (its rows are indices into ``Batch.claims``).
_CLAIMS: Final = "claims"
# The answer to every claim of a key with no entry (immutable, so shared).
_NEW: Final = Claimed(None, Verdict.NEW)


@attrs.define
class Batch:
    """Operations queued since the last flush, applied together in one worker call."""

    # Writes grouped by statement for executemany: (sql, rows), applied in list order; a run
    # of claims has the statement _CLAIMS and indices into ``claims`` as its rows.
    runs: list[tuple[str, list[Any]]] = attrs.field(factory=list)
    n_writes: int = 0
    # Index in ``runs`` of the latest run of each statement, and of the latest run per key.
    _run_of_sql: dict[str, int] = attrs.field(factory=dict)
    _run_of_key: dict[str, int] = attrs.field(factory=dict)
    # Resolved once this batch's transaction is committed (flush).
    commit_waiters: list[asyncio.Future[None]] = attrs.field(factory=list)
    # get: (key, future), answered after the commit.
    reads: list[tuple[str, asyncio.Future[JournalEntry | None]]] = attrs.field(factory=list)
    # claim: (claim, time, future), decided and written in the commit.
    claims: list[tuple[Claim, float, asyncio.Future[Claimed]]] = attrs.field(factory=list)

    def size(self) -> int:
        """Number of queued operations, compared with ``batch_size``."""
        return self.n_writes + len(self.claims) + len(self.reads)

    def add_write(self, sql: str, key: str, params: _Params) -> None:
        """Queue a write (``sql``: :data:`SQL_DONE` or :data:`SQL_FAILED`)."""
        self._join(sql, key, params)
        self.n_writes += 1

    def add_claim(self, claim: Claim, now: float, fut: asyncio.Future[Claimed]) -> None:
        """Queue a claim, decided in the commit after the operations queued before it."""
        self._join(_CLAIMS, claim.key, len(self.claims))
        self.claims.append((claim, now, fut))

    def _join(self, sql: str, key: str, row: object) -> None:
        """Join the latest run of ``sql`` unless that would reorder ``key``'s operations.

        Operations on different keys commute, so only each key's own order must be kept;
        this keeps runs long (one executemany per statement) under interleaved traffic.
        """
        run = self._run_of_sql.get(sql)
        if run is None or self._run_of_key.get(key, -1) > run:
            run = len(self.runs)
            self.runs.append((sql, []))
            self._run_of_sql[sql] = run
        self.runs[run][1].append(row)
        self._run_of_key[key] = run

    def empty(self) -> bool:
        return not (self.runs or self.commit_waiters or self.reads)

    def futures(self) -> list[asyncio.Future[Any]]:
        out: list[asyncio.Future[Any]] = list(self.commit_waiters)
        out.extend(fut for *_, fut in self.claims)
        out.extend(fut for _, fut in self.reads)
        return out


def apply_batch(
    conn: sqlite3.Connection, batch: Batch
) -> tuple[bool, dict[str, JournalEntry], list[Claimed]]:
    """Commit the batch's writes and claims in one transaction, then run its reads.

    Returns (a transaction was committed, reads, the claims' answers in queue order)."""
    # Every claim is in exactly one run of claims, so each slot is filled before it is read.
    claimed: list[Claimed] = [_NEW] * len(batch.claims)
    committed = False
    if batch.runs:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for sql, rows in batch.runs:
                if sql == _CLAIMS:
                    _claim_sync(conn, batch.claims, rows, claimed)
                    continue
                update = _UPDATE_FIRST.get(sql)
                # Each row updates at most one entry (key is unique), so a short count means
                # some keys are missing. Re-applying the run as upserts is then exact: done
                # and failed assignments are idempotent, and the order is kept.
                if update is None or conn.executemany(update, rows).rowcount != len(rows):
                    conn.executemany(sql, rows)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        committed = True
    reads = _select(conn, list(dict.fromkeys(key for key, _ in batch.reads)))
    return committed, reads, claimed


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
    claims: Sequence[tuple[Claim, float, object]],
    indices: Sequence[int],
    answers: list[Claimed],
) -> None:
    """Worker thread, inside the batch's transaction: decide the claims at ``indices`` on
    the entries as they stand (earlier claims of the same key included), write the sent
    rows, and put each answer at its index in ``answers``."""
    current = _select(conn, list(dict.fromkeys(claims[i][0].key for i in indices)))
    rows: list[_Params] = []
    for i in indices:
        claim, now, _ = claims[i]
        key = claim.key
        entry = current.get(key)
        if entry is None:
            answers[i] = _NEW
        else:
            verdict = decide(entry, claim)
            answers[i] = Claimed(entry, verdict)
            if not verdict.sends:
                continue
        rows.append((key, claim.contact_id, claim.source, claim.payload_digest, now))
        current[key] = JournalEntry(
            key=key,
            state=JournalState.SENT,
            contact_id=claim.contact_id,
            source=claim.source,
            payload_digest=claim.payload_digest,
            profile_id=None,
            error_code=None,
            attempts=1 if entry is None else entry.attempts + 1,
            updated_at=now,
        )
    if rows:
        conn.executemany(_SQL_SENT, rows)
