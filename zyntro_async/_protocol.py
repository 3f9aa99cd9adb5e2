"""The Zyntro wire protocol, sans I/O: plain data in, plain data (or a typed error) out.

``fetch_contact_call`` / ``add_profile_call`` validate arguments and build a :class:`Call`
(endpoint + JSON body); :func:`._answers.interpret` turns ``(status, headers, body)`` into
the call's model or raises the matching :mod:`._exceptions` error. Nothing here touches
the network, so every rule is tested on plain bytes.

The payload rules are in :mod:`._payload`, the answer side in :mod:`._answers`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from json.encoder import encode_basestring
from typing import Any, Final, Generic, TypeVar

from ._config import Credentials
from ._converter import structure_contact_details, structure_profile
from ._exceptions import ValidationError
from ._models import ContactDetails, Profile
from ._payload import is_flat, is_utf8, payload_problem, surrogate_path
from ._policy import EMPTY_STRINGS, php_empty, wire_id
from ._policy import coerce_id as coerce_id  # the one id rule, where requests are built

FETCH_CONTACT: Final = "fetchContact"
ADD_PROFILE: Final = "addProfileToContact"


T = TypeVar("T")


class Call(Generic[T]):
    """One request to make: where, what (the JSON body, secrets inside) and how to read it.

    ``secrets`` are the credentials' secret values the body carries; :func:`interpret`
    scrubs them from any server text that reaches an exception. Neither they nor the body
    appear in the repr. A plain slotted class (one per request; treat it as immutable).
    """

    __slots__ = ("body", "contact_id", "decode", "endpoint", "secrets")

    def __init__(
        self,
        endpoint: str,
        contact_id: str,
        body: bytes,
        decode: Callable[[Any], T],
        secrets: tuple[str, ...] = (),
    ) -> None:
        self.endpoint = endpoint
        self.contact_id = contact_id
        self.body = body
        self.decode = decode
        self.secrets = secrets

    def __repr__(self) -> str:
        return f"Call(endpoint={self.endpoint!r}, contact_id={self.contact_id!r})"


class RawResponse:
    """What came back, before interpretation (a plain slotted class: one per request)."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"RawResponse(status={self.status})"


# Built once: json.dumps with options builds a new encoder per call.
_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


_READ_BACK: Final = json.JSONDecoder().decode


def sent_fields(call: Call[Any]) -> dict[str, Any]:
    """The fields ``call`` sends, read back from its body: the JSON written here, so
    plain JSON values, as the server stores them (an add's payload, source, member)."""
    fields: dict[str, Any] = _READ_BACK(call.body.decode())
    return fields


def _encode(body: dict[str, Any]) -> bytes:
    return _ENCODER.encode(body).encode()


def _flat_writer() -> Callable[[dict[str, Any], int], Any]:
    """What writes the body of a flat payload (see :func:`._payload.is_flat`) as
    ``_ENCODER.encode`` does, through ``"".join(writer(body, 0))``.

    ``_ENCODER.encode`` builds a C encoder per call, with a dict to catch circular
    references; such a body holds no container but itself and the payload, nothing to go
    round in, so one C encoder built once, without that dict, writes it: the one
    ``JSONEncoder.iterencode`` builds itself (``json.encoder.c_make_encoder``), with the
    same arguments. Without the C accelerator, ``_ENCODER.iterencode`` writes it.
    """
    make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if make_encoder is None:
        return lambda body, _level: _ENCODER.iterencode(body)
    try:
        return make_encoder(  # type: ignore[no-any-return]
            None,  # no circular references to look for
            _ENCODER.default,
            encode_basestring,  # ensure_ascii=False
            None,
            _ENCODER.key_separator,
            _ENCODER.item_separator,
            _ENCODER.sort_keys,
            _ENCODER.skipkeys,
            _ENCODER.allow_nan,
        )
    except TypeError:  # another signature than the one JSONEncoder passes it
        return lambda body, _level: _ENCODER.iterencode(body)


_WRITE_FLAT: Final = _flat_writer()


def _refuse(message: str, *, code: str, endpoint: str, contact_id: str | None) -> ValidationError:
    return ValidationError([message], code=code, endpoint=endpoint, contact_id=contact_id)


def contact_id_of(item: object) -> str | None:
    """The contact id a bulk item names (a request, a mapping with ``contact_id``, or the
    id itself), as the wire writes it (see :func:`wire_id`); None if it names none.

    Never raises: it names items in logs and results, also those that failed because
    reading them raised."""
    try:
        value = getattr(item, "contact_id", item)
        if isinstance(value, Mapping):
            value = value.get("contact_id")
        return wire_id(value)
    except Exception:
        return None


def _identity(
    credentials: Credentials,
    contact_id: object,
    member_id: object,
    endpoint: str,
    contact_code: str,
    member_code: str,
) -> dict[str, Any]:
    """The fields every request carries: who is asking, about which contact (validated).

    Checked in the server's order (member, then contact), so the code is the one it gives.
    """
    member = credentials.wire_member_id if member_id is None else None
    if member is None:  # another member, or the credentials' one, refused as any would be
        given = credentials.member_id if member_id is None else member_id
        member = coerce_id(given, "member_id", endpoint, member_code)
    contact = coerce_id(contact_id, "contact_id", endpoint, contact_code)
    return {
        "api_key": credentials.api_key,
        "developer_secret": credentials.developer_secret,
        "org_id": credentials.org_id,
        "member_id": member,
        "contact_id": contact,
    }


