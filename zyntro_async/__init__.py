"""zyntro_async: the asyncio-first SDK for the Zyntro CRM public API.

Everything public is importable from here; the underscore modules are private.

The layers, lowest first. A module imports from its own layer and the ones before it,
never from one after it, and no imports form a cycle (``tests/test_layering.py`` reads
this list and checks both, counting imports inside functions and type-only ones):

1. foundations: ``_exceptions``, ``_version``, ``_deadlines``, ``_digest``, ``_payload``
2. plain data and settings: ``_config``, ``_proxy``, ``_lenient``, ``_plain``, ``_models``,
   ``_results``, ``_inputs``
3. protocol, sans I/O: ``_converter``, ``_protocol``, ``_answers``
4. I/O: ``_transport`` (HTTP), ``_journal_store``, ``_journal`` (SQLite)
5. retries and flow control: ``_retry``, ``_flow``, ``_shared_quota``, ``_run_quota``
6. telemetry: ``_otel``, ``_telemetry``
7. operations: ``_operations``
8. pipelines and bulk runs: ``_pipelines``, ``_bulk``
9. the client: ``_call_options``, ``_client``
10. the public surface: ``zyntro_async`` (this module)
11. the sandbox and its pytest plugin: ``testing``
12. the command line: ``_cli``
13. programs (``python -m``; never imported): ``__main__``, ``testing.__main__``
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
