"""zyntro_async: the asyncio-first SDK for the Zyntro CRM public API.

Everything public is importable from here; the underscore modules are private.
"""

import logging as _logging

from ._bulk import BulkRun
from ._client import ZyntroClient
from ._config import Limits, Timeout
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
    TransportError,
    ValidationError,
    ZyntroError,
)
from ._models import Contact, ContactDetails, Entity, Note, PlainData, Profile
from ._pipelines import Enricher
from ._results import (
    BulkFailure,
    BulkOptions,
    BulkReport,
    BulkResult,
    ErrorRate,
    FailurePolicy,
    ProfileRequest,
    Progress,
)
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
    # the client and its settings
    "ZyntroClient",
    "Timeout",
    "Limits",
    "RetryPolicy",
    "Rule",
    "DEFAULT_RULES",
    "FailureKind",
    "RetryStats",
    "set_testing",
    "is_testing",
    # models
    "Contact",
    "ContactDetails",
    "Entity",
    "Note",
    "PlainData",
    "Profile",
    # bulk runs
    "BulkRun",
    "BulkOptions",
    "BulkReport",
    "BulkResult",
    "BulkFailure",
    "Enricher",
    "ErrorRate",
    "FailurePolicy",
    "ProfileRequest",
    "Progress",
    # errors: the tree is drawn at the top of zyntro_async._exceptions
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
    "TransportError",
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
    "__version__",
]
