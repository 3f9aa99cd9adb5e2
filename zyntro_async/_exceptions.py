"""Every error the SDK raises, as one tree rooted at :class:`ZyntroError`.

::

    ZyntroError                      .code is always a string
     ├─ ConfigurationError           CONFIGURATION: a missing/invalid setting, found at construction
     ├─ ClientClosedError            CLIENT_CLOSED: the client was closed while a call was in flight
     ├─ JournalError                 JOURNAL_ERROR: a bulk run's journal cannot be used (in
     │                               ._journal; also a ValueError)
     ├─ EnricherError                ENRICHER_FAILED: your enricher raised (in ._pipelines)
     ├─ APIError(code, messages)     a {"status": "error"} answer (the API sends these as HTTP 200!)
     │   ├─ AuthenticationError      MISSING_API_KEY, INVALID_API_KEY, MISSING_DEVELOPER_SECRET,
     │   │                           INVALID_DEVELOPER_SECRET, USER_INACTIVE
     │   ├─ PermissionDeniedError    IP_NOT_WHITELISTED, NOT_OWNER
     │   ├─ NotFoundError            NOT_FOUND ("No such contact", "Contact does not exist")
     │   └─ ValidationError          MISSING_FIELDS, MISSING_CONTACT_ID, MISSING_ORG_ID,
     │                               MISSING_MEMBER_ID, INVALID_PAYLOAD (also raised locally,
     │                               before any request, for input the server would refuse)
     └─ TransportError               the request failed below the API
         ├─ ConnectError             CONNECT_ERROR: refused, reset, DNS -- nothing was sent
         │   └─ TLSError             TLS_ERROR: certificate/handshake failure -- never retried
         ├─ ConnectTimeout           CONNECT_TIMEOUT: no connection (or pool slot) in time
         ├─ ReadTimeout              READ_TIMEOUT: sent, but no complete answer in time
         ├─ DisconnectedError        DISCONNECTED: sent, then the connection dropped
         ├─ RateLimitError           RATE_LIMITED: HTTP 429, with .retry_after and the
         │                           rate-limit evidence .limit, .remaining, .reset
         └─ ServerError(status)      SERVER_ERROR: 5xx, any other non-200, or a body that is
                                     not the JSON envelope (a proxy's HTML page); also
                                     .retry_after, .limit, .remaining, .reset (a 503)

Messages name the endpoint and the contact id; they never contain a secret or a payload.
Text that comes from the server (an error envelope's messages, a content type, a
malformed answer's description) has the configured ``api_key`` and ``developer_secret``
replaced by ``***`` before it reaches an exception: a server or proxy that echoes the
request cannot leak them into messages, logs or results files.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence

__all__ = [
    "APIError",
    "AuthenticationError",
    "ClientClosedError",
    "ConfigurationError",
    "ConnectError",
    "ConnectTimeout",
    "DisconnectedError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ReadTimeout",
    "ServerError",
    "TLSError",
    "TransportError",
    "ValidationError",
    "ZyntroError",
    "api_error_for",
    "redact",
]

REDACTED = "***"

# Secrets shorter than this are not scrubbed: replacing "k" or "se" would shred every
# message ("Invalid API ***ey") and a key that short protects nothing anyway.
MIN_SECRET_LENGTH = 4


@functools.lru_cache(maxsize=64)
def _secret_forms(secrets: tuple[str, ...]) -> tuple[str, ...]:
    """Each secret as it can appear in server text: verbatim, and JSON-escaped (an echoed
    body), ``\\uXXXX`` or not. Longest first, so no shorter form splits a longer one."""
    forms = set()
    for secret in secrets:
        if len(secret) >= MIN_SECRET_LENGTH:
            forms.add(secret)
            forms.add(json.dumps(secret)[1:-1])
            forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
    return tuple(sorted(forms, key=len, reverse=True))


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every occurrence of each secret replaced by ``***``.

    Used on every piece of server-provided text before it becomes part of an exception.
    """
    if not secrets:
        return text
    for form in _secret_forms(tuple(secrets)):
        if form in text:
            text = text.replace(form, REDACTED)
    return text


def _where(endpoint: str | None, contact_id: str | None) -> str:
    if endpoint is None:
        return ""
    if contact_id is None:
        return f"{endpoint}: "
    return f"{endpoint} (contact {contact_id!r}): "


