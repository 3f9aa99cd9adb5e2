"""The ``enrich_contacts`` pipeline: fetch, skip if enriched, enrich, add.

What the caller's enricher raises -- any ``BaseException``, its own ``CancelledError``
included -- fails that item only (``EnricherError``).
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from ._digest import digest_or_none, item_key
from ._exceptions import EnricherError, JournalConflictError, JournalError, ZyntroError
from ._journal_store import Claim, Claimed, JournalState, Verdict
from ._models import ContactDetails, Profile
from ._operations import Operations
from ._pipeline_items import failed_result, item_id, result_of
from ._pipeline_journal import (
    JournalSlot,
    add_one,
    after_first,
    as_first,
    claim_when_free,
    record_outcome,
)
from ._protocol import ADD_PROFILE
from ._reconcile import find_applied
from ._results import BulkResult, OutcomeNotRecorded, ProfileRequest
from ._retry import RetryStats

Enricher = Callable[[ContactDetails], Awaitable["dict[str, Any] | list[Any] | None"]]


class EnrichContacts(JournalSlot):
    """The ``enrich_contacts`` pipeline: fetch, skip if enriched, enrich, add.

    The steps run once each per item: a retry inside a step never repeats an earlier one.
    With a journal, the item's identity is (contact, source): a re-run skips contacts done
    before, and an add in doubt (``sent``, outcome unknown) is looked for before anything
    is re-sent. A second copy of a contact in one input waits for the first.

    On a shared ledger the add is claimed as :class:`AddProfiles` claims: a key another
    worker holds is waited for (its outcome settles the item), and one taken over after
    its holder's lease ran out is looked for before anything is re-sent. The look matches
    the digest the entry recorded -- the payload the holder's enricher made, which may
    differ from this run's.
    """

    operation = "enrich_contacts"  # what a run of it is called (telemetry)
    endpoint = ADD_PROFILE

    def __init__(
        self,
        ops: Operations,
        enricher: Enricher,
        *,
        source: str,
        skip_if_enriched: bool,
        journal: str | os.PathLike[str] | None,
    ) -> None:
        super().__init__(journal, ops)
        self._ops = ops
        self._enricher = enricher
        self._source = source
        self._skip_if_enriched = skip_if_enriched
        self._working: dict[str, asyncio.Future[BulkResult[Profile]]] = {}

    def shard_key(self, item: object) -> str | None:
        """The item's journal key, (contact, source); None for an id the run refuses."""
        try:
            return _enrich_key(item_id(item, "contact_id"), self._source)
        except ZyntroError:
            return None

    async def __call__(self, item: Any) -> BulkResult[Profile]:
        try:
            contact_id = item_id(item, "contact_id")
        except ZyntroError as exc:
            return failed_result(item, exc)
        if self.journal is None:
            return await self._work(item, contact_id, None, None)
        key = _enrich_key(contact_id, self._source)
        earlier = self._working.get(key)
        if earlier is not None:  # the same contact twice in one input: wait for the first
            return await after_first(item, earlier)
        working = self._working[key] = asyncio.get_running_loop().create_future()
        work = self._journaled(item, contact_id, key)
        return await as_first(item, key, self._working, working, work)

    async def _journaled(self, item: Any, contact_id: str, key: str) -> BulkResult[Profile]:
        """The item with a journal: settled by its entry, or enriched under its key."""
        journal = self.journal
        assert journal is not None
        entry = await journal.get(key)
        if entry is not None and entry.state is JournalState.DONE:
            # The journal keeps no payload, so it cannot give the Profile back: the
            # result says only "done in an earlier run".
            return BulkResult(request=item, ok=True, skipped=True)
        if entry is None or entry.state is not JournalState.SENT:
            return await self._work(item, contact_id, key, None)
        # An add in doubt: an earlier run's, or another worker's in flight. Claim the key
        # first (waiting while its holder's lease lives), so the look below comes after
        # any request of its holder could still land.
        claim = Claim(key, contact_id, self._source, entry.payload_digest, match_payload=False)
        claimed = await journal.claim(claim)
        if claimed.verdict is Verdict.HELD:  # another worker holds the key: wait
            claimed = await claim_when_free(journal, claim)
        if claimed.verdict is Verdict.DONE:  # its holder finished it
            return BulkResult(request=item, ok=True, skipped=True)
        if not claimed.sent:
            return failed_result(item, _enrich_conflict(contact_id))
        return await self._work(item, contact_id, key, claimed)

    async def _work(
        self, item: Any, contact_id: str, key: str | None, held: Claimed | None
    ) -> BulkResult[Profile]:
        """Fetch, look, skip or enrich, add. ``held``: this item's claim of the key, made
        before the fetch (the fetch is then the look of the add it took over)."""
        fetched = RetryStats()
        try:
            details = await self._ops.fetch_contact(contact_id, include_profile=True, stats=fetched)
        except ZyntroError as exc:
            return failed_result(item, exc, fetched)
        in_doubt = None  # the digest of the add in doubt this item took over
        if held is not None and held.verdict is Verdict.UNCONFIRMED and held.entry is not None:
            in_doubt = held.entry.payload_digest
        settled = self._settled_by(item, key, details, in_doubt, fetched)
        if settled is not None:
            return settled
        payload, raised = await _enrich(self._enricher, details)
        if raised is not None:
            error = EnricherError(
                f"enricher raised {type(raised).__name__}",
                endpoint=ADD_PROFILE,
                contact_id=contact_id,
            )
            error.__cause__ = raised
            failed = failed_result(item, error, fetched)
            if held is not None and key is not None:  # nothing of this key is in flight now
                record_outcome(failed, functools.partial(self._mark_failed, key, error, contact_id))
            return failed
        if payload is None:  # nothing to add for this contact
            # (A key this item holds stays "sent": it was looked for and is not there, so
            # the next claim of it looks again, finds nothing and asks its enricher.)
            return result_of(item, fetched, ok=True, skipped=True)
        request = ProfileRequest(contact_id, self._ops.plain(payload), self._source, key=key)
        try:
            result = await self._add(request, key, looked=held is not None)
        except OutcomeNotRecorded as exc:
            unrecorded = exc.__cause__
            assert isinstance(unrecorded, JournalError)
            raise OutcomeNotRecorded(_as_item(item, fetched, exc.result), unrecorded) from exc
        return _as_item(item, fetched, result)

    def _settled_by(
        self,
        item: Any,
        key: str | None,
        details: ContactDetails,
        digest: str | None,
        fetched: RetryStats,
    ) -> BulkResult[Profile] | None:
        """The item's result if the fetched contact settles it -- the add in doubt
        (``digest``: its payload's) is there, or the contact is enriched and skipped --
        recorded done; else None."""
        journal = self.journal
        existing = details.profiles_from(self._source)
        if digest is not None and not self._skip_if_enriched:
            landed = find_applied(existing, self._source, digest)
            if landed is not None:
                found = result_of(item, fetched, ok=True, value=landed, recovered=True)
                if journal is not None and key is not None:
                    record_outcome(
                        found, functools.partial(journal.mark_done, key, profile_id=landed.id)
                    )
                return found
        if self._skip_if_enriched and existing:
            there = result_of(item, fetched, ok=True, value=existing[-1], skipped=True)
            if journal is not None and key is not None:
                newest = max(p.id for p in existing)
                record_outcome(there, functools.partial(journal.mark_done, key, profile_id=newest))
            return there
        return None

    def _mark_failed(self, key: str, error: ZyntroError, contact_id: str) -> None:
        journal = self.journal
        assert journal is not None
        journal.mark_failed(key, error_code=error.code, contact_id=contact_id, source=self._source)

    async def _add(
        self, request: ProfileRequest, key: str | None, *, looked: bool
    ) -> BulkResult[Profile]:
        """The enriched payload's add: with a journal, claimed first. The identity is
        (contact, source), so an entry of this key sent with another payload is claimed
        all the same. ``looked``: this item holds the key already and has looked for the
        add in doubt since it took it."""
        journal = self.journal
        digest = digest_or_none(request.payload) if journal is not None else None
        if journal is None or key is None or digest is None:  # not JSON: the add refuses it
            return await add_one(self._ops, request)
        try:
            call = self._ops.prepare_add(request.contact_id, request.payload, request.source)
        except ZyntroError as exc:
            failed = failed_result(request, exc)
            record_outcome(
                failed, functools.partial(self._mark_failed, key, exc, request.contact_id)
            )
            return failed
        claim = Claim(key, request.contact_id, request.source, digest, match_payload=False)
        try:
            claimed = await journal.claim(claim)
            if claimed.verdict is Verdict.HELD:  # another worker holds the key: wait
                claimed = await claim_when_free(journal, claim)
        except JournalError as exc:  # nothing was sent; the result still counts the fetch
            raise OutcomeNotRecorded(failed_result(request, exc), exc) from exc
        if claimed.verdict is Verdict.DONE:  # done meanwhile, by another worker
            return BulkResult(request=request, ok=True, skipped=True)
        if not claimed.sent:
            return failed_result(request, _enrich_conflict(request.contact_id))
        if claimed.verdict is Verdict.UNCONFIRMED and not looked:
            # Taken over from a worker whose lease ran out after this item's fetch: look
            # for its add (by the digest it recorded) before sending this one.
            assert claimed.entry is not None
            looking = RetryStats()
            try:
                details = await self._ops.fetch_contact(
                    request.contact_id, include_profile=True, stats=looking
                )
            except ZyntroError as exc:  # the key stays sent: the next claim looks again
                return failed_result(request, exc, looking)
            settled = self._settled_by(request, key, details, claimed.entry.payload_digest, looking)
            if settled is not None:
                return settled
            sent = await add_one(
                self._ops, request, call=call, journal=journal, key=key, digest=digest
            )
            return _plus(looking, sent)
        return await add_one(self._ops, request, call=call, journal=journal, key=key, digest=digest)


