"""The Zyntro wire protocol, sans I/O: plain data in, plain data (or a typed error) out.

``fetch_contact_call`` / ``add_profile_call`` validate arguments and build a :class:`Call`
(endpoint + JSON body); :func:`interpret` turns ``(status, headers, body)`` into the call's
model or raises the matching :mod:`._exceptions` error. Nothing here touches the network,
so every rule is tested on plain bytes.

Size: ~550 lines: the call builders and their validation share one walk of the payload
and the PHP ``empty()`` rule; the answer side could move out (issue 16).
"""

from __future__ import annotations

import email.utils
import json
import math
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Generic, TypeAlias, TypeVar, cast

from ._config import Credentials
from ._converter import MalformedResponseError, structure_contact_details, structure_profile
from ._exceptions import RateLimitError, ServerError, ValidationError, api_error_for, redact
from ._models import ContactDetails, Profile

FETCH_CONTACT: Final = "fetchContact"
ADD_PROFILE: Final = "addProfileToContact"

# Deeper payloads are refused locally: the server's JSON decoder has a depth limit too.
MAX_PAYLOAD_DEPTH: Final = 128

T = TypeVar("T")


class Call(Generic[T]):
    """One request to make: where, what (the JSON body, secrets inside) and how to read it.

    ``secrets`` are the credentials' secret values the body carries; :func:`interpret`
    scrubs them from any server text that reaches an exception. Neither they nor the body
    appear in the repr. A plain slotted class (one per request; treat it as immutable).
    """

    __slots__ = ("body", "contact_id", "decode", "endpoint", "idempotent", "secrets")

    def __init__(
        self,
        *,
        endpoint: str,
        contact_id: str,
        body: bytes,
        decode: Callable[[Any], T],
        idempotent: bool,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self.endpoint = endpoint
        self.contact_id = contact_id
        self.body = body
        self.decode = decode
        self.idempotent = idempotent
        self.secrets = secrets

    def __repr__(self) -> str:
        return f"Call(endpoint={self.endpoint!r}, contact_id={self.contact_id!r})"


class RawResponse:
    """What came back, before interpretation (a plain slotted class: one per request)."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, *, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"RawResponse(status={self.status})"


# Built once: json.dumps with options builds a new encoder per call.
_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _encode(body: dict[str, Any]) -> bytes:
    return _ENCODER.encode(body).encode()


def php_empty(value: object) -> bool:
    """PHP's ``empty()`` of the JSON value ``value`` becomes: what the server calls missing.

    True for None, False, 0, 0.0, ``""``, ``"0"``, and an empty array/object; false for
    everything else, including ``"  "``, ``"0.0"`` and ``"00"``. The doc pages say a field
    is refused when it is "missing or empty", and the API is PHP, whose ``empty()`` does
    not trim: a whitespace-only string is NOT empty, so it is sent (and an id like that
    then gets the API's own NOT_FOUND). This is the one emptiness rule of the SDK.
    """
    if value is None or value is False:
        return True
    if isinstance(value, str):
        return value == "" or value == "0"
    if isinstance(value, (int, float)):
        return value == 0
    if isinstance(value, (dict, list, tuple)):
        return not value
    return False


def _is_utf8(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _refuse(message: str, *, code: str, endpoint: str, contact_id: str | None) -> ValidationError:
    return ValidationError([message], code=code, endpoint=endpoint, contact_id=contact_id)


def coerce_id(
    value: object, what: str, *, endpoint: str, code: str, contact_id: str | None = None
) -> str:
    """The wire string for a contact or member id, or ``ValidationError(code)``.

    Accepted: a ``str`` (a subclass is taken as its plain string), a ``uuid.UUID``, and a
    non-bool ``int`` (database row ids; an ``IntEnum`` too), which becomes its decimal
    string. Refused: bool, float, None and every other type; an id that PHP's ``empty()``
    calls missing (``""``, ``"0"``, so also the int 0; see :func:`php_empty`), with the
    code the server would answer; a string that is not valid UTF-8 (a lone surrogate).
    ``what`` names the argument in the message, ``contact_id`` goes on the error.
    """
    if type(value) is str:
        text = value
    elif isinstance(value, str):
        text = str.__str__(value)
    elif isinstance(value, uuid.UUID):
        return str(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        try:
            text = int.__repr__(value)
        except ValueError:  # beyond the interpreter's int-to-str digit limit
            raise _refuse(
                f"{what} is an int too large to write out",
                code=code,
                endpoint=endpoint,
                contact_id=contact_id,
            ) from None
    else:
        raise _refuse(
            f"{what} must be a string, UUID or int, not {type(value).__name__}",
            code=code,
            endpoint=endpoint,
            contact_id=contact_id,
        )
    if text == "" or text == "0":
        raise _refuse(
            f"{what} is empty ({text!r} counts as missing for the API)",
            code=code,
            endpoint=endpoint,
            contact_id=contact_id,
        )
    if not _is_utf8(text):
        raise _refuse(
            f"{what} is not valid UTF-8", code=code, endpoint=endpoint, contact_id=contact_id
        )
    return text


# Ints are written out in decimal; one beyond ``sys.get_int_max_str_digits()`` (4300 by
# default since Python 3.11, at least 640) cannot be. An int of at most this many bits
# has fewer than 640 digits, so only a longer one is tried.
_BIG_INT_BITS: Final = 2000


def _article(name: str) -> str:
    """``name`` with "a" or "an" as it is spoken ("an int", "a datetime", "a UUID")."""
    if name[:2].isupper():  # an acronym, read letter by letter
        return ("an " if name[0] in "AEFHILMNORSX" else "a ") + name
    return ("an " if name[:1].lower() in "aeiou" else "a ") + name


_Link: TypeAlias = "tuple[_Link | None, str | int]"


def _path(link: _Link | None) -> str:
    """``payload["meta"]["seen"]`` for the chain of keys ``link`` ends with."""
    keys: list[str | int] = []
    while link is not None:
        link, key = link
        keys.append(key)
    keys.reverse()
    if len(keys) > 8:
        shown = [*map(_subscript, keys[:4]), "...", *map(_subscript, keys[-3:])]
    else:
        shown = [_subscript(k) for k in keys]
    return "payload" + "".join(shown)


def _subscript(key: str | int) -> str:
    if isinstance(key, int):
        return f"[{key}]"
    shown = key if len(key) <= 40 else key[:40] + "..."
    return f"[{json.dumps(shown)}]"  # ASCII-escaped: a lone surrogate prints safely


# Values accepted without a closer look: exact types only (a subclass goes the long way).
_PLAIN: Final = frozenset({str, bool, type(None)})
_BIG_INT: Final = 2**_BIG_INT_BITS


def apply_default(payload: object, default: Callable[[Any], Any]) -> object:
    """``payload`` with each value JSON cannot carry replaced by ``default(value)``, as
    ``json.dumps(default=...)`` does: the replacement is walked in turn, so it may hold
    more such values. JSON's own types are kept as they are (dict and list subclasses
    become plain dicts and lists); a tuple or a set goes to ``default`` too (the SDK
    refuses them, JSON would change them). If ``default`` raises, the value is left for
    the usual check, which refuses it with its key path. A new structure is returned;
    ``payload`` is not changed.
    """

    def walk(value: Any, depth: int) -> Any:
        if depth > MAX_PAYLOAD_DEPTH:
            return value  # the usual check refuses it, with its path
        if isinstance(value, dict):
            return {k: walk(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, depth + 1) for v in value]
        if value is None or isinstance(value, (str, int, float)):
            return value  # bool is an int
        try:
            replaced = default(value)
        except Exception:
            return value
        return walk(replaced, depth + 1)

    return walk(payload, 1)


def _payload_problem(payload: object) -> str | None:
    """Why ``payload`` would not round-trip as JSON unchanged, or None if it would.

    One walk over the payload, no recursion; the common scalars are checked in place and
    only containers and unusual values are stacked. The path to a problem is only put
    together when there is one. Values never appear in the answer (they may be personal
    data); the keys on the way to the problem do.
    """
    if not isinstance(payload, (dict, list)):
        return f"profile_payload must be a JSON object or array, not {type(payload).__name__}"
    # (value, depth, link to its container, its key there)
    stack: list[tuple[object, int, _Link | None, str | int]] = [(payload, 1, None, "")]
    push = stack.append
    while stack:
        value, depth, parent, key = stack.pop()
        if depth > MAX_PAYLOAD_DEPTH:
            return f"{_path((parent, key))} is nested deeper than {MAX_PAYLOAD_DEPTH} levels"
        is_dict = isinstance(value, dict)
        if is_dict or isinstance(value, list):
            link = (parent, key) if depth > 1 else None
            inline = depth < MAX_PAYLOAD_DEPTH  # else the depth check must see each child
            items: Iterable[tuple[Any, Any]] = (
                cast("dict[Any, Any]", value).items()
                if is_dict
                else enumerate(cast("list[Any]", value))
            )
            for k, item in items:
                if is_dict and type(k) is not str and not isinstance(k, str):
                    kind = _article(type(k).__name__)
                    return f"{_path(link)} has {kind} key; JSON keys are strings"
                if inline:
                    cls = type(item)
                    if (
                        cls in _PLAIN
                        or (cls is int and -_BIG_INT < item < _BIG_INT)
                        or (cls is float and item - item == 0.0)
                    ):
                        continue  # finite: inf - inf and nan - nan are nan
                push((item, depth + 1, link, k))
        elif isinstance(value, str) or value is None or isinstance(value, bool):
            continue
        elif isinstance(value, int):
            if value.bit_length() > _BIG_INT_BITS:
                try:
                    int.__repr__(value)
                except ValueError:
                    where = _path((parent, key))
                    return f"{where} holds an int too large to write out as JSON"
        elif isinstance(value, float):
            if not math.isfinite(value):
                where = _path((parent, key))
                return f"{where} holds NaN or infinity, which JSON cannot carry"
        else:
            where = _path((parent, key))
            return f"{where} holds {_article(type(value).__name__)}, which is not JSON"
    return None


def _surrogate_path(payload: object) -> str:
    """Where the first string a UTF-8 encoder refuses is (only run once one was found)."""
    stack: list[tuple[object, _Link | None]] = [(payload, None)]
    while stack:
        value, link = stack.pop()
        if isinstance(value, dict):
            for k, item in value.items():
                if not _is_utf8(k):
                    return f"{_path(link)} has a key"
                stack.append((item, (link, k)))
        elif isinstance(value, list):
            stack.extend((item, (link, i)) for i, item in enumerate(value))
        elif isinstance(value, str) and not _is_utf8(value):
            return _path(link) + " holds a string"
    return "payload holds a string"


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
    member = credentials.member_id if member_id is None else member_id
    member = coerce_id(member, "member_id", endpoint=endpoint, code=member_code)
    contact = coerce_id(contact_id, "contact_id", endpoint=endpoint, code=contact_code)
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
        idempotent=True,
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
    if source is None or source == "" or source == "0" or not _is_utf8(source):
        raise _refuse(
            'profile_source must be a valid UTF-8 string, not empty or "0"',
            code="MISSING_FIELDS",
            endpoint=endpoint,
            contact_id=cid,
        )
    try:
        problem = _payload_problem(payload)
        if problem is None:
            body["profile_payload"] = payload
            body["profile_source"] = source
            # Ids and source were checked for valid UTF-8 above, so a failure here is
            # the payload's: a lone surrogate (one check on the whole body, not per string).
            encoded = _encode(body)
    except UnicodeEncodeError:
        problem = f"{_surrogate_path(payload)} with a lone surrogate (not valid UTF-8)"
    except Exception as exc:  # a dict/list subclass that misbehaves, a lowered int limit
        problem = f"profile_payload cannot be written as JSON ({type(exc).__name__})"
    if problem is not None:
        raise _refuse(problem, code="INVALID_PAYLOAD", endpoint=endpoint, contact_id=cid)
    return Call(
        endpoint=endpoint,
        contact_id=cid,
        body=encoded,
        decode=structure_profile,
        idempotent=False,
        secrets=(credentials.api_key, credentials.developer_secret),
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


# Rate-limit headers: the de facto X-RateLimit-* names first, then the IETF draft's.
_LIMIT_HEADERS: Final = ("X-RateLimit-Limit", "RateLimit-Limit")
_REMAINING_HEADERS: Final = ("X-RateLimit-Remaining", "RateLimit-Remaining")
_RESET_HEADERS: Final = ("X-RateLimit-Reset", "RateLimit-Reset")
# A reset above this is a Unix timestamp in seconds (2001-09-09 on), above the next one in
# milliseconds; below, it is seconds from now.
_EPOCH_SECONDS: Final = 10**9
_EPOCH_MILLISECONDS: Final = 10**12


_NUMBER: Final = re.compile(r"[0-9]+(?:\.[0-9]*)?")


def _header_number(headers: Mapping[str, str], names: tuple[str, ...]) -> float | None:
    """The first of ``names`` present, as a plain number >= 0; None if absent or unusable.

    Only the first item counts (``100, 100;w=60`` from a draft policy or a joined
    duplicate is read as 100).
    """
    for name in names:
        raw = headers.get(name)
        if raw is None:
            continue
        text = str(raw).split(",", 1)[0].split(";", 1)[0].strip()
        if _NUMBER.fullmatch(text) is None:
            return None
        number = float(text)
        return number if math.isfinite(number) else None
    return None


def parse_rate_limit(
    headers: Mapping[str, str], *, now: float | None = None
) -> tuple[float | None, float | None, float | None]:
    """``(limit, remaining, reset)`` from an answer's rate-limit headers; None for each one
    absent or unusable, never an exception. ``reset`` is in seconds from now: a value above
    ``10**9`` is taken as a Unix timestamp (above ``10**12``, in milliseconds)."""
    limit = _header_number(headers, _LIMIT_HEADERS)
    remaining = _header_number(headers, _REMAINING_HEADERS)
    reset = _header_number(headers, _RESET_HEADERS)
    if reset is not None and reset > _EPOCH_SECONDS:
        if reset > _EPOCH_MILLISECONDS:
            reset /= 1000
        reset = max(0.0, reset - (time.time() if now is None else now))
    return limit, remaining, reset


def _describe_body(headers: Mapping[str, str], body: bytes, secrets: tuple[str, ...]) -> str:
    ctype = str(headers.get("Content-Type", "no content type")).split(";")[0].strip()
    if len(ctype) > 60:
        ctype = ctype[:60] + "..."
    return f"{redact(ctype, secrets)}, {len(body)} bytes"


def _as_text(message: object) -> str:
    return message if isinstance(message, str) else json.dumps(message)


def interpret(call: Call[T], response: RawResponse, *, now: float | None = None) -> T:
    """Turn a raw answer into the call's model, or raise its typed error.

    Every piece of server text that reaches an error has ``call.secrets`` replaced by
    ``***``. A non-200 answer's ``Retry-After`` and rate-limit headers go on the
    ``RateLimitError``/``ServerError`` (``retry_after``, ``limit``, ``remaining``, ``reset``).
    """
    endpoint, cid, secrets = call.endpoint, call.contact_id, call.secrets
    status = response.status
    if status != 200:
        headers = response.headers
        retry_after = parse_retry_after(headers.get("Retry-After"), now=now)
        limit, remaining, reset = parse_rate_limit(headers, now=now)
        if status == 429:
            raise RateLimitError(
                "rate limited (HTTP 429)",
                retry_after=retry_after,
                endpoint=endpoint,
                contact_id=cid,
                limit=limit,
                remaining=remaining,
                reset=reset,
            )
        raise ServerError(
            f"HTTP {status} ({_describe_body(headers, response.body, secrets)})",
            status=status,
            retry_after=retry_after,
            endpoint=endpoint,
            contact_id=cid,
            limit=limit,
            remaining=remaining,
            reset=reset,
        )
    try:
        envelope = json.loads(response.body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        envelope = None
    if not isinstance(envelope, dict) or envelope.get("status") not in ("success", "error"):
        raise ServerError(
            "the answer is not the API's JSON envelope "
            f"({_describe_body(response.headers, response.body, secrets)})",
            status=status,
            endpoint=endpoint,
            contact_id=cid,
        )
    data = envelope.get("data")
    if envelope["status"] == "error":
        if isinstance(data, list):
            messages = [_as_text(m) for m in data]
        else:
            messages = [] if data is None else [_as_text(data)]
        raise api_error_for(endpoint, messages, contact_id=cid, secrets=secrets)
    try:
        return call.decode(data)
    except MalformedResponseError as exc:
        raise ServerError(
            f"malformed success answer: {redact(str(exc), secrets)}",
            status=status,
            endpoint=endpoint,
            contact_id=cid,
        ) from None
