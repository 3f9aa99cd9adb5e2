"""A bulk item made a request: what a pipeline checks before anything is sent (the
item's shape, its ids, UTF-8 wherever it will be written), and an item's failed result.

Every check fails the item alone, with a typed error; none raises out of the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._exceptions import ValidationError, ZyntroError
from ._payload import is_utf8
from ._protocol import ADD_PROFILE, coerce_id
from ._results import BulkResult, ProfileRequest
from ._retry import RetryStats


def item_id(value: object, what: str) -> str:
    """Ids follow the protocol's one rule (ints and UUIDs become strings) everywhere."""
    return coerce_id(value, what, endpoint=ADD_PROFILE, code="MISSING_FIELDS")


def plain_ascii(request: ProfileRequest) -> bool:
    """Whether ``request``'s key (if any) and contact id are ASCII ``str`` and its source
    is not a non-ASCII string: valid UTF-8 as they are (the common case), nothing to
    coerce or encode."""
    key, contact_id, source = request.key, request.contact_id, request.source
    return (
        (key is None or (type(key) is str and key.isascii()))
        and type(contact_id) is str
        and contact_id.isascii()
        and (not isinstance(source, str) or source.isascii())
    )


def _encodable(request: ProfileRequest) -> ProfileRequest:
    """``request``, if its key, contact id and source can be written as UTF-8 (a journal,
    a results file and the wire all need it); else its own ``ValidationError``."""
    if plain_ascii(request):
        return request
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
            item_id(contact_id, "contact_id"),
            payload,  # checked by the add, which refuses a non-JSON one
            source,
            key=None if key is None else str(key),
            member_id=None if member_id is None else item_id(member_id, "member_id"),
        )
    )


def result_of(
    request: object,
    stats: RetryStats,
    *,
    ok: bool,
    value: Any = None,
    error: ZyntroError | None = None,
    skipped: bool = False,
    recovered: bool = False,
    unknown: bool = False,
) -> BulkResult[Any]:
    """An item's result, with what its call took (attempts, retries) from ``stats``."""
    return BulkResult(  # positional, in the fields' order: every item's result is built here
        request,
        ok,
        value,
        error,
        stats.attempts,
        skipped,
        recovered,
        stats.retries,
        unknown,
        stats.retries_abandoned,
    )


def failed_result(
    request: object, error: ZyntroError, stats: RetryStats | None = None
) -> BulkResult[Any]:
    if stats is None:
        return BulkResult(request=request, ok=False, error=error)
    return result_of(request, stats, ok=False, error=error, unknown=stats.unknown)
