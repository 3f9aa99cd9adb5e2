"""The Zyntro wire protocol, sans I/O: plain data in, plain data (or a typed error) out.

``fetch_contact_call`` / ``add_profile_call`` validate arguments and build a :class:`Call`
(endpoint + JSON body); :func:`interpret` turns ``(status, headers, body)`` into the call's
model or raises the matching :mod:`._exceptions` error. Nothing here touches the network,
so every rule is tested on plain bytes.
"""

from __future__ import annotations

import email.utils
import json
import math
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final, Generic, TypeVar

import attrs

from ._config import Credentials
from ._converter import MalformedResponseError, structure_contact_details, structure_profile
from ._exceptions import RateLimitError, ServerError, ValidationError, api_error_for
from ._models import ContactDetails, Profile

FETCH_CONTACT: Final = "fetchContact"
ADD_PROFILE: Final = "addProfileToContact"

# Deeper payloads are refused locally: the server's JSON decoder has a depth limit too.
MAX_PAYLOAD_DEPTH: Final = 128

T = TypeVar("T")


@attrs.frozen
class Call(Generic[T]):
    """One request to make: where, what (the JSON body, secrets inside) and how to read it."""

    endpoint: str
    contact_id: str
    body: bytes = attrs.field(repr=False)
    decode: Callable[[Any], T] = attrs.field(repr=False)
    idempotent: bool


@attrs.frozen
class RawResponse:
    """What came back, before interpretation."""

    status: int
    headers: Mapping[str, str] = attrs.field(repr=False)
    body: bytes = attrs.field(repr=False)


def _encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def _require_id(value: object, what: str, *, endpoint: str, code: str) -> str:
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str):
        raise ValidationError(
            [f"{what} must be a string, not {type(value).__name__}"], code=code, endpoint=endpoint
        )
    if not value.strip():
        raise ValidationError([f"{what} is empty"], code=code, endpoint=endpoint)
    if not _is_utf8(value):
        raise ValidationError([f"{what} is not valid UTF-8"], code=code, endpoint=endpoint)
    return value


