"""Every error the SDK raises, as one tree rooted at :class:`ZyntroError`.

Each question a caller asks is one ``except`` clause: *did the API say no?*
(:class:`APIError`), *did the server answer with an HTTP status instead?*
(:class:`APIStatusError`), *did the connection fail?* (:class:`APIConnectionError`),
*did it time out?* (:class:`APITimeoutError`), *did I pass something invalid?*
(:class:`InvalidArgumentError`). The split follows the OpenAI SDK's ``APIError`` /
``APIStatusError`` / ``APIConnectionError`` / ``APITimeoutError``.

::

    ZyntroError                        .code is a string on every class and every instance
     |
     +- APIError(code, messages)       THE API SAID NO: {"status": "error"} (sent with HTTP 200!)
     |   +- AuthenticationError        MISSING_API_KEY, INVALID_API_KEY, MISSING_DEVELOPER_SECRET,
     |   |                             INVALID_DEVELOPER_SECRET, USER_INACTIVE
     |   +- PermissionDeniedError      IP_NOT_WHITELISTED, NOT_OWNER
     |   +- NotFoundError              NOT_FOUND ("No such contact", "Contact does not exist")
     |   +- ValidationError            MISSING_FIELDS, MISSING_CONTACT_ID, MISSING_ORG_ID,
     |                                 MISSING_MEMBER_ID, INVALID_PAYLOAD; also raised locally,
     |                                 before any request, for input the server would refuse
     |                                 (so it is an InvalidArgumentError too)
     |
     +- APIStatusError(status)         THE SERVER ANSWERED WITH A STATUS, not the API's envelope
     |   +- RateLimitError             RATE_LIMITED: 429; .retry_after, .limit, .remaining, .reset
     |   +- ServerError                SERVER_ERROR: 5xx, any other non-200, or a 200 whose body
     |                                 is not the JSON envelope (a proxy's HTML page); a 503
     |                                 has .retry_after, .limit, .remaining, .reset too
     |
     +- APIConnectionError             THE CONNECTION FAILED: no answer (alias: TransportError)
     |   +- ConnectError               CONNECT_ERROR: refused, reset, DNS -- nothing was sent
     |   |   +- ProxyError             the proxy cannot be reached or refused the tunnel
     |   +- TLSError                   TLS_ERROR: certificate/handshake failure -- never retried
     |   +- DisconnectedError          DISCONNECTED: sent, then the connection dropped
     |   +- APITimeoutError            IT TIMED OUT (TIMEOUT)
     |       +- ConnectTimeout         CONNECT_TIMEOUT: no connection or pool slot in time, or
     |       |                         the call's deadline passed first -- nothing was sent
     |       +- ReadTimeout            READ_TIMEOUT: sent, no complete answer within the read
     |                                 or total timeout -- it may have been applied
     |
     +- InvalidArgumentError           YOU PASSED SOMETHING INVALID (INVALID_ARGUMENT); raised
     |   |                             by the SDK itself, before any request; also a ValueError
     |   +- ConfigurationError         CONFIGURATION: a client setting or option
     |   +- ValidationError            (see above)
     |
     +- ClientClosedError              CLIENT_CLOSED: the client was closed while a call needed it
     |
     |  Bulk runs (found in BulkResult.error, never raised out of a run but JournalError):
     +- JournalError                   JOURNAL_ERROR: a run's journal cannot be used (also a
     |                                 ValueError); the run stops
     +- JournalConflictError           JOURNAL_KEY_CONFLICT: the item's key is journaled for
     |                                 another item; nothing was sent
     +- PreviousFailure                the original error's code: the journal says this item
     |                                 already failed for its own reasons; nothing was sent
     +- EnricherError                  ENRICHER_FAILED: your enricher raised (its __cause__)
     +- ItemError                      ITEM_ERROR: processing the item raised unexpectedly

Retries (``_retry.DEFAULT_RULES``) go by the leaves, not by these groups: a ConnectError or
ConnectTimeout is re-sent, a 429 or 503 is retried after its ``Retry-After``, the API's
own error and a 3xx/4xx are final; TLSError is fatal because it is no ConnectError,
whatever the order of the rules. Everything else -- a ReadTimeout, a DisconnectedError, a
5xx, a plain APIConnectionError (an answer that could not be parsed) -- may have been
applied: an add looks for its record before anything is re-sent.

Compatibility: ``TransportError`` is kept as another name of :class:`APIConnectionError`
(it used to hold 429 and 5xx too: catch :class:`APIStatusError` for those).

Messages name the endpoint and the contact id; they never contain a secret or a payload.
Text that comes from the server (an error envelope's messages, a content type, a
malformed answer's description) has the configured ``api_key`` and ``developer_secret``,
and every string and number of an add's payload, replaced by ``***`` before it reaches
an exception: a server or proxy that echoes the request cannot leak them (or the
personal data a profile carries) into messages, logs or results files.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "ClientClosedError",
    "ConfigurationError",
    "ConnectError",
    "ConnectTimeout",
    "DisconnectedError",
    "EnricherError",
    "InvalidArgumentError",
    "ItemError",
    "JournalConflictError",
    "JournalError",
    "NotFoundError",
    "PermissionDeniedError",
    "PreviousFailure",
    "ProxyError",
    "RateLimitError",
    "ReadTimeout",
    "ServerError",
    "TLSError",
    "TransportError",
    "ValidationError",
    "ZyntroError",
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
    forms: set[str] = set()
    for secret in secrets:
        if len(secret) >= MIN_SECRET_LENGTH:
            forms.update(_forms(secret))
    return tuple(sorted(forms, key=len, reverse=True))


def _forms(secret: str) -> tuple[str, ...]:
    """One secret's forms (see :func:`_secret_forms`). JSON escapes nothing in printable
    ASCII but ``"`` and ``\\``, so such a text (most values) is its own escaped form."""
    if secret.isascii() and secret.isprintable() and '"' not in secret and "\\" not in secret:
        return (secret, secret.replace("/", "\\/")) if "/" in secret else (secret,)
    return _escaped_forms(secret)


