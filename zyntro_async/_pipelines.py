"""What a bulk run does per item: add a profile, fetch a contact, or enrich one.

Each pipeline turns one input item into one :class:`BulkResult` and never raises (except on
cancellation, or a journal that cannot be written): every per-item step -- coercion,
validation, encoding, digest, journal lookup -- turns its failure into that item's failed
result with a typed error. Pipelines get the calls they need as an :class:`Operations`
bound to the run's flow control; they never reach into the client. Keys, ids or sources
that are not valid UTF-8 fail their own item only.

The pipelines: :class:`AddProfiles` (:mod:`._pipeline_add`), :class:`FetchContacts` (here:
read-only, no journal), :class:`EnrichContacts` (:mod:`._pipeline_enrich`); what they share
is in :mod:`._pipeline_items` (the item's request) and :mod:`._pipeline_journal` (the
journal's plumbing and the journaled add).
"""

from __future__ import annotations

from typing import Any

from ._exceptions import ZyntroError
from ._models import ContactDetails
from ._operations import Operations
from ._pipeline_add import AddProfiles
from ._pipeline_enrich import EnrichContacts, Enricher
from ._pipeline_items import failed_result, result_of
from ._protocol import FETCH_CONTACT, coerce_id
from ._results import BulkResult
from ._retry import RetryStats

__all__ = ["AddProfiles", "EnrichContacts", "Enricher", "FetchContacts"]


class FetchContacts:
    """The ``bulk_fetch_contacts`` pipeline (read-only: no journal needed)."""

    operation = "bulk_fetch_contacts"  # what a run of it is called (telemetry)
    endpoint = FETCH_CONTACT
    works_ahead = False  # an item starts with its request

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
            return failed_result(contact_id, exc, stats)
        flow = self._ops.flow
        if flow is not None:
            flow.item_succeeded(stats.retries)
        return result_of(contact_id, stats, ok=True, value=details)
