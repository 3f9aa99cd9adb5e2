"""zyntro_async: the asyncio-first SDK for the Zyntro CRM public API.

Everything public is importable from here; the underscore modules are private.
"""

import logging as _logging

from ._bulk import BulkRun, ItemError
from ._client import ZyntroClient
from ._config import Limits, Timeout
from ._exceptions import (
    APIError,
    AuthenticationError,
    ClientClosedError,
    ConfigurationError,
    ConnectError,
    ConnectTimeout,
    DisconnectedError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ReadTimeout,
    ServerError,
    TLSError,
    TransportError,
    ValidationError,
    ZyntroError,
)
from ._journal import JournalError
from ._models import Contact, ContactDetails, Entity, Note, Profile
from ._pipelines import EnricherError, JournalConflictError, PreviousFailure
from ._results import BulkReport, BulkResult, ErrorRate, ProfileRequest, Progress
from ._retry import (
    DEFAULT_RULES,
    FailureKind,
    RetryPolicy,
    RetryStats,
    Rule,
    is_testing,
    set_testing,
)
from ._version import __version__

# A library logs; the application decides where it goes (no output unless configured).
_logging.getLogger("zyntro_async").addHandler(_logging.NullHandler())

__all__ = [
    "JournalError",
    "EnricherError",
    "ItemError",
    "JournalConflictError",
    "PreviousFailure",
    "Progress",
    "ProfileRequest",
    "ErrorRate",
    "BulkRun",
    "BulkResult",
    "BulkReport",
    "DEFAULT_RULES",
    "APIError",
    "AuthenticationError",
    "ClientClosedError",
    "ConfigurationError",
    "ConnectError",
    "ConnectTimeout",
    "Contact",
    "ContactDetails",
    "DisconnectedError",
    "Entity",
    "FailureKind",
    "Limits",
    "Note",
    "NotFoundError",
    "PermissionDeniedError",
    "Profile",
    "RateLimitError",
    "ReadTimeout",
    "RetryPolicy",
    "RetryStats",
    "Rule",
    "ServerError",
    "TLSError",
    "Timeout",
    "TransportError",
    "ValidationError",
    "ZyntroClient",
    "ZyntroError",
    "__version__",
    "is_testing",
    "set_testing",
]
