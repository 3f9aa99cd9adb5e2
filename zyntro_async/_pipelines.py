"""What a bulk run does per item: add a profile, fetch a contact, or enrich one.

Each pipeline turns one input item into one :class:`BulkResult` and never raises (except on
cancellation). With a journal, an add is recorded ``sent`` (committed) before the request
goes out, and ``done``/``failed`` after; a re-run skips done items and reconciles sent ones
before sending again, so a crash never leads to a second record.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from ._bulk import BulkResult, ProfileRequest
from ._exceptions import ValidationError, ZyntroError
from ._journal import Journal, JournalEntry, JournalState, item_key, payload_digest
from ._models import ContactDetails, Profile
from ._retry import RetryStats
from ._throttle import Throttle

if TYPE_CHECKING:
    from ._client import ZyntroClient

Enricher = Callable[[ContactDetails], Awaitable["dict[str, Any] | list[Any] | None"]]


class EnricherError(ZyntroError):
    """The caller's enricher raised for this item (the original is ``__cause__``)."""

    code = "ENRICHER_FAILED"


class PreviousFailure(ZyntroError):
    """The journal says this item failed in an earlier run; ``retry_failed=True`` retries."""

    def __init__(self, code: str, *, endpoint: str, contact_id: str) -> None:
        super().__init__(
            f"failed in an earlier run ({code}); pass retry_failed=True to try again",
            endpoint=endpoint,
            contact_id=contact_id,
        )
        self.code = code


def coerce_request(item: object, default_source: str | None) -> ProfileRequest:
    """A ProfileRequest from a ProfileRequest or a mapping with the same keys."""
    if isinstance(item, ProfileRequest):
        return item
    if isinstance(item, Mapping):
        contact_id = item.get("contact_id")
        payload = item.get("payload", item.get("profile_payload"))
        source = item.get("source", item.get("profile_source", default_source))
        key = item.get("key")
        member_id = item.get("member_id")
        missing = [
            name
            for name, value in (
                ("contact_id", contact_id),
                ("payload", payload),
                ("source", source),
            )
            if value is None
        ]
        if missing:
            raise ValidationError(
                [f"bulk item has no {', '.join(missing)}"],
                code="MISSING_FIELDS",
                endpoint="addProfileToContact",
            )
        if key is not None and not isinstance(key, str):
            key = str(key)
        return ProfileRequest(
            contact_id,  # type: ignore[arg-type]  # checked by the add, which refuses a non-str
            payload,
            source,
            key=key,
            member_id=member_id if isinstance(member_id, str) else None,
        )
    raise ValidationError(
        [f"bulk item must be a ProfileRequest or a mapping, not {type(item).__name__}"],
        code="MISSING_FIELDS",
        endpoint="addProfileToContact",
    )


class _JournalSlot:
    """Journal plumbing shared by the pipelines: open/close and in-run de-duplication."""

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = path
        self.journal: Journal | None = None
        self._in_flight: dict[str, asyncio.Future[BulkResult[Any]]] = {}

    async def setup(self) -> None:
        if self.path is not None:
            self.journal = await Journal.open(self.path)

    async def teardown(self) -> None:
        journal, self.journal = self.journal, None
        if journal is not None:
            await asyncio.shield(journal.close())


