"""Every error the SDK raises: the whole tree under :class:`ZyntroError`.

``except zyntro_async.ZyntroError`` catches each of them. The classes most code catches
are importable from ``zyntro_async`` too; the finer ones live here only: which connection
failure (:class:`ConnectError`, :class:`ProxyError`, :class:`TLSError`,
:class:`DisconnectedError`), which timeout (:class:`ConnectTimeout`, :class:`ReadTimeout`),
a closed client (:class:`ClientClosedError`) and what a bulk run's failed items carry
(:class:`JournalConflictError`, :class:`PreviousFailure`, :class:`EnricherError`,
:class:`ItemError`).
"""

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
    ProxyError,
    RateLimitError,
    ReadTimeout,
    ServerError,
    TLSError,
    ValidationError,
    ZyntroError,
)

__all__ = [
    "ZyntroError",
    "APIError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ValidationError",
    "APIStatusError",
    "RateLimitError",
    "ServerError",
    "APIConnectionError",
    "ConnectError",
    "ProxyError",
    "TLSError",
    "DisconnectedError",
    "APITimeoutError",
    "ConnectTimeout",
    "ReadTimeout",
    "InvalidArgumentError",
    "ConfigurationError",
    "ClientClosedError",
    "JournalError",
    "JournalConflictError",
    "PreviousFailure",
    "EnricherError",
    "ItemError",
]
