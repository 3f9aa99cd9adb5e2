"""What a bulk run does per item: add a profile, fetch a contact, or enrich one.

Each pipeline turns one input item into one :class:`BulkResult` and never raises (except on
cancellation, or a journal that cannot be written): every per-item step -- coercion,
validation, encoding, digest, journal lookup -- turns its failure into that item's failed
result with a typed error. Pipelines get the calls they need as an :class:`Operations`
bound to the run's flow control; they never reach into the client.

With a journal, an add is recorded ``sent`` (committed) before the request goes out, and
``done``/``failed`` after; a re-run skips done items and reconciles sent ones before
sending again, so a crash never leads to a second record. A journal entry answers only for
the item it was written for: a key met again with another contact, source or payload is
that item's failure (``JOURNAL_KEY_CONFLICT``), never someone else's profile.

A journal that cannot record an outcome never changes what an item reports: the item's
result says what happened on the server, its row stays ``sent`` (the next run looks before
sending), and the run stops (:class:`~._results.OutcomeNotRecorded`). What user code
raises -- an enricher's ``BaseException``, its own ``CancelledError`` included -- and keys,
ids or sources that are not valid UTF-8 fail their own item only. The three pipelines
share the journal plumbing, so they live together.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

import attrs

from ._digest import digest_or_none, item_key
from ._exceptions import (
    EnricherError,
    JournalConflictError,
    JournalError,
    PreviousFailure,
    ValidationError,
    ZyntroError,
)
from ._journal_open import check_journal, open_journal
from ._journal_store import (
    Claim,
    Claimed,
    JournalEntry,
    JournalState,
    JournalStore,
    Verdict,
    decide,
)
from ._models import ContactDetails, Profile
from ._operations import Operations
from ._payload import is_utf8
from ._policy import BY_CODE, is_item_fault
from ._protocol import ADD_PROFILE, FETCH_CONTACT, Call, coerce_id
from ._reconcile import find_applied
from ._results import BulkResult, OutcomeNotRecorded, ProfileRequest
from ._retry import RetryStats
from ._shard import Shard

Enricher = Callable[[ContactDetails], Awaitable["dict[str, Any] | list[Any] | None"]]

#: The codes of the failures that are the item's own (the policy table's item faults): a
#: journaled one settles the item, and a re-run sends it again only with ``retry_failed``.
_ITEM_FAULTS = frozenset(filter(is_item_fault, BY_CODE))

#: Seconds between claims of a key another worker on a shared ledger holds.
_HELD_POLL = 0.5


def _id(value: object, what: str) -> str:
    """Ids follow the protocol's one rule (ints and UUIDs become strings) everywhere."""
    return coerce_id(value, what, endpoint=ADD_PROFILE, code="MISSING_FIELDS")


def _encodable(request: ProfileRequest) -> ProfileRequest:
    """``request``, if its key, contact id and source can be written as UTF-8 (a journal,
    a results file and the wire all need it); else its own ``ValidationError``."""
    for what, value, code in (
        ("key", request.key, "INVALID_ARGUMENT"),
        ("contact_id", request.contact_id, "MISSING_FIELDS"),
        ("source", request.source, "MISSING_FIELDS"),
    ):
        if isinstance(value, str) and not is_utf8(value):
            raise ValidationError(
                [f"{what} is not valid UTF-8 (a lone surrogate)"],
                code=code,
                endpoint=ADD_PROFILE,
            )
    return request