@functools.lru_cache(maxsize=256)
def _escaped_forms(secret: str) -> tuple[str, ...]:
    forms = {secret}
    for escaped in (
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    ):
        forms.add(escaped)
        forms.add(escaped.replace("/", "\\/"))  # PHP's json_encode escapes "/"
    return tuple(forms)


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


# -- you passed something invalid ------------------------------------------------------------


class InvalidArgumentError(ZyntroError, ValueError):
    """Something passed to the SDK is invalid; raised before any request is made.

    Also a ``ValueError``, so code written against the plain ``ValueError`` some checks
    raised before keeps working.
    """

    code = "INVALID_ARGUMENT"


class ConfigurationError(InvalidArgumentError):
    """A setting or option is missing or invalid (raised where it is given, not on use)."""

    code = "CONFIGURATION"


# -- the API said no -----------------------------------------------------------------------


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


class ValidationError(APIError, InvalidArgumentError):
    """The request is incomplete or malformed, by the server's word or, before any request,
    by the SDK's (input the server would refuse gets the server's class and code)."""


# -- the server answered with a status -----------------------------------------------------


class APIStatusError(ZyntroError):
    """The server answered, but with an HTTP status (or a body) that is not the API's
    envelope. ``status`` is the HTTP status; ``retry_after`` (seconds) and the rate-limit
    evidence ``limit``, ``remaining`` and ``reset`` are set when the answer carried them:

    - ``limit``: requests allowed per window (``X-RateLimit-Limit`` / ``RateLimit-Limit``);
    - ``remaining``: requests left in the window (``X-RateLimit-Remaining`` /
      ``RateLimit-Remaining``);
    - ``reset``: seconds from now until the window resets (``X-RateLimit-Reset`` /
      ``RateLimit-Reset``; a Unix timestamp is converted to seconds from now).
    """

    code = "HTTP_STATUS"

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


