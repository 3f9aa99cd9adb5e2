"""What the journaled pipelines share: the journal's slot in a run, claims that wait for a
key another worker holds, the journaled add, and recording an outcome.

With a journal, an add is recorded ``sent`` (committed) before the request goes out, and
``done``/``failed`` after; a re-run skips done items and reconciles sent ones before
sending again, so a crash never leads to a second record. On a shared ledger a key another
worker holds is waited for: its outcome settles the item, or its lease runs out and the
key is taken over, to be looked for before anything is re-sent.

A journal that cannot record an outcome never changes what an item reports: the item's
result says what happened on the server, its row stays ``sent`` (the next run looks before
sending), and the run stops (:class:`~._results.OutcomeNotRecorded`).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Coroutine, MutableMapping
from typing import Any

from ._exceptions import JournalError, ZyntroError
from ._journal_open import check_journal, open_journal
from ._journal_store import Claim, Claimed, JournalStore, Verdict
from ._models import Profile
from ._operations import Operations
from ._pipeline_items import failed_result, result_of
from ._protocol import Call
from ._results import BulkResult, OutcomeNotRecorded, ProfileRequest
from ._retry import RetryStats
from ._shard import Shard

#: Seconds between claims of a key another worker on a shared ledger holds.
HELD_POLL = 0.5


class JournalSlot:
    """Journal plumbing shared by the pipelines: open/close."""

    def __init__(self, path: str | os.PathLike[str] | None, ops: Operations) -> None:
        check_journal(path)
        self.path = path
        self.journal: JournalStore | None = None
        self.opened_at = 0.0  # wall clock, as the journal's updated_at
        self._grace = ops.request_timeout  # how long a dead worker's request may still land
        self._split: Shard = (0, 1)

    def split_by(self, shard: Shard | None) -> None:
        """The run's shard split (None: not sharded), which its journal records and checks."""
        self._split = (0, 1) if shard is None else shard

    async def setup(self) -> None:
        self.opened_at = time.time()
        if self.path is not None:
            self.journal = await open_journal(self.path, grace=self._grace, split=self._split)

    async def teardown(self) -> None:
        journal, self.journal = self.journal, None
        if journal is not None:
            await journal.close()


async def after_first(item: Any, first: asyncio.Future[BulkResult[Any]]) -> BulkResult[Profile]:
    """A later copy of a key in one run: the first copy's outcome as this item's (skipped
    when it was done). The wait is shielded: cancelling this item leaves the first alone."""
    done = await asyncio.shield(first)
    if done.ok:
        return BulkResult(request=item, ok=True, value=done.value, skipped=True)
    return BulkResult(request=item, ok=False, error=done.error, unknown=done.unknown)


async def as_first(
    item: Any,
    key: str,
    working: MutableMapping[str, Any],
    future: asyncio.Future[BulkResult[Any]],
    work: Coroutine[Any, Any, BulkResult[Profile]],
) -> BulkResult[Profile]:
    """Run ``work``, the first copy of ``key`` in this run (registered in ``working``);
    however it ends, its outcome resolves ``future`` for the copies waiting on it."""
    result: BulkResult[Profile] = BulkResult(request=item, ok=False)
    try:
        result = await work
    except OutcomeNotRecorded as exc:
        result = exc.result
        raise
    except JournalError as exc:
        result = BulkResult(request=item, ok=False, error=exc)
        raise
    finally:
        del working[key]
        future.set_result(result)
    return result


async def claim_when_free(journal: JournalStore, claim: Claim) -> Claimed:
    """Claim ``claim``'s key, which another worker on a shared ledger held a moment ago
    (:attr:`Verdict.HELD`), again every :data:`HELD_POLL` seconds until it is free. Its
    holder's outcome settles the item (done: skipped); if the holder dies, its lease and
    request timeout run out and the claim takes the key over (:attr:`Verdict.UNCONFIRMED`),
    to look for its add before anything is re-sent."""
    while True:
        await asyncio.sleep(HELD_POLL)
        claimed = await journal.claim(claim)
        if claimed.verdict is not Verdict.HELD:
            return claimed


async def add_one(
    ops: Operations,
    request: ProfileRequest,
    *,
    call: Call[Profile] | None = None,
    journal: JournalStore | None = None,
    key: str | None = None,
    digest: str | None = None,
    maybe_applied: bool = False,
) -> BulkResult[Profile]:
    """Add one profile (``call``: already prepared); with ``journal`` and ``key``, the key
    is claimed already (marked sent) and the outcome is marked done or failed."""
    stats = RetryStats()
    try:
        if call is None:
            call = ops.prepare_add(
                request.contact_id, request.payload, request.source, request.member_id
            )
        profile = await ops.add(call, stats, maybe_applied, digest, request.key)
    except ZyntroError as exc:
        failed = failed_result(request, exc, stats)
        code = exc.code
        # A failure that may have been applied stays "sent": a re-run reconciles it.
        if journal is not None and key is not None and not stats.unknown:
            record_outcome(
                failed,
                lambda: journal.mark_failed(
                    key, error_code=code, contact_id=request.contact_id, source=request.source
                ),
            )
        return failed
    flow = ops.flow
    if flow is not None:
        flow.item_succeeded(stats.retries)
    done = result_of(request, stats, ok=True, value=profile, recovered=stats.recovered)
    if journal is not None and key is not None:
        record_outcome(done, lambda: journal.mark_done(key, profile_id=profile.id))
    return done


def record_outcome(result: BulkResult[Any], mark: Callable[[], None]) -> None:
    """Journal an item's outcome; if the journal cannot take it, the item is still
    reported as ``result`` (what happened) and the run stops (:class:`OutcomeNotRecorded`).
    The row stays ``sent``: the next run looks before it sends anything."""
    try:
        mark()
    except JournalError as exc:
        raise OutcomeNotRecorded(result, exc) from exc