def coerce_request(item: object, default_source: str | None) -> ProfileRequest:
    """A ProfileRequest from a ProfileRequest or a mapping with the same keys; its key,
    contact id and source are valid UTF-8 (else ``ValidationError``)."""
    if isinstance(item, ProfileRequest):
        cid: object = item.contact_id  # typed str, but nothing stops an int at run time
        key: object = item.key
        if isinstance(cid, str) and (key is None or isinstance(key, str)):
            return _encodable(item)
        mapping: Mapping[str, Any] = {
            "contact_id": item.contact_id,
            "payload": item.payload,
            "source": item.source,
            "key": item.key,
            "member_id": item.member_id,
        }
    elif isinstance(item, Mapping):
        mapping = item
    else:
        raise ValidationError(
            [f"bulk item must be a ProfileRequest or a mapping, not {type(item).__name__}"],
            code="MISSING_FIELDS",
            endpoint=ADD_PROFILE,
        )
    contact_id = mapping.get("contact_id")
    payload = mapping.get("payload", mapping.get("profile_payload"))
    source = mapping.get("source", mapping.get("profile_source", default_source))
    missing = [
        name
        for name, value in (("contact_id", contact_id), ("payload", payload), ("source", source))
        if value is None
    ]
    if missing:
        raise ValidationError(
            [f"bulk item has no {', '.join(missing)}"], code="MISSING_FIELDS", endpoint=ADD_PROFILE
        )
    key = mapping.get("key")
    member_id = mapping.get("member_id")
    return _encodable(
        ProfileRequest(
            _id(contact_id, "contact_id"),
            payload,  # checked by the add, which refuses a non-JSON one
            source,
            key=None if key is None else str(key),
            member_id=None if member_id is None else _id(member_id, "member_id"),
        )
    )


def _failed(
    request: object, error: ZyntroError, stats: RetryStats | None = None
) -> BulkResult[Any]:
    if stats is None:
        return BulkResult(request=request, ok=False, error=error)
    return BulkResult(
        request=request,
        ok=False,
        error=error,
        attempts=stats.attempts,
        retries=stats.retries,
        unknown=stats.unknown,
        retries_abandoned=stats.retries_abandoned,
    )


class _JournalSlot:
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


class _Identity:
    """What a journal key stands for, and the in-run copy that is working on it."""

    __slots__ = ("contact_id", "digest", "future", "source")

    def __init__(self, contact_id: str, source: str, digest: str) -> None:
        self.contact_id = contact_id
        self.source = source
        self.digest = digest
        self.future: asyncio.Future[BulkResult[Any]] = asyncio.get_running_loop().create_future()

    def matches(self, contact_id: str, source: str, digest: str) -> bool:
        return (self.contact_id, self.source, self.digest) == (contact_id, source, digest)


