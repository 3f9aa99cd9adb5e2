"""Which journal store a ``journal=`` target opens: a PostgreSQL URL opens the shared
ledger (:mod:`._journal_postgres`), anything else the SQLite file (:mod:`._journal`)."""

from __future__ import annotations

import os

from ._journal import Journal
from ._journal_pg_connect import require_driver
from ._journal_postgres import PostgresJournal
from ._journal_store import JournalStore
from ._ledger_url import is_ledger_url, parse_ledger_url
from ._shard import Shard


def check_journal(target: str | os.PathLike[str] | None) -> None:
    """Refuse a bad ledger URL, or one without the driver installed, when a run is made
    (:class:`ConfigurationError`), before anything is sent."""
    if is_ledger_url(target):
        assert isinstance(target, str)
        parse_ledger_url(target)
        require_driver()


async def open_journal(
    target: str | os.PathLike[str], *, grace: float | None, split: Shard
) -> JournalStore:
    """Open the store ``target`` names for a run of shard split ``split`` (refused with
    :class:`ConfigurationError` if the store was made under a split that could send an
    item twice); ``grace``: the request timeout (a shared ledger takes a dead holder's
    keys over that long after its lease ends)."""
    if is_ledger_url(target):
        assert isinstance(target, str)
        return await PostgresJournal.open(target, grace=grace)
    return await Journal.open(target, split=split)