def _enrich_key(contact_id: str, source: str) -> str:
    """An enrichment's identity in a journal: (contact, source)."""
    return item_key(contact_id, source, None, key=f"enrich:{contact_id}:{source}")


def _enrich_conflict(contact_id: str) -> JournalConflictError:
    return JournalConflictError(
        "this contact's enrichment is journaled for another contact or source; nothing was "
        "sent (use a new journal)",
        endpoint=ADD_PROFILE,
        contact_id=contact_id,
    )


def _plus(first: RetryStats, result: BulkResult[Profile]) -> BulkResult[Profile]:
    """``result`` with the calls of ``first`` (a look before it) counted in."""
    return attrs.evolve(
        result,
        attempts=first.attempts + result.attempts,
        retries=first.retries + result.retries,
        retries_abandoned=first.retries_abandoned + result.retries_abandoned,
    )


def _as_item(item: Any, fetched: RetryStats, result: BulkResult[Profile]) -> BulkResult[Profile]:
    """An enriched item's result: its add's, with the fetch's attempts counted in."""
    return BulkResult(
        request=item,
        ok=result.ok,
        value=result.value,
        error=result.error,
        skipped=result.skipped,
        attempts=fetched.attempts + result.attempts,
        retries=fetched.retries + result.retries,
        recovered=result.recovered,
        unknown=result.unknown,
        retries_abandoned=fetched.retries_abandoned + result.retries_abandoned,
    )


async def _enrich(
    enricher: Enricher, details: ContactDetails
) -> tuple[dict[str, Any] | list[Any] | None, BaseException | None]:
    """Run the caller's enricher in its own task: ``(payload, None)``, or ``(None, what it
    raised)`` -- any BaseException, a ``CancelledError`` of its own included.

    The task tells the enricher's own ``CancelledError`` apart from the run's: only a
    cancellation of *this* item's task interrupts the wait, and then the enricher is
    cancelled and waited for, and the cancellation goes on. (``KeyboardInterrupt`` and
    ``SystemExit`` still stop the event loop, as asyncio makes any task's do.)
    """
    try:
        task = asyncio.ensure_future(enricher(details))
    except BaseException as exc:  # not async, or it raised before returning an awaitable
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        return None, exc
    try:
        await asyncio.wait({task})
    except asyncio.CancelledError:
        task.cancel()
        await asyncio.wait({task})
        raise
    if task.cancelled():
        return None, asyncio.CancelledError("the enricher cancelled itself")
    raised = task.exception()
    if raised is not None:
        return None, raised
    return task.result(), None