class AddProfiles(_JournalSlot):
    """The ``bulk_add_profiles`` pipeline."""

    operation = "bulk_add_profiles"  # what a run of it is called (telemetry)
    endpoint = ADD_PROFILE

    def __init__(
        self,
        ops: Operations,
        *,
        journal: str | os.PathLike[str] | None,
        retry_failed: bool,
        default_source: str | None,
    ) -> None:
        super().__init__(journal, ops)
        self._ops = ops
        # Failures that settle an item: a journaled one is not sent again.
        self._settled = frozenset() if retry_failed else _ITEM_FAULTS
        self._default_source = default_source
        self._working: dict[str, _Identity] = {}

    def __call__(self, item: object) -> Coroutine[Any, Any, BulkResult[Profile]]:
        """The item's work as one coroutine: without a journal, the add itself (no frame of
        ours in between, on a path every request takes)."""
        try:
            request = coerce_request(item, self._default_source)
        except ZyntroError as exc:
            return _ready(_failed(item, exc))
        plain = self._ops.plain(request.payload)
        if plain is not request.payload:  # json_default: journal, send and match the sent form
            request = attrs.evolve(request, payload=plain)
        if self.journal is None:
            return add_one(self._ops, request)
        return self._with_journal(request)

    def shard_key(self, item: object) -> str | None:
        """The item's journal key (what a sharded run splits by), or None for an item
        this pipeline refuses before sending."""
        try:
            request = coerce_request(item, self._default_source)
            if request.key:  # the key alone: a payload that is not JSON fails in its shard
                return request.key
            digest = digest_or_none(self._ops.plain(request.payload))
        except Exception:  # the item fails in its own run, whichever shard that is
            return None
        return None if digest is None else _add_key(request, digest)

    async def _with_journal(self, request: ProfileRequest) -> BulkResult[Profile]:
        digest = digest_or_none(request.payload)
        if digest is None:  # not JSON: the add refuses it locally, before any journaling
            return await add_one(self._ops, request)
        key = _add_key(request, digest)
        earlier = self._working.get(key)
        if earlier is not None:  # the same key twice in one input: wait for the first
            if not earlier.matches(request.contact_id, request.source, digest):
                return _failed(request, _conflict(request, "an earlier item of this run"))
            first = await asyncio.shield(earlier.future)
            if first.ok:
                return BulkResult(request=request, ok=True, value=first.value, skipped=True)
            return BulkResult(request=request, ok=False, error=first.error, unknown=first.unknown)
        identity = _Identity(request.contact_id, request.source, digest)
        self._working[key] = identity
        result: BulkResult[Profile] = BulkResult(request=request, ok=False)
        try:
            result = await self._journaled(request, key, digest)
        except OutcomeNotRecorded as exc:
            result = exc.result
            raise
        except JournalError as exc:
            result = BulkResult(request=request, ok=False, error=exc)
            raise
        finally:
            del self._working[key]
            identity.future.set_result(result)
        return result

    async def _journaled(
        self, request: ProfileRequest, key: str, digest: str
    ) -> BulkResult[Profile]:
        """Validate, then claim the key (read and write-ahead in one journal round trip),
        then send; what the journal says instead is decided here, on the event loop."""
        journal = self.journal
        assert journal is not None
        claim = Claim(key, request.contact_id, request.source, digest, settled=self._settled)
        invalid: ZyntroError | None = None
        call = None
        try:
            call = self._ops.prepare_add(
                request.contact_id, request.payload, request.source, member_id=request.member_id
            )
        except ZyntroError as exc:
            invalid = exc
        if invalid is not None:  # nothing is sent: the entry may still answer for the item
            entry = await journal.get(key)
            verdict = decide(entry, claim)
            if entry is not None and not verdict.sends:
                return self._refusal(entry, verdict, request)
            journal.mark_failed(
                key, error_code=invalid.code, contact_id=request.contact_id, source=request.source
            )
            return _failed(request, invalid)
        claimed = await _claim(journal, claim)  # a key another worker holds: waited for
        if not claimed.sent:
            assert claimed.entry is not None  # only an entry keeps a key from being sent
            return self._refusal(claimed.entry, claimed.verdict, request)
        return await add_one(
            self._ops,
            request,
            call=call,
            journal=journal,
            key=key,
            digest=digest,
            maybe_applied=claimed.verdict is Verdict.UNCONFIRMED,
        )

    def _refusal(
        self, entry: JournalEntry, verdict: Verdict, request: ProfileRequest
    ) -> BulkResult[Profile]:
        """The result of an item its journal entry says not to send (``verdict``: one that
        does not send)."""
        if verdict is Verdict.DONE:
            value = None
            if entry.profile_id is not None:
                value = Profile(id=entry.profile_id, source=request.source, payload=request.payload)
            return BulkResult(request=request, ok=True, value=value, skipped=True)
        if verdict is Verdict.FAILED:
            when = "an earlier run" if entry.updated_at < self.opened_at else "this run"
            error = PreviousFailure(
                entry.error_code or "UNKNOWN",
                endpoint=ADD_PROFILE,
                contact_id=request.contact_id,
                when=when,
            )
            return BulkResult(request=request, ok=False, error=error)
        return _failed(request, _conflict(request, "an item of an earlier run"))


def _add_key(request: ProfileRequest, digest: str) -> str:
    """An add's identity in a journal: the caller's key, else (contact, source, payload)."""
    return request.key or item_key(request.contact_id, request.source, None, digest=digest)


def _enrich_key(contact_id: str, source: str) -> str:
    """An enrichment's identity in a journal: (contact, source)."""
    return item_key(contact_id, source, None, key=f"enrich:{contact_id}:{source}")