class AddProfiles(_JournalSlot):
    """The ``bulk_add_profiles`` pipeline."""

    endpoint = "addProfileToContact"

    def __init__(
        self,
        client: ZyntroClient,
        throttle: Throttle,
        *,
        journal: str | os.PathLike[str] | None,
        retry_failed: bool,
        default_source: str | None,
    ) -> None:
        super().__init__(journal)
        self._client = client
        self._throttle = throttle
        self._retry_failed = retry_failed
        self._default_source = default_source

    async def __call__(self, item: object) -> BulkResult[Profile]:
        try:
            request = coerce_request(item, self._default_source)
        except ZyntroError as exc:
            return BulkResult(request=item, ok=False, error=exc)
        if self.journal is None:
            return await add_one(self._client, self._throttle, request)
        try:
            digest = payload_digest(request.payload)
        except (TypeError, ValueError):
            # Not JSON: the add refuses it locally, before anything is journaled.
            return await add_one(self._client, self._throttle, request)
        key = request.key or item_key(request.contact_id, request.source, None, digest=digest)
        earlier = self._in_flight.get(key)
        if earlier is not None:  # the same item twice in one input: wait for the first
            first = await asyncio.shield(earlier)
            return BulkResult(request=request, ok=first.ok, value=first.value, skipped=True)
        future: asyncio.Future[BulkResult[Any]] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        result: BulkResult[Profile] = BulkResult(request=request, ok=False)
        try:
            result = await self._journaled(request, key, digest)
        finally:
            del self._in_flight[key]
            future.set_result(result)
        return result

    async def _journaled(
        self, request: ProfileRequest, key: str, digest: str
    ) -> BulkResult[Profile]:
        assert self.journal is not None
        entry = await self.journal.get(key)
        if entry is not None and entry.state is JournalState.DONE:
            value = None
            if entry.profile_id is not None:
                value = Profile(id=entry.profile_id, source=request.source, payload=request.payload)
            return BulkResult(request=request, ok=True, value=value, skipped=True)
        if entry is not None and entry.state is JournalState.FAILED and not self._retry_failed:
            error = PreviousFailure(
                entry.error_code or "UNKNOWN", endpoint=self.endpoint, contact_id=request.contact_id
            )
            return BulkResult(request=request, ok=False, error=error, skipped=True)
        return await add_one(
            self._client,
            self._throttle,
            request,
            journal=self.journal,
            key=key,
            digest=digest,
            maybe_applied=entry is not None and entry.state is JournalState.SENT,
        )


async def add_one(
    client: ZyntroClient,
    throttle: Throttle,
    request: ProfileRequest,
    *,
    journal: Journal | None = None,
    key: str | None = None,
    digest: str | None = None,
    maybe_applied: bool = False,
) -> BulkResult[Profile]:
    """Add one profile, journaling it (write-ahead) when ``journal`` and ``key`` are given.

    ``digest`` is the payload's digest when the caller has computed it already."""
    stats = RetryStats()

    async def before_send() -> None:
        if journal is not None and key is not None:
            await journal.mark_sent(
                key,
                contact_id=request.contact_id,
                source=request.source,
                payload_digest=digest or payload_digest(request.payload),
            )

    try:
        profile, _ = await client._add_profile_with_stats(
            request.contact_id,
            request.payload,
            request.source,
            member_id=request.member_id,
            hooks=throttle,
            maybe_applied=maybe_applied,
            before_send=before_send,
            stats=stats,
        )
    except ZyntroError as exc:
        # A failure that may have been applied stays "sent": a re-run reconciles it.
        if journal is not None and key is not None and not stats.unknown:
            journal.mark_failed(
                key, error_code=exc.code, contact_id=request.contact_id, source=request.source
            )
        return BulkResult(request=request, ok=False, error=exc, attempts=stats.attempts)
    if journal is not None and key is not None:
        journal.mark_done(key, profile_id=profile.id)
    throttle.item_succeeded(stats.retries)
    return BulkResult(
        request=request, ok=True, value=profile, attempts=stats.attempts, recovered=stats.recovered
    )


class FetchContacts:
    """The ``bulk_fetch_contacts`` pipeline (read-only: no journal needed)."""

    def __init__(
        self,
        client: ZyntroClient,
        throttle: Throttle,
        *,
        include_notes: bool,
        include_entity: bool,
        include_profile: bool,
        include_signals: bool,
    ) -> None:
        self._client = client
        self._throttle = throttle
        self._notes = include_notes
        self._entity = include_entity
        self._profile = include_profile
        self._signals = include_signals

    async def __call__(self, contact_id: Any) -> BulkResult[ContactDetails]:
        stats = RetryStats()
        try:
            details, _ = await self._client._fetch_contact_with_stats(
                contact_id,
                include_notes=self._notes,
                include_entity=self._entity,
                include_profile=self._profile,
                include_signals=self._signals,
                policy=self._client.retry,
                hooks=self._throttle,
                stats=stats,
            )
        except ZyntroError as exc:
            return BulkResult(request=contact_id, ok=False, error=exc, attempts=stats.attempts)
        self._throttle.item_succeeded(stats.retries)
        return BulkResult(request=contact_id, ok=True, value=details, attempts=stats.attempts)


