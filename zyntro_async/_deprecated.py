"""The names ``zyntro_async`` no longer exports at its top level, and where each one is now.

Each one still resolves from ``zyntro_async`` for one more release, with a
:class:`DeprecationWarning` that names its new home.
"""

from __future__ import annotations

import importlib
import warnings

#: An old top-level name -> the public module that exports it now (under the same name).
MOVED = {
    **dict.fromkeys(("Rule", "DEFAULT_RULES", "FailureKind"), "zyntro_async.retries"),
    **dict.fromkeys(("set_testing", "is_testing"), "zyntro_async.testing"),
    "PlainData": "zyntro_async.models",
    **dict.fromkeys(("Enricher", "FailurePolicy"), "zyntro_async.bulk"),
    **dict.fromkeys(
        (
            "ConnectError",
            "ProxyError",
            "TLSError",
            "DisconnectedError",
            "ConnectTimeout",
            "ReadTimeout",
            "ClientClosedError",
            "JournalConflictError",
            "PreviousFailure",
            "EnricherError",
            "ItemError",
        ),
        "zyntro_async.errors",
    ),
}

#: An old top-level name that is public nowhere now -> (its module, its name there, what to
#: do instead).
RETIRED = {
    "TransportError": (
        "zyntro_async._exceptions",
        "APIConnectionError",
        "use zyntro_async.APIConnectionError, the same class under its own name",
    ),
    "RetryStats": (
        "zyntro_async._retry",
        "RetryStats",
        "no public API takes or returns one; drop the import",
    ),
}

# The caller of zyntro_async.NAME: past this function and the package's __getattr__.
_CALLER = 3


def moved_name(name: str) -> object:
    """The object an old top-level ``name`` stands for, with a warning that says where it
    is now; :class:`AttributeError` for a name ``zyntro_async`` never had."""
    module = MOVED.get(name)
    if module is not None:
        warnings.warn(
            f"zyntro_async.{name} has moved to {module}: use `from {module} import {name}`"
            " (the old name goes away in the next release)",
            DeprecationWarning,
            stacklevel=_CALLER,
        )
        return getattr(importlib.import_module(module), name)
    if name in RETIRED:
        module, attribute, instead = RETIRED[name]
        warnings.warn(
            f"zyntro_async.{name} is deprecated: {instead} (it goes away in the next release)",
            DeprecationWarning,
            stacklevel=_CALLER,
        )
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'zyntro_async' has no attribute {name!r}")