def fetch_contact_call(
    credentials: Credentials,
    contact_id: object,
    *,
    member_id: object = None,
    include_notes: bool = False,
    include_entity: bool = False,
    include_profile: bool = False,
    include_signals: bool = False,
) -> Call[ContactDetails]:
    """Build a ``fetchContact`` call; include flags go on the wire as integers 0/1.

    Ids go through :func:`coerce_id` (MISSING_MEMBER_ID, MISSING_CONTACT_ID). A flag is
    taken by its truth; an object that has none (a numpy array) is refused with the
    local-only code ``INVALID_ARGUMENT``. Raises ``ValidationError`` and nothing else,
    whatever the arguments.
    """
    endpoint = FETCH_CONTACT
    body = _identity(
        credentials, contact_id, member_id, endpoint, "MISSING_CONTACT_ID", "MISSING_MEMBER_ID"
    )
    cid = body["contact_id"]
    try:
        notes, entity = bool(include_notes), bool(include_entity)
        profile, signals = bool(include_profile), bool(include_signals)
    except Exception:  # an object without a truth value (a numpy array, pandas.NA)
        raise _refuse(
            "include flags must be bools",
            code="INVALID_ARGUMENT",
            endpoint=endpoint,
            contact_id=cid,
        ) from None
    body |= {
        "include_notes": 1 if notes else 0,
        "include_entity": 1 if entity else 0,
        "include_profile": 1 if profile else 0,
        "include_signals": 1 if signals else 0,
    }

    def decode(data: Any) -> ContactDetails:
        return structure_contact_details(
            data,
            include_notes=bool(notes),
            include_entity=bool(entity),
            include_profile=bool(profile),
            include_signals=bool(signals),
        )

    return Call(
        endpoint=endpoint,
        contact_id=cid,
        body=_encode(body),
        decode=decode,
        secrets=(credentials.api_key, credentials.developer_secret),
    )


def add_profile_call(
    credentials: Credentials,
    contact_id: object,
    payload: object,
    source: object,
    *,
    member_id: object = None,
) -> Call[Profile]:
    """Build an ``addProfileToContact`` call, refusing locally what the server would refuse.

    Raises ``ValidationError`` and nothing else, whatever the arguments. In the server's
    order: an empty member or contact id (see :func:`coerce_id`), then an empty payload
    (PHP ``empty()``: ``{}``, ``[]``, None, ``""``, ``"0"``, 0, False), then a missing
    source (not a string, ``""`` or ``"0"``) are MISSING_FIELDS. A payload that would
    not survive JSON unchanged is INVALID_PAYLOAD: not an object/array, non-string keys,
    NaN/inf, an int too long to write out, bytes, sets, tuples, other objects, a lone
    surrogate, or nesting deeper than ``MAX_PAYLOAD_DEPTH``; the message says where
    (``payload["meta"]["seen"] holds a datetime, which is not JSON``), never a value.
    """
    endpoint = ADD_PROFILE
    body = _identity(
        credentials, contact_id, member_id, endpoint, "MISSING_FIELDS", "MISSING_FIELDS"
    )
    cid = body["contact_id"]
    if type(payload) is dict:  # the common payload: empty when it has no key
        empty = not payload
    else:
        try:
            empty = php_empty(payload)
        except Exception:  # a container type whose len() raises: not JSON either
            empty = False
    if empty:
        raise _refuse(
            "profile_payload is empty", code="MISSING_FIELDS", endpoint=endpoint, contact_id=cid
        )
    if type(source) is not str:
        source = str.__str__(source) if isinstance(source, str) else None
    if source is None or source in EMPTY_STRINGS or (not source.isascii() and not is_utf8(source)):
        raise _refuse(
            'profile_source must be a valid UTF-8 string, not empty or "0"',
            code="MISSING_FIELDS",
            endpoint=endpoint,
            contact_id=cid,
        )
    body["profile_payload"] = payload
    body["profile_source"] = source
    encoded = b""
    if type(payload) is dict and is_flat(payload):
        try:  # the encoder is the check (see is_flat)
            encoded = "".join(_WRITE_FLAT(body, 0)).encode()
        except Exception:
            encoded = b""  # refused: the full check below says why
    if not encoded:
        try:
            problem = payload_problem(payload)
            if problem is None:
                # Ids and source were checked for valid UTF-8 above, so a failure here is
                # the payload's: a lone surrogate (one check on the whole body, not per
                # string).
                encoded = _ENCODER.encode(body).encode()
        except UnicodeEncodeError:
            problem = f"{surrogate_path(payload)} with a lone surrogate (not valid UTF-8)"
        except Exception as exc:  # a dict/list subclass that misbehaves, a lowered int limit
            problem = f"profile_payload cannot be written as JSON ({type(exc).__name__})"
        if problem is not None:
            raise _refuse(problem, code="INVALID_PAYLOAD", endpoint=endpoint, contact_id=cid)
    return Call(
        endpoint,
        cid,
        encoded,
        structure_profile,
        (credentials.api_key, credentials.developer_secret),
    )