class EnrichContacts(_JournalSlot):
    """The ``enrich_contacts`` pipeline: fetch, skip if enriched, enrich, add.

    The steps run once each per item: a retry inside a step never repeats an earlier one.
    With a journal, the item's identity is (contact, source): a re-run skips contacts done
    before, and the fetch step itself reconciles a lost add (the profile from ``source`` is
    there, or it is not).
    """

    endpoint = "addProfileToContact"

    def __init__(
        self,
        client: ZyntroClient,
        throttle: Throttle,
        enricher: Enricher,
        *,
        source: str,
        skip_if_enriched: bool,
        journal: str | os.PathLike[str] | None,
    ) -> None:
        super().__init__(journal)
        self._client = client
        self._throttle = throttle
        self._enricher = enricher
        self._source = source
        self._skip_if_enriched = skip_if_enriched

    async def __call__(self, contact_id: Any) -> BulkResult[Profile]:
        key: str | None = None
        entry: JournalEntry | None = None
        if self.journal is not None and isinstance(contact_id, str):
            key = item_key(
                contact_id, self._source, None, key=f"enrich:{contact_id}:{self._source}"
            )
            entry = await self.journal.get(key)
            if entry is not None and entry.state is JournalState.DONE:
                return BulkResult(request=contact_id, ok=True, skipped=True)
        stats = RetryStats()
        try:
            details, _ = await self._client._fetch_contact_with_stats(
                contact_id,
                include_profile=True,
                policy=self._client.retry,
                hooks=self._throttle,
                stats=stats,
            )
        except ZyntroError as exc:
            return BulkResult(request=contact_id, ok=False, error=exc, attempts=stats.attempts)
        existing = details.profiles_from(self._source)
        if entry is not None and entry.state is JournalState.SENT and not self._skip_if_enriched:
            # An earlier run sent this add and never saw the answer: is it there?
            landed = [p for p in existing if payload_digest(p.payload) == entry.payload_digest]
            if landed:
                if self.journal is not None and key is not None:
                    self.journal.mark_done(key, profile_id=landed[-1].id)
                return BulkResult(
                    request=contact_id,
                    ok=True,
                    value=landed[-1],
                    attempts=stats.attempts,
                    recovered=True,
                )
        if self._skip_if_enriched and existing:
            if self.journal is not None and key is not None:
                self.journal.mark_done(key, profile_id=max(p.id for p in existing))
            return BulkResult(
                request=contact_id,
                ok=True,
                value=existing[-1],
                skipped=True,
                attempts=stats.attempts,
            )
        try:
            payload = await self._enricher(details)
        except Exception as exc:
            error = EnricherError(
                f"enricher raised {type(exc).__name__}",
                endpoint=self.endpoint,
                contact_id=details.contact.id,
            )
            error.__cause__ = exc
            return BulkResult(request=contact_id, ok=False, error=error, attempts=stats.attempts)
        if payload is None:  # nothing to add for this contact
            return BulkResult(request=contact_id, ok=True, skipped=True, attempts=stats.attempts)
        request = ProfileRequest(contact_id, payload, self._source, key=key)
        result = await add_one(self._client, self._throttle, request, journal=self.journal, key=key)
        return BulkResult(
            request=contact_id,
            ok=result.ok,
            value=result.value,
            error=result.error,
            attempts=stats.attempts + result.attempts,
            recovered=result.recovered,
        )
