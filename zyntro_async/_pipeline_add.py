"""The ``bulk_add_profiles`` pipeline: coerce, claim the item's key, add, record.

A journal entry answers only for the item it was written for: a key met again with another
contact, source or payload is that item's failure (``JOURNAL_KEY_CONFLICT``), never someone
else's profile. A second copy of a key in one input waits for the first.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any

import attrs

from ._digest import digest_or_none, item_key
from ._exceptions import JournalConflictError, PreviousFailure, ZyntroError
from ._journal_store import Claim, JournalEntry, Verdict, decide
from ._models import Profile
from ._operations import Operations
from ._pipeline_items import coerce_request, failed_result, plain_ascii
from ._pipeline_journal import JournalSlot, add_one, after_first, as_first, claim_when_free
from ._policy import BY_CODE, is_item_fault
from ._protocol import ADD_PROFILE
from ._results import BulkResult, ProfileRequest

#: The codes of the failures that are the item's own (the policy table's item faults): a
#: journaled one settles the item, and a re-run sends it again only with ``retry_failed``.
_ITEM_FAULTS = frozenset(filter(is_item_fault, BY_CODE))


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


class AddProfiles(JournalSlot):
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
        self._converts = ops.converts  # a json_default: payloads are sent converted
        # Failures that settle an item: a journaled one is not sent again.
        self._settled = frozenset() if retry_failed else _ITEM_FAULTS
        self._default_source = default_source
        self._working: dict[str, _Identity] = {}

    @property
    def works_ahead(self) -> bool:
        """Whether an item works before its request: it claims its key in the journal."""
        return self.path is not None

    def __call__(self, item: object) -> Coroutine[Any, Any, BulkResult[Profile]]:
        """The item's work as one coroutine: without a journal, the add itself (no frame of
        ours in between, on a path every request takes)."""
        if type(item) is ProfileRequest and plain_ascii(item):
            request = item  # nothing to coerce (the common item): no call into coercion
        else:
            try:
                request = coerce_request(item, self._default_source)
            except ZyntroError as exc:
                return _ready(failed_result(item, exc))
        if self._converts:
            plain = self._ops.plain(request.payload)
            if plain is not request.payload:  # journal, send and match the sent form
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
                return failed_result(request, _conflict(request, "an earlier item of this run"))
            return await after_first(request, earlier.future)
        identity = self._working[key] = _Identity(request.contact_id, request.source, digest)
        work = self._journaled(request, key, digest)
        return await as_first(request, key, self._working, identity.future, work)

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
            return failed_result(request, invalid)
        claimed = await journal.claim(claim)
        if claimed.verdict is Verdict.HELD:  # another worker holds the key: wait
            claimed = await claim_when_free(journal, claim)
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
        return failed_result(request, _conflict(request, "an item of an earlier run"))


def _add_key(request: ProfileRequest, digest: str) -> str:
    """An add's identity in a journal: the caller's key, else (contact, source, payload)."""
    return request.key or item_key(request.contact_id, request.source, None, digest=digest)


async def _ready(result: BulkResult[Profile]) -> BulkResult[Profile]:
    return result


def _conflict(request: ProfileRequest, whom: str) -> JournalConflictError:
    return JournalConflictError(
        f"key {request.key!r} is journaled for {whom} with another contact, source or "
        "payload; nothing was sent (use unique keys, or a new journal)",
        endpoint=ADD_PROFILE,
        contact_id=request.contact_id,
    )
