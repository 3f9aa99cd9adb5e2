"""The error policy as one table: every error code once, with all the SDK decides by it.

Each :class:`Code` row says, for one ``.code``:

- ``error``: the class raised with it (its subclasses may share the code: ``ProxyError``
  is a ``CONNECT_ERROR``);
- ``messages``: the API's documented messages for it, per endpoint (the error envelope's
  text is mapped back to the code by :func:`api_error_for`);
- ``retry`` and ``retry_statuses``: the kind of failure its class is for the retry rules
  (``zyntro_async.retries.DEFAULT_RULES`` is these rows, in this order; None: a base
  class's row decides, or none does and the failure is ambiguous);
- ``stops_run`` and ``stops_run_statuses``: every request of a run would fail the same
  way (the setup is wrong, not the item), so a bulk run stops at the first one and the
  CLI exits as stopped; with statuses, only for those HTTP statuses;
- ``item_fault``: the failure is the item's own (its contact, its payload): a journaled
  one is not sent again by a re-run unless ``retry_failed=True``;
- ``status``: the HTTP status a ``ServerError`` with this code is answered with.

What counts as missing, for every check the SDK makes before a request (arguments,
command-line flags, input lines), is one rule too: :func:`php_empty`, the API's own; and
what an id may be, another: :func:`coerce_id` (:func:`wire_id` writes it).

The rows follow the exception tree drawn in ``_exceptions``, with the retry rules' rows
in the order those rules are matched.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Final, Literal

import attrs

from ._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    ClientClosedError,
    ConfigurationError,
    ConnectError,
    ConnectTimeout,
    DisconnectedError,
    EnricherError,
    InvalidArgumentError,
    ItemError,
    JournalConflictError,
    JournalError,
    NotFoundError,
    PermissionDeniedError,
    PreviousFailure,
    RateLimitError,
    ReadTimeout,
    ServerError,
    TLSError,
    ValidationError,
    ZyntroError,
    redact,
)
from ._payload import is_utf8

__all__ = [
    "BY_CODE",
    "CODES",
    "EMPTY_STRINGS",
    "STATUS_CODES",
    "Code",
    "api_error_for",
    "is_item_fault",
    "php_empty",
    "stops_run",
]

FETCH: Final = "fetchContact"
ADD: Final = "addProfileToContact"

#: A failure's kind for the retry rules (the values of ``retries.FailureKind``).
RetryKind = Literal["not_sent", "refused", "ambiguous", "fatal"]


@attrs.frozen
class Code:
    """One error code and everything the SDK decides by it (see the module docstring)."""

    code: str
    error: type[ZyntroError]
    messages: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    retry: RetryKind | None = None
    retry_statuses: frozenset[int] | None = None
    stops_run: bool = False
    stops_run_statuses: frozenset[int] | None = None
    item_fault: bool = False
    status: int | None = None


def _both(message: str) -> dict[str, tuple[str, ...]]:
    return {FETCH: (message,), ADD: (message,)}


#: Statuses by which the server (or a gateway before it) refused the request as such: a
#: redirect (never followed) or a client error; 429 is a refusal to retry after a wait.
_REFUSED_AS_SENT: Final = frozenset(range(300, 500)) - {429}

#: Statuses that say the base URL or a gateway is wrong, not the item.
_WRONG_ENDPOINT: Final = frozenset({401, 403, 404, 405})

# The addProfileToContact page prints MISSING_FIELDS as one line listing five fields; the
# literal line and each field's own "Missing <field>" message are both accepted.
_MISSING_FIELDS_LINE: Final = (
    "Missing org ID / member ID / contact ID / profile_payload / profile_source"
)
_MISSING_FIELDS: Final = (
    _MISSING_FIELDS_LINE,
    *("Missing " + field for field in _MISSING_FIELDS_LINE.removeprefix("Missing ").split(" / ")),
)

CODES: Final[tuple[Code, ...]] = (
    Code("ZYNTRO_ERROR", ZyntroError),
    # -- the API said no: never retried ---------------------------------------------------
    Code("UNKNOWN", APIError, retry="fatal"),  # a message the docs do not list
    Code(
        "MISSING_API_KEY",
        AuthenticationError,
        _both("Missing service instance"),
        stops_run=True,
    ),
    Code("INVALID_API_KEY", AuthenticationError, _both("Invalid API Key"), stops_run=True),
    Code(
        "MISSING_DEVELOPER_SECRET",
        AuthenticationError,
        _both("Missing developer_secret"),
        stops_run=True,
    ),
    Code(
        "INVALID_DEVELOPER_SECRET",
        AuthenticationError,
        _both("Invalid developer_secret"),
        stops_run=True,
    ),
    # Listed on fetchContact's page only; the same server answers it on both endpoints.
    Code("USER_INACTIVE", AuthenticationError, _both("User is not active"), stops_run=True),
    Code(
        "IP_NOT_WHITELISTED",
        PermissionDeniedError,
        _both("IP address not whitelisted"),
        stops_run=True,
    ),
    Code(
        "NOT_OWNER",
        PermissionDeniedError,
        {ADD: ("The API only supports notes being added by the member that owns the contact.",)},
        item_fault=True,
    ),
    Code(
        "NOT_FOUND",
        NotFoundError,
        {FETCH: ("No such contact",), ADD: ("Contact does not exist",)},
        item_fault=True,
    ),
    # "Missing org ID" is MISSING_ORG_ID on fetchContact and MISSING_FIELDS on an add.
    Code("MISSING_FIELDS", ValidationError, {ADD: _MISSING_FIELDS}, item_fault=True),
    Code(
        "MISSING_CONTACT_ID",
        ValidationError,
        {FETCH: ("Missing contact ID",)},
        item_fault=True,
    ),
    Code("MISSING_ORG_ID", ValidationError, {FETCH: ("Missing org ID",)}, stops_run=True),
    Code("MISSING_MEMBER_ID", ValidationError, {FETCH: ("Missing member ID",)}, stops_run=True),
    Code(
        "INVALID_PAYLOAD",
        ValidationError,
        {
            ADD: (
                "Profile payload must be a valid array. "
                "The key/value pairing can be anything you like.",
            )
        },
        item_fault=True,
    ),
    # -- the SDK refused it before any request ----------------------------------------------
    Code("CLIENT_CLOSED", ClientClosedError, retry="fatal"),
    Code("INVALID_ARGUMENT", InvalidArgumentError, retry="fatal"),
    Code("CONFIGURATION", ConfigurationError),
    # -- the connection failed, or the server answered with a status --------------------
    Code("TLS_ERROR", TLSError, retry="fatal"),
    Code("CONNECT_ERROR", ConnectError, retry="not_sent"),
    Code("CONNECT_TIMEOUT", ConnectTimeout, retry="not_sent"),
    Code("RATE_LIMITED", RateLimitError, retry="refused"),
    Code(
        "SERVER_ERROR",
        ServerError,
        retry="refused",
        retry_statuses=frozenset({503}),
        stops_run=True,
        stops_run_statuses=_WRONG_ENDPOINT,
    ),
    Code("HTTP_STATUS", APIStatusError, retry="fatal", retry_statuses=_REFUSED_AS_SENT),
    Code("READ_TIMEOUT", ReadTimeout, retry="ambiguous"),
    Code("DISCONNECTED", DisconnectedError, retry="ambiguous"),
    # The body is too large for the server or a proxy before it: sending it again cannot help.
    Code("PAYLOAD_TOO_LARGE", ServerError, status=413),
    Code("TRANSPORT_ERROR", APIConnectionError),
    Code("TIMEOUT", APITimeoutError),
    # -- bulk runs --------------------------------------------------------------------------
    Code("JOURNAL_ERROR", JournalError),
    Code("JOURNAL_KEY_CONFLICT", JournalConflictError, item_fault=True),
    Code("PREVIOUS_FAILURE", PreviousFailure),  # an instance carries the original code
    Code("ENRICHER_FAILED", EnricherError, item_fault=True),
    Code("ITEM_ERROR", ItemError),
)

BY_CODE: Final[Mapping[str, Code]] = {row.code: row for row in CODES}

#: The API's own codes (the error envelope's) and their classes.
_API_CLASSES: Final[Mapping[str, type[APIError]]] = {
    row.code: row.error for row in CODES if issubclass(row.error, APIError)
}

#: HTTP status -> the code of a ``ServerError`` answered with it (else ``SERVER_ERROR``).
STATUS_CODES: Final[Mapping[int, str]] = {
    row.status: row.code for row in CODES if row.status is not None
}


def _normalise(message: str) -> str:
    return " ".join(message.split()).casefold()


def _lookup() -> dict[str, dict[str, str]]:
    """Endpoint -> normalised message -> code; a message means one code per endpoint."""
    table: dict[str, dict[str, str]] = {}
    for row in CODES:
        for endpoint, messages in row.messages.items():
            for message in messages:
                known = table.setdefault(endpoint, {}).setdefault(_normalise(message), row.code)
                if known != row.code:  # pragma: no cover - a wrong table fails at import
                    raise AssertionError(f"{endpoint}: {message!r} is {known} and {row.code}")
    return table


_LOOKUP: Final = _lookup()


def api_error_for(
    endpoint: str,
    messages: Sequence[str],
    *,
    contact_id: str | None = None,
    secrets: Sequence[str] = (),
) -> APIError:
    """Build the typed error for an error envelope's messages (first known message wins;
    case and spacing do not count).

    The code is read from the messages as sent; the error keeps them with each of
    ``secrets`` replaced by ``***`` (see :func:`~._exceptions.redact`).
    """
    table = _LOOKUP.get(endpoint, {})
    code = next((table[k] for k in map(_normalise, messages) if k in table), "UNKNOWN")
    cls = _API_CLASSES[code]
    if secrets:
        messages = [redact(m, secrets) for m in messages]
    return cls(messages, code=code, endpoint=endpoint, contact_id=contact_id)


def stops_run(error: BaseException | None) -> bool:
    """Whether every request of a run would fail as ``error`` did: the setup is wrong (the
    credentials, the IP whitelist, the org or member, the base URL), not the item."""
    row = BY_CODE.get(getattr(error, "code", None) or "")
    if row is None or not row.stops_run or not isinstance(error, row.error):
        return False
    return row.stops_run_statuses is None or getattr(error, "status", None) in (
        row.stops_run_statuses
    )


def is_item_fault(code: str | None) -> bool:
    """Whether a failure with ``code`` was the item's own (its contact, its payload), so a
    journaled one is not retried by a re-run unless asked to."""
    row = BY_CODE.get(code or "")
    return row is not None and row.item_fault


#: The strings PHP's ``empty()`` calls missing (a hot path tests ``text in EMPTY_STRINGS``
#: instead of calling :func:`php_empty`).
EMPTY_STRINGS: Final = frozenset({"", "0"})


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
        return value in EMPTY_STRINGS
    if isinstance(value, (int, float)):
        return value == 0
    if isinstance(value, (dict, list, tuple)):
        return not value
    return False


def wire_id(value: object) -> str | None:
    """An id as the wire writes it: a ``str`` (a subclass as its plain string), a
    ``uuid.UUID``'s string, a non-bool ``int``'s decimal string (an ``IntEnum`` too); None
    for any other type, or an int too large to write out. The one id rule of the SDK."""
    if type(value) is str:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return int.__repr__(value)
        except ValueError:  # beyond the interpreter's int-to-str digit limit
            return None
    return None


def coerce_id(
    value: object, what: str, endpoint: str, code: str, contact_id: str | None = None
) -> str:
    """The wire string for a contact or member id, or ``ValidationError(code)``.

    Accepted: what :func:`wire_id` writes (a ``str``, a ``uuid.UUID``, a non-bool ``int``:
    database row ids). Refused: bool, float, None and every other type; an id that PHP's ``empty()``
    calls missing (``""``, ``"0"``, so also the int 0; see :func:`php_empty`), with the
    code the server would answer; a string that is not valid UTF-8 (a lone surrogate).
    ``what`` names the argument in the message, ``contact_id`` goes on the error.
    """
    text = value if type(value) is str else wire_id(value)  # the common case, without a call
    if text is None:
        if isinstance(value, int) and not isinstance(value, bool):
            problem = f"{what} is an int too large to write out"
        else:
            problem = f"{what} must be a string, UUID or int, not {type(value).__name__}"
        raise ValidationError([problem], code=code, endpoint=endpoint, contact_id=contact_id)
    if text in EMPTY_STRINGS:  # php_empty, for a string
        raise ValidationError(
            [f"{what} is empty ({text!r} counts as missing for the API)"],
            code=code,
            endpoint=endpoint,
            contact_id=contact_id,
        )
    if not text.isascii() and not is_utf8(text):
        raise ValidationError(
            [f"{what} is not valid UTF-8"], code=code, endpoint=endpoint, contact_id=contact_id
        )
    return text
