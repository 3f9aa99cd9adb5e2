"""zyntro_async: the asyncio-first SDK for the Zyntro CRM public API.

What everyday code needs is importable from here; each family of names is complete in
its public submodule (``errors``, ``models``, ``bulk``, ``retries``; the test tools in
``testing``). The underscore modules are private.

The layers, lowest first. A module imports from its own layer and the ones before it,
never from one after it, and no imports form a cycle (``tests/test_layering.py`` reads
this list and checks both, counting imports inside functions and type-only ones):

1. foundations: ``_exceptions``, ``_policy`` (the error codes' table), ``_version``,
   ``_deadlines``, ``_digest``, ``_payload``
2. plain data and settings: ``_config``, ``_proxy``, ``_lenient``, ``_plain``, ``_models``,
   ``_shard``, ``_results``, ``_inputs``, ``_journal_store`` (the journal store's contract),
   ``_ledger_url`` (a PostgreSQL ledger's URL)
3. protocol, sans I/O: ``_converter``, ``_protocol``, ``_answers``, ``_reconcile`` (which
   fetched profile is an add's record)
4. I/O: ``_transport`` (HTTP), ``_journal_sqlite``, ``_journal`` (the SQLite journal store),
   ``_journal_pg_sql``, ``_journal_pg_connect``, ``_journal_postgres`` (the PostgreSQL
   ledger), ``_journal_open``
5. retries and flow control: ``_retry``, ``_attempts`` (one call's attempt loop), ``_flow``,
   ``_shared_quota``, ``_run_quota``
6. telemetry: ``_otel``, ``_telemetry``
7. operations: ``_add`` (the exactly-once add), ``_operations`` (one request, the calls)
8. pipelines and bulk runs: ``_pipeline_items`` (an item's request), ``_pipeline_journal``
   (the journaled add, claims), ``_pipeline_add``, ``_pipeline_enrich``, ``_pipelines``,
   ``_bulk_engine`` (the run's supervisor), ``_bulk``
9. the client: ``_call_options``, ``_run_start`` (a bulk run on the client's pool),
   ``_client``
10. the public surface: ``zyntro_async`` (this module), ``errors``, ``models``, ``bulk``,
    ``retries``, ``_deprecated``
11. the sandbox and its pytest plugin: ``testing``
12. the command line: ``_cli``
13. programs (``python -m``; never imported): ``__main__``, ``testing.__main__``
"""

import logging as _logging
import typing as _typing

# The families, so ``import zyntro_async`` reaches ``zyntro_async.errors.ReadTimeout``.
from . import bulk as bulk
from . import errors as errors
from . import models as models
from . import retries as retries
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

if _typing.TYPE_CHECKING:
    # The names that left the top level, as type checkers still see them for one release
    # (at run time they resolve through __getattr__, with a DeprecationWarning).
    from ._retry import RetryStats as RetryStats
    from ._retry import is_testing as is_testing
    from ._retry import set_testing as set_testing
    from .bulk import Enricher as Enricher
    from .bulk import FailurePolicy as FailurePolicy
    from .errors import ClientClosedError as ClientClosedError
    from .errors import ConnectError as ConnectError
    from .errors import ConnectTimeout as ConnectTimeout
    from .errors import DisconnectedError as DisconnectedError
    from .errors import EnricherError as EnricherError
    from .errors import ItemError as ItemError
    from .errors import JournalConflictError as JournalConflictError
    from .errors import PreviousFailure as PreviousFailure
    from .errors import ProxyError as ProxyError
    from .errors import ReadTimeout as ReadTimeout
    from .errors import TLSError as TLSError
    from .models import PlainData as PlainData
    from .retries import DEFAULT_RULES as DEFAULT_RULES
    from .retries import FailureKind as FailureKind
    from .retries import Rule as Rule

    TransportError = APIConnectionError
else:
    # Each name that moved to a submodule still resolves here, with a DeprecationWarning
    # that says where it lives now.
    def __getattr__(name: str) -> object:
        return _moved_name(name)
