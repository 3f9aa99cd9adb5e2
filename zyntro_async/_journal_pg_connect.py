"""Connecting to a PostgreSQL ledger: the driver, libpq's bounds, the tables, and the
run's shard split (recorded by its first worker, checked for every later one).

The driver is psycopg 3 (``psycopg``, the ``postgres`` extra), imported when a ledger
opens.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ._exceptions import ConfigurationError, JournalError
from ._journal_pg_sql import Statements, held_index, runs_schema, schema
from ._journal_store import check_split
from ._ledger_url import LedgerURL
from ._shard import Shard

if TYPE_CHECKING:
    import psycopg

__all__ = ["connect", "require_driver"]

_log = logging.getLogger("zyntro_async.journal")
# Unless the URL says otherwise: a server that stops answering fails the run (loudly, in
# under a minute) instead of hanging it -- libpq's connect timeout, TCP keepalives, and a
# bound on unacknowledged writes (ms).
_BOUNDS = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30000,
}


def require_driver() -> None:
    """Raise :class:`ConfigurationError` naming the extra if psycopg is not installed."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            "a PostgreSQL journal needs the psycopg driver: pip install 'zyntro-async[postgres]'"
        ) from None


async def connect(parsed: LedgerURL, split: Shard | None) -> psycopg.AsyncConnection[Any]:
    """An autocommit connection to the ledger, its tables created if absent; ``split``
    (None: neither) recorded for the run, or refused with :class:`ConfigurationError`.
    A server that cannot be reached or set up is a :class:`JournalError`."""
    require_driver()
    import psycopg
    import psycopg.conninfo

    try:
        given = psycopg.conninfo.conninfo_to_dict(parsed.conninfo)
        bounds = {k: v for k, v in _BOUNDS.items() if k not in given}
        conninfo = psycopg.conninfo.make_conninfo(parsed.conninfo, **bounds)
        conn = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
    except psycopg.Error as exc:
        raise JournalError(
            f"journal {parsed.shown!r} cannot be opened: {parsed.scrub(str(exc))}"
        ) from None
    try:
        async with conn.transaction():
            # One creator at a time: concurrent CREATE TABLE IF NOT EXISTS can collide.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (parsed.table,))
            await conn.execute(schema(parsed.table))
            await conn.execute(held_index(parsed.table))
            await conn.execute(runs_schema(parsed.table))
        if split is not None:
            await _record_split(conn, parsed, split)
    except psycopg.Error as exc:
        await conn.close()
        raise JournalError(
            f"journal {parsed.shown!r} cannot be set up: {parsed.scrub(str(exc))}"
        ) from None
    except BaseException:
        await conn.close()
        raise
    return conn


async def _record_split(conn: psycopg.AsyncConnection[Any], url: LedgerURL, split: Shard) -> None:
    """Record ``split`` as the run's if it has none; else refuse one :func:`check_split`
    refuses (:class:`ConfigurationError`)."""
    sql = Statements(url.table)
    cur = await conn.execute(sql.record_split, (url.run, f"{split[0]}/{split[1]}"))
    if await cur.fetchone() is None:
        cur = await conn.execute(sql.read_split, (url.run,))
        row = await cur.fetchone()
        if row is None:  # deleted by hand meanwhile: nothing to check against
            return
        index, _, count = str(row[0]).partition("/")
        try:
            recorded = (int(index), int(count))
        except ValueError:
            raise JournalError(f"the ledger's recorded split {row[0]!r} is unreadable") from None
        where = f"ledger run {url.run!r} at {url.shown!r}"
        check_split(recorded, split, shared=True, where=where)
        return
    cur = await conn.execute(sql.has_entries, (url.run,))
    row = await cur.fetchone()
    if row is not None and row[0]:
        _log.warning(
            "ledger run %r had no record of the shard split it runs under (an earlier "
            "version started it); it is recorded as %d shard(s) now, unchecked",
            url.run,
            split[1],
        )