async def _ready(result: BulkResult[Profile]) -> BulkResult[Profile]:
    return result


def _conflict(request: ProfileRequest, whom: str) -> JournalConflictError:
    return JournalConflictError(
        f"key {request.key!r} is journaled for {whom} with another contact, source or "
        "payload; nothing was sent (use unique keys, or a new journal)",
        endpoint=ADD_PROFILE,
        contact_id=request.contact_id,
    )


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
                request.contact_id, request.payload, request.source, member_id=request.member_id
            )
        profile = await ops.add(
            call,
            request.payload,
            request.source,
            member_id=request.member_id,
            stats=stats,
            maybe_applied=maybe_applied,
            digest=digest,
            key=request.key,
        )
    except ZyntroError as exc:
        failed = _failed(request, exc, stats)
        code = exc.code
        # A failure that may have been applied stays "sent": a re-run reconciles it.
        if journal is not None and key is not None and not stats.unknown:
            _record(
                failed,
                lambda: journal.mark_failed(
                    key, error_code=code, contact_id=request.contact_id, source=request.source
                ),
            )
        return failed
    if ops.flow is not None:
        ops.flow.item_succeeded(stats.retries)
    done = BulkResult(
        request=request,
        ok=True,
        value=profile,
        attempts=stats.attempts,
        retries=stats.retries,
        recovered=stats.recovered,
        retries_abandoned=stats.retries_abandoned,
    )
    if journal is not None and key is not None:
        _record(done, lambda: journal.mark_done(key, profile_id=profile.id))
    return done


def _record(result: BulkResult[Any], mark: Callable[[], None]) -> None:
    """Journal an item's outcome; if the journal cannot take it, the item is still
    reported as ``result`` (what happened) and the run stops (:class:`OutcomeNotRecorded`).
    The row stays ``sent``: the next run looks before it sends anything."""
    try:
        mark()
    except JournalError as exc:
        raise OutcomeNotRecorded(result, exc) from exc


class FetchContacts:
    """The ``bulk_fetch_contacts`` pipeline (read-only: no journal needed)."""

    operation = "bulk_fetch_contacts"  # what a run of it is called (telemetry)
    endpoint = FETCH_CONTACT

    def __init__(
        self,
        ops: Operations,
        *,
        include_notes: bool,
        include_entity: bool,
        include_profile: bool,
        include_signals: bool,
    ) -> None:
        self._ops = ops
        self._include = (include_notes, include_entity, include_profile, include_signals)

    def shard_key(self, item: object) -> str | None:
        """The contact id, as the call sends it (None: an id the call refuses)."""
        try:
            return coerce_id(item, "contact_id", endpoint=FETCH_CONTACT, code="MISSING_FIELDS")
        except ZyntroError:
            return None

    async def __call__(self, contact_id: Any) -> BulkResult[ContactDetails]:
        stats = RetryStats()
        notes, entity, profile, signals = self._include
        try:
            details = await self._ops.fetch_contact(
                contact_id,  # the call checks it, reporting against fetchContact
                include_notes=notes,
                include_entity=entity,
                include_profile=profile,
                include_signals=signals,
                stats=stats,
            )
        except ZyntroError as exc:
            return _failed(contact_id, exc, stats)
        if self._ops.flow is not None:
            self._ops.flow.item_succeeded(stats.retries)
        return BulkResult(
            request=contact_id,
            ok=True,
            value=details,
            attempts=stats.attempts,
            retries=stats.retries,
            retries_abandoned=stats.retries_abandoned,
        )


