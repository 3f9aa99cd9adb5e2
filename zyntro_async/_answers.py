"""Reading the API's answers, sans I/O: ``(status, headers, body)`` to a model or an error.

:func:`interpret` is the one place an answer is judged: a non-200 status (with its
``Retry-After`` and rate-limit headers), a body that is not the API's JSON envelope, the
API's own ``{"status": "error"}`` (HTTP 200), or the call's model. Every piece of server
text that reaches an exception has the request's secrets, and the values of an add's
payload (personal data a server may echo: "got {"email": ...}"), replaced by ``***``.
"""

from __future__ import annotations

import email.utils
import json
import math
import re
import time
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, Final, TypeVar

from ._converter import MalformedResponseError
from ._exceptions import RateLimitError, ServerError, redact
from ._policy import STATUS_CODES, api_error_for
from ._protocol import ADD_PROFILE, Call, RawResponse, sent_fields

T = TypeVar("T")


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


#: Nesting followed when collecting a payload's values (the payload rules allow less).
_MAX_DEPTH: Final = 64


def _values(node: object, out: list[str], depth: int = 0) -> None:
    if isinstance(node, str):
        out.append(node)
    elif type(node) is int or (type(node) is float and math.isfinite(node)):
        out.append(repr(node))  # what json.dumps writes for them, without its encoder
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        out.append(json.dumps(node))
    elif depth < _MAX_DEPTH and isinstance(node, dict):
        for value in node.values():
            _values(value, out, depth + 1)
    elif depth < _MAX_DEPTH and isinstance(node, list):
        for value in node:
            _values(value, out, depth + 1)


def scrubbed(call: Call[Any]) -> tuple[str, ...]:
    """What must not reach an error's text: the call's secrets and, for an add, every
    string and number in its payload (read back from the body: only on an error path)."""
    if call.endpoint != ADD_PROFILE:
        return call.secrets
    try:
        payload = sent_fields(call).get("profile_payload")
    except (ValueError, AttributeError, RecursionError):
        return call.secrets
    found: list[str] = []
    _values(payload, found)
    return (*call.secrets, *found)


def _describe_body(headers: Mapping[str, str], body: bytes, secrets: tuple[str, ...]) -> str:
    ctype = str(headers.get("Content-Type", "no content type")).split(";")[0].strip()
    if len(ctype) > 60:
        ctype = ctype[:60] + "..."
    return f"{redact(ctype, secrets)}, {len(body)} bytes"


def _status_line(status: int) -> str:
    """``HTTP 413 Content Too Large``: the status with its reason phrase, when it has one."""
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


_DECODER: Final = json.JSONDecoder()  # what json.loads decodes with
_DECODE: Final = _DECODER.decode
_RAW_DECODE: Final = _DECODER.raw_decode
_JSON_SPACE: Final = " \t\n\r"


def _decode_body(body: bytes) -> Any:
    """``json.loads(body)``: a body that opens with ``{`` and no NUL after it is UTF-8
    (what ``json.loads`` would detect), decoded without its per-call detection.

    Such a text has no space to skip before its value, so ``raw_decode`` reads it; what
    is left after the value is then checked, only JSON's white space may be (``decode``,
    which says why otherwise, reads any other text again).
    """
    if body[:1] == b"{" and body[1:2] != b"\x00":
        text = body.decode("utf-8", "surrogatepass")
        try:
            value, end = _RAW_DECODE(text)
        except Exception:
            end = -1
        if end == len(text) or (end > 0 and not text[end:].strip(_JSON_SPACE)):
            return value
        return _DECODE(text)
    return json.loads(body)


def _as_text(message: object) -> str:
    return message if isinstance(message, str) else json.dumps(message)


def _status_error(
    call: Call[Any], response: RawResponse, now: float | None
) -> RateLimitError | ServerError:
    """The error of a non-200 answer, with its ``Retry-After`` and rate-limit headers."""
    endpoint, cid = call.endpoint, call.contact_id
    status = response.status
    headers = response.headers
    retry_after = parse_retry_after(headers.get("Retry-After"), now=now)
    limit, remaining, reset = parse_rate_limit(headers, now=now)
    if status == 429:
        return RateLimitError(
            "rate limited (HTTP 429)",
            retry_after=retry_after,
            endpoint=endpoint,
            contact_id=cid,
            limit=limit,
            remaining=remaining,
            reset=reset,
        )
    error = ServerError(
        f"{_status_line(status)} ({_describe_body(headers, response.body, scrubbed(call))})",
        status=status,
        retry_after=retry_after,
        endpoint=endpoint,
        contact_id=cid,
        limit=limit,
        remaining=remaining,
        reset=reset,
    )
    code = STATUS_CODES.get(status)
    if code is not None:
        error.code = code
    return error


def interpret(call: Call[T], response: RawResponse, *, now: float | None = None) -> T:
    """Turn a raw answer into the call's model, or raise its typed error.

    Every piece of server text that reaches an error has ``call.secrets`` (and an add's
    payload values, see :func:`scrubbed`) replaced by ``***``. A non-200 answer's
    ``Retry-After`` and rate-limit headers go on the
    ``RateLimitError``/``ServerError`` (``retry_after``, ``limit``, ``remaining``, ``reset``).
    """
    status = response.status
    if status != 200:
        # Built by a function of its own: a local of this frame holding the error would
        # make a reference cycle with its traceback, which holds this frame.
        raise _status_error(call, response, now)
    try:
        envelope = _decode_body(response.body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        envelope = None
    outcome = envelope.get("status") if isinstance(envelope, dict) else None
    if outcome == "success":  # the common answer first
        try:
            return call.decode(envelope.get("data"))
        except MalformedResponseError as exc:
            raise ServerError(
                f"malformed success answer: {redact(str(exc), scrubbed(call))}",
                status=status,
                endpoint=call.endpoint,
                contact_id=call.contact_id,
            ) from None
    if outcome != "error":
        raise ServerError(
            "the answer is not the API's JSON envelope "
            f"({_describe_body(response.headers, response.body, scrubbed(call))})",
            status=status,
            endpoint=call.endpoint,
            contact_id=call.contact_id,
        )
    data = envelope.get("data")
    if isinstance(data, list):
        messages = [_as_text(m) for m in data]
    else:
        messages = [] if data is None else [_as_text(data)]
    raise api_error_for(call.endpoint, messages, contact_id=call.contact_id, secrets=scrubbed(call))
