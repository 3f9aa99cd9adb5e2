"""zyntro_async: the asyncio-first SDK for the Zyntro CRM public API.

Everything public is importable from here; the underscore modules are private.
"""

import logging as _logging
from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._bulk import BulkRun
from ._client import ZyntroClient
from ._config import Limits, Timeout
from ._deprecated import moved_name as _moved_name
from ._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    ConfigurationError,
    InvalidArgumentError,
    JournalError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    ValidationError,
    ZyntroError,
)
from ._models import Contact, ContactDetails, Entity, Note, Profile
from ._results import (
    BulkFailure,
    BulkOptions,
    BulkReport,
    BulkResult,
    ErrorRate,
    ProfileRequest,
    Progress,
)
from ._retry import RetryPolicy
from ._version import __version__

# A library logs; the application decides where it goes (no output unless configured).
_logging.getLogger("zyntro_async").addHandler(_logging.NullHandler())

__all__ = [
    # the client and its settings (the retry table: zyntro_async.retries)
    "ZyntroClient",
    "Timeout",
    "Limits",
    "RetryPolicy",
    # models (with their base class: zyntro_async.models)
    "Contact",
    "ContactDetails",
    "Entity",
    "Note",
    "Profile",
    # bulk runs (with the types their signatures name: zyntro_async.bulk)
    "BulkRun",
    "BulkOptions",
    "BulkReport",
    "BulkResult",
    "BulkFailure",
    "ErrorRate",
    "ProfileRequest",
    "Progress",
    # errors (the whole tree: zyntro_async.errors)
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
    "APITimeoutError",
    "InvalidArgumentError",
    "ConfigurationError",
    "JournalError",
    "__version__",
]

if not _TYPE_CHECKING:
    # Names that moved to a submodule still resolve here, with a DeprecationWarning that
    # says where they live now; type checkers see only the names above.
    def __getattr__(name: str) -> object:
        return _moved_name(name)
