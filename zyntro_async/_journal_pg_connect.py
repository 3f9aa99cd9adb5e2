"""Connecting to a PostgreSQL ledger: the driver, libpq's bounds and the tables.

A ledger keeps no shard split: every worker claims key by key under a lease, so workers of
any split (or none) share a run without sending an item twice.

The driver is psycopg 3 (``psycopg``, the ``postgres`` extra), imported when a ledger
opens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._exceptions import ConfigurationError, JournalError
from ._journal_pg_sql import held_index, schema
from ._ledger_url import LedgerURL

if TYPE_CHECKING:
    import psycopg

__all__ = ["connect", "require_driver"]

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


async def connect(parsed: LedgerURL) -> psycopg.AsyncConnection[Any]:
    """An autocommit connection to the ledger, its tables created if absent.
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
    except psycopg.Error as exc:
        await conn.close()
        raise JournalError(
            f"journal {parsed.shown!r} cannot be set up: {parsed.scrub(str(exc))}"
        ) from None
    except BaseException:
        await conn.close()
        raise
    return conn