class ZyntroError(Exception):
    """Base of every error raised by zyntro_async."""

    code: str = "ZYNTRO_ERROR"

    def __init__(
        self, message: str, *, endpoint: str | None = None, contact_id: str | None = None
    ) -> None:
        super().__init__(_where(endpoint, contact_id) + message)
        self.message = message
        self.endpoint = endpoint
        self.contact_id = contact_id


class ConfigurationError(ZyntroError):
    """A setting is missing or invalid; raised when the client is built, not on first use."""

    code = "CONFIGURATION"


class ClientClosedError(ZyntroError):
    """The client was closed (or is closing) while this call needed it."""

    code = "CLIENT_CLOSED"


class APIError(ZyntroError):
    """The API answered ``{"status": "error", "data": [messages]}``.

    ``code`` is the documented code (``UNKNOWN`` for a message the docs do not list);
    ``messages`` are the server's messages, verbatim but for the configured secrets (``***``).
    """

    code = "UNKNOWN"

    def __init__(
        self,
        messages: Sequence[str],
        *,
        code: str | None = None,
        endpoint: str | None = None,
        contact_id: str | None = None,
    ) -> None:
        self.messages: tuple[str, ...] = tuple(messages)
        if code is not None:
            self.code = code
        text = "; ".join(self.messages) or "error without a message"
        super().__init__(f"{text} ({self.code})", endpoint=endpoint, contact_id=contact_id)


class AuthenticationError(APIError):
    """The key or developer secret is missing or wrong, or the user is inactive."""


class PermissionDeniedError(APIError):
    """Authenticated, but not allowed: IP not whitelisted, or not the contact's owner."""


class NotFoundError(APIError):
    """The contact does not exist in this organisation."""


class ValidationError(APIError):
    """The request is incomplete or malformed (locally or by the server's word)."""


class TransportError(ZyntroError):
    """The request failed below the API: network, timeout, or a non-API HTTP answer."""

    code = "TRANSPORT_ERROR"


class ConnectError(TransportError):
    """No connection could be made (refused, reset, DNS); nothing reached the server."""

    code = "CONNECT_ERROR"


class TLSError(ConnectError):
    """TLS handshake or certificate verification failed; retrying would not help."""

    code = "TLS_ERROR"


class ConnectTimeout(TransportError):
    """No connection, or no free pool slot, within the connect timeout; nothing was sent."""

    code = "CONNECT_TIMEOUT"


class ReadTimeout(TransportError):
    """The request went out but no complete answer came in time: it may have been applied."""

    code = "READ_TIMEOUT"


class DisconnectedError(TransportError):
    """The connection dropped after the request went out: it may have been applied."""

    code = "DISCONNECTED"


class RateLimitError(TransportError):
    """HTTP 429.

    ``retry_after`` is the server's ``Retry-After`` in seconds, if it sent one. The
    rate-limit headers, when the answer carried them (``None`` when absent or unusable):

    - ``limit``: requests allowed per window (``X-RateLimit-Limit`` / ``RateLimit-Limit``);
    - ``remaining``: requests left in the window (``X-RateLimit-Remaining`` /
      ``RateLimit-Remaining``);
    - ``reset``: seconds from now until the window resets (``X-RateLimit-Reset`` /
      ``RateLimit-Reset``; a Unix timestamp is converted to seconds from now).
    """

    code = "RATE_LIMITED"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        endpoint: str | None = None,
        contact_id: str | None = None,
        limit: float | None = None,
        remaining: float | None = None,
        reset: float | None = None,
    ) -> None:
        super().__init__(message, endpoint=endpoint, contact_id=contact_id)
        self.retry_after = retry_after
        self.status = 429
        self.limit = limit
        self.remaining = remaining
        self.reset = reset