def _is_utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _payload_problem(payload: object) -> str | None:
    """Why ``payload`` would not round-trip as JSON unchanged, or None if it would."""
    if not isinstance(payload, (dict, list)):
        return f"profile_payload must be a JSON object or array, not {type(payload).__name__}"
    stack: list[tuple[object, int]] = [(payload, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_PAYLOAD_DEPTH:
            return f"profile_payload is nested deeper than {MAX_PAYLOAD_DEPTH} levels"
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    return f"profile_payload has a {type(key).__name__} key; JSON keys are strings"
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, float):
            if not math.isfinite(value):
                return "profile_payload holds NaN or infinity, which JSON cannot carry"
        elif not (value is None or isinstance(value, (str, int))):
            return f"profile_payload holds a {type(value).__name__}, which is not JSON"
    return None


def _flag(value: bool) -> int:
    return 1 if value else 0


def _identity(
    credentials: Credentials,
    contact_id: object,
    member_id: str | None,
    endpoint: str,
    contact_code: str,
    member_code: str,
) -> dict[str, Any]:
    """The fields every request carries: who is asking, about which contact (validated)."""
    contact = _require_id(contact_id, "contact_id", endpoint=endpoint, code=contact_code)
    member = credentials.member_id if member_id is None else member_id
    return {
        "api_key": credentials.api_key,
        "developer_secret": credentials.developer_secret,
        "org_id": credentials.org_id,
        "member_id": _require_id(member, "member_id", endpoint=endpoint, code=member_code),
        "contact_id": contact,
    }


def fetch_contact_call(
    credentials: Credentials,
    contact_id: object,
    *,
    member_id: str | None = None,
    include_notes: bool = False,
    include_entity: bool = False,
    include_profile: bool = False,
    include_signals: bool = False,
) -> Call[ContactDetails]:
    """Build a ``fetchContact`` call; include flags go on the wire as integers 0/1."""
    endpoint = FETCH_CONTACT
    body = _identity(
        credentials, contact_id, member_id, endpoint, "MISSING_CONTACT_ID", "MISSING_MEMBER_ID"
    )
    cid = body["contact_id"]
    body |= {
        "include_notes": _flag(include_notes),
        "include_entity": _flag(include_entity),
        "include_profile": _flag(include_profile),
        "include_signals": _flag(include_signals),
    }

    def decode(data: Any) -> ContactDetails:
        return structure_contact_details(
            data,
            include_notes=include_notes,
            include_entity=include_entity,
            include_profile=include_profile,
            include_signals=include_signals,
        )

    return Call(
        endpoint=endpoint, contact_id=cid, body=_encode(body), decode=decode, idempotent=True
    )


def add_profile_call(
    credentials: Credentials,
    contact_id: object,
    payload: object,
    source: object,
    *,
    member_id: str | None = None,
) -> Call[Profile]:
    """Build an ``addProfileToContact`` call, refusing locally what the server would refuse.

    Refused (``ValidationError``, before any request): empty ids or source (MISSING_FIELDS),
    an empty payload (the server treats ``{}``/``[]`` as missing, PHP ``empty()``), and a
    payload that would not survive JSON unchanged (INVALID_PAYLOAD): not an object/array,
    non-string keys, NaN/inf, bytes, sets, tuples, other objects, or absurd nesting.
    """
    endpoint = ADD_PROFILE
    body = _identity(
        credentials, contact_id, member_id, endpoint, "MISSING_FIELDS", "MISSING_FIELDS"
    )
    cid = body["contact_id"]
    if not isinstance(source, str) or not source.strip() or not _is_utf8(source):
        raise ValidationError(
            ["profile_source must be a non-empty, valid UTF-8 string"],
            code="MISSING_FIELDS",
            endpoint=endpoint,
            contact_id=cid,
        )
    problem = _payload_problem(payload)
    if problem is not None:
        raise ValidationError([problem], code="INVALID_PAYLOAD", endpoint=endpoint, contact_id=cid)
    if not payload:
        raise ValidationError(
            ["profile_payload is empty"], code="MISSING_FIELDS", endpoint=endpoint, contact_id=cid
        )
    body |= {"profile_payload": payload, "profile_source": source}
    try:
        # Ids and source were checked for valid UTF-8 above, so a failure here is the
        # payload's: a lone surrogate (one check on the whole body, not one per string).
        encoded = _encode(body)
    except UnicodeEncodeError:
        raise ValidationError(
            ["profile_payload holds a string with a lone surrogate (not valid UTF-8)"],
            code="INVALID_PAYLOAD",
            endpoint=endpoint,
            contact_id=cid,
        ) from None
    return Call(
        endpoint=endpoint, contact_id=cid, body=encoded, decode=structure_profile, idempotent=False
    )


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` in seconds from now: delta-seconds or an HTTP date; None if unusable."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _describe_body(headers: Mapping[str, str], body: bytes) -> str:
    ctype = headers.get("Content-Type", "no content type").split(";")[0].strip()
    return f"{ctype}, {len(body)} bytes"


def interpret(call: Call[T], response: RawResponse, *, now: float | None = None) -> T:
    """Turn a raw answer into the call's model, or raise its typed error."""
    endpoint, cid = call.endpoint, call.contact_id
    status = response.status
    if status != 200:
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now=now)
        if status == 429:
            raise RateLimitError(
                "rate limited (HTTP 429)",
                retry_after=retry_after,
                endpoint=endpoint,
                contact_id=cid,
            )
        raise ServerError(
            f"HTTP {status} ({_describe_body(response.headers, response.body)})",
            status=status,
            retry_after=retry_after,
            endpoint=endpoint,
            contact_id=cid,
        )
    try:
        envelope = json.loads(response.body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        envelope = None
    if not isinstance(envelope, dict) or envelope.get("status") not in ("success", "error"):
        raise ServerError(
            "the answer is not the API's JSON envelope "
            f"({_describe_body(response.headers, response.body)})",
            status=status,
            endpoint=endpoint,
            contact_id=cid,
        )
    data = envelope.get("data")
    if envelope["status"] == "error":
        if isinstance(data, str):
            messages = [data]
        elif isinstance(data, list):
            messages = [m if isinstance(m, str) else json.dumps(m) for m in data]
        else:
            messages = [] if data is None else [json.dumps(data)]
        raise api_error_for(endpoint, messages, contact_id=cid)
    try:
        return call.decode(data)
    except MalformedResponseError as exc:
        raise ServerError(
            f"malformed success answer: {exc}", status=status, endpoint=endpoint, contact_id=cid
        ) from None