class RateLimitError(APIStatusError):
    """HTTP 429. ``retry_after`` is the server's ``Retry-After`` in seconds, if it sent one."""

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
        super().__init__(
            message,
            status=429,
            retry_after=retry_after,
            endpoint=endpoint,
            contact_id=contact_id,
            limit=limit,
            remaining=remaining,
            reset=reset,
        )


class ServerError(APIStatusError):
    """A 5xx or other non-200 status, or a body that is not the API's JSON envelope (then
    ``status`` is the 200 it came with)."""

    code = "SERVER_ERROR"


# -- the connection failed -----------------------------------------------------------------


class APIConnectionError(ZyntroError):
    """No answer came: the connection could not be made, dropped, or timed out."""

    code = "TRANSPORT_ERROR"  # the code of the old TransportError, kept for compatibility


#: The connection side's name up to 0.1.0 (when it also held 429 and 5xx); the same class.
TransportError = APIConnectionError


class ConnectError(APIConnectionError):
    """No connection could be made (refused, reset, DNS); nothing reached the server."""

    code = "CONNECT_ERROR"


class ProxyError(ConnectError):
    """The proxy (``proxy=`` or ``HTTPS_PROXY``/``HTTP_PROXY``) could not be reached, or
    refused to open a tunnel to the API; nothing reached the API."""


class TLSError(APIConnectionError):
    """TLS handshake or certificate verification failed; retrying would not help.

    Not a :class:`ConnectError`: that one is re-sent, this one never is."""

    code = "TLS_ERROR"


class DisconnectedError(APIConnectionError):
    """The connection dropped after the request went out: it may have been applied."""

    code = "DISCONNECTED"


# -- it timed out --------------------------------------------------------------------------


class APITimeoutError(APIConnectionError):
    """A time limit passed: connecting, reading, the attempt's total, or the call's deadline."""

    code = "TIMEOUT"


class ConnectTimeout(APITimeoutError):
    """No connection, or no free pool slot, within the connect timeout, or the call's
    deadline passed before the request went out; nothing was sent."""

    code = "CONNECT_TIMEOUT"


class ReadTimeout(APITimeoutError):
    """The request went out but no complete answer came within the read or total timeout:
    it may have been applied."""

    code = "READ_TIMEOUT"


# -- the client ----------------------------------------------------------------------------


class ClientClosedError(ZyntroError):
    """The client was closed (or is closing) while this call needed it."""

    code = "CLIENT_CLOSED"


# -- bulk runs -----------------------------------------------------------------------------


class JournalError(ZyntroError, ValueError):
    """The journal cannot be opened or a journal operation failed (the run must stop)."""

    code = "JOURNAL_ERROR"


class JournalConflictError(ZyntroError):
    """This item's key is journaled for another item (contact, source or payload differ):
    nothing was sent, and the other item's profile is not reported as this one's."""

    code = "JOURNAL_KEY_CONFLICT"


class PreviousFailure(ZyntroError):
    """The journal says this item already failed for its own reasons (``code``: the
    original error's), in an earlier run or an earlier copy in this one; nothing was sent.
    ``retry_failed=True`` retries such items."""

    code = "PREVIOUS_FAILURE"  # each instance carries the original error's code instead

    def __init__(self, code: str, *, endpoint: str, contact_id: str, when: str) -> None:
        super().__init__(
            f"failed in {when} ({code}); retry it with retry_failed=True",
            endpoint=endpoint,
            contact_id=contact_id,
        )
        self.code = code


class EnricherError(ZyntroError):
    """The caller's enricher raised for this item (the original is ``__cause__``)."""

    code = "ENRICHER_FAILED"


class ItemError(ZyntroError):
    """Processing this item raised an unexpected error (its ``__cause__``): it failed alone."""

    code = "ITEM_ERROR"