class EnrichContacts(_JournalSlot):
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
            return _enrich_key(_id(item, "contact_id"), self._source)
        except ZyntroError:
            return None

    async def __call__(self, item: Any) -> BulkResult[Profile]:
        try:
            contact_id = _id(item, "contact_id")
        except ZyntroError as exc:
            return _failed(item, exc)
        if self.journal is None:
            return await self._work(item, contact_id, None, None)
        key = _enrich_key(contact_id, self._source)
        earlier = self._working.get(key)
        if earlier is not None:  # the same contact twice in one input: wait for the first
            first = await asyncio.shield(earlier)
            if first.ok:
                return BulkResult(request=item, ok=True, value=first.value, skipped=True)
            return BulkResult(request=item, ok=False, error=first.error, unknown=first.unknown)
        working = self._working[key] = asyncio.get_running_loop().create_future()
        result: BulkResult[Profile] = BulkResult(request=item, ok=False)
        try:
            result = await self._journaled(item, contact_id, key)
        except OutcomeNotRecorded as exc:
            result = exc.result
            raise
        except JournalError as exc:
            result = BulkResult(request=item, ok=False, error=exc)
            raise
        finally:
            del self._working[key]
            working.set_result(result)
        return result

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
        claimed = await _claim(journal, claim)
        if claimed.verdict is Verdict.DONE:  # its holder finished it
            return BulkResult(request=item, ok=True, skipped=True)
        if not claimed.sent:
            return _failed(item, _enrich_conflict(contact_id))
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
            return _failed(item, exc, fetched)
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
            failed = _failed(item, error, fetched)
            if held is not None and key is not None:  # nothing of this key is in flight now
                _record(failed, functools.partial(self._mark_failed, key, error, contact_id))
            return failed
        if payload is None:  # nothing to add for this contact
            # (A key this item holds stays "sent": it was looked for and is not there, so
            # the next claim of it looks again, finds nothing and asks its enricher.)
            return BulkResult(
                request=item,
                ok=True,
                skipped=True,
                attempts=fetched.attempts,
                retries=fetched.retries,
            )
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
                found = BulkResult(
                    request=item,
                    ok=True,
                    value=landed,
                    attempts=fetched.attempts,
                    retries=fetched.retries,
                    recovered=True,
                )
                if journal is not None and key is not None:
                    _record(found, functools.partial(journal.mark_done, key, profile_id=landed.id))
                return found
        if self._skip_if_enriched and existing:
            there = BulkResult(
                request=item,
                ok=True,
                value=existing[-1],
                skipped=True,
                attempts=fetched.attempts,
                retries=fetched.retries,
            )
            if journal is not None and key is not None:
                newest = max(p.id for p in existing)
                _record(there, functools.partial(journal.mark_done, key, profile_id=newest))
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
            failed = _failed(request, exc)
            _record(failed, functools.partial(self._mark_failed, key, exc, request.contact_id))
            return failed
        claim = Claim(key, request.contact_id, request.source, digest, match_payload=False)
        try:
            claimed = await _claim(journal, claim)
        except JournalError as exc:  # nothing was sent; the result still counts the fetch
            raise OutcomeNotRecorded(_failed(request, exc), exc) from exc
        if claimed.verdict is Verdict.DONE:  # done meanwhile, by another worker
            return BulkResult(request=request, ok=True, skipped=True)
        if not claimed.sent:
            return _failed(request, _enrich_conflict(request.contact_id))
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
                return _failed(request, exc, looking)
            settled = self._settled_by(request, key, details, claimed.entry.payload_digest, looking)
            if settled is not None:
                return settled
            sent = await add_one(
                self._ops, request, call=call, journal=journal, key=key, digest=digest
            )
            return _plus(looking, sent)
        return await add_one(self._ops, request, call=call, journal=journal, key=key, digest=digest)


async def _claim(journal: JournalStore, claim: Claim) -> Claimed:
    """Claim ``claim``'s key; while another worker on a shared ledger holds it, claim again
    every :data:`_HELD_POLL` seconds. Its outcome settles the item (done: skipped here); if
    it dies, its lease and request timeout run out and the claim takes the key over
    (:attr:`Verdict.UNCONFIRMED`), to look for its add before anything is re-sent."""
    claimed = await journal.claim(claim)
    while claimed.verdict is Verdict.HELD:
        await asyncio.sleep(_HELD_POLL)
        claimed = await journal.claim(claim)
    return claimed


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