class ServerError(TransportError):
    """A 5xx or other non-200 status, or a body that is not the API's JSON envelope.

    ``status`` is the HTTP status. For a non-200 answer (typically 503), ``retry_after``
    and the rate-limit evidence ``limit``, ``remaining`` and ``reset`` are set as on
    :class:`RateLimitError` when the answer carried those headers, else ``None``.
    """

    code = "SERVER_ERROR"

    def __init__(
        self,
        message: str,
        *,
        status: int,
        retry_after: float | None = None,
        endpoint: str | None = None,
        contact_id: str | None = None,
        limit: float | None = None,
        remaining: float | None = None,
        reset: float | None = None,
    ) -> None:
        super().__init__(message, endpoint=endpoint, contact_id=contact_id)
        self.status = status
        self.retry_after = retry_after
        self.limit = limit
        self.remaining = remaining
        self.reset = reset


# The documented messages of both doc pages, mapped to their documented code.
# Keyed by endpoint, because one message can mean two codes: "Missing org ID" is
# MISSING_ORG_ID on fetchContact but MISSING_FIELDS on addProfileToContact.
_COMMON: dict[str, str] = {
    "Missing service instance": "MISSING_API_KEY",
    "Invalid API Key": "INVALID_API_KEY",
    "Missing developer_secret": "MISSING_DEVELOPER_SECRET",
    "Invalid developer_secret": "INVALID_DEVELOPER_SECRET",
    "IP address not whitelisted": "IP_NOT_WHITELISTED",
    "User is not active": "USER_INACTIVE",
}

MESSAGE_CODES: dict[str, dict[str, str]] = {
    "fetchContact": {
        **_COMMON,
        "Missing contact ID": "MISSING_CONTACT_ID",
        "Missing org ID": "MISSING_ORG_ID",
        "Missing member ID": "MISSING_MEMBER_ID",
        "No such contact": "NOT_FOUND",
    },
    "addProfileToContact": {
        **_COMMON,
        # The doc prints MISSING_FIELDS as one line listing five fields; we accept that
        # literal line and each field's own "Missing <field>" message.
        "Missing org ID / member ID / contact ID / profile_payload / profile_source": (
            "MISSING_FIELDS"
        ),
        "Missing org ID": "MISSING_FIELDS",
        "Missing member ID": "MISSING_FIELDS",
        "Missing contact ID": "MISSING_FIELDS",
        "Missing profile_payload": "MISSING_FIELDS",
        "Missing profile_source": "MISSING_FIELDS",
        "Profile payload must be a valid array. "
        "The key/value pairing can be anything you like.": "INVALID_PAYLOAD",
        "Contact does not exist": "NOT_FOUND",
        "The API only supports notes being added by the member that owns the contact.": (
            "NOT_OWNER"
        ),
    },
}

CODE_CLASSES: dict[str, type[APIError]] = {
    "MISSING_API_KEY": AuthenticationError,
    "INVALID_API_KEY": AuthenticationError,
    "MISSING_DEVELOPER_SECRET": AuthenticationError,
    "INVALID_DEVELOPER_SECRET": AuthenticationError,
    "USER_INACTIVE": AuthenticationError,
    "IP_NOT_WHITELISTED": PermissionDeniedError,
    "NOT_OWNER": PermissionDeniedError,
    "NOT_FOUND": NotFoundError,
    "MISSING_FIELDS": ValidationError,
    "MISSING_CONTACT_ID": ValidationError,
    "MISSING_ORG_ID": ValidationError,
    "MISSING_MEMBER_ID": ValidationError,
    "INVALID_PAYLOAD": ValidationError,
}


def _normalise(message: str) -> str:
    return " ".join(message.split()).casefold()


_LOOKUP: dict[str, dict[str, str]] = {
    endpoint: {_normalise(m): code for m, code in table.items()}
    for endpoint, table in MESSAGE_CODES.items()
}


def api_error_for(
    endpoint: str,
    messages: Sequence[str],
    *,
    contact_id: str | None = None,
    secrets: Sequence[str] = (),
) -> APIError:
    """Build the typed error for an error envelope's messages (first known message wins).

    The code is read from the messages as sent; the error keeps them with each of
    ``secrets`` replaced by ``***`` (see :func:`redact`).
    """
    table = _LOOKUP.get(endpoint, {})
    code = next((table[k] for k in map(_normalise, messages) if k in table), "UNKNOWN")
    cls = CODE_CLASSES.get(code, APIError)
    if secrets:
        messages = [redact(m, secrets) for m in messages]
    return cls(messages, code=code, endpoint=endpoint, contact_id=contact_id)
