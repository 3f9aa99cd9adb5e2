"""The public surface: everything public is exported with __all__, nothing private leaks."""

from __future__ import annotations

import importlib.resources
import inspect

import zyntro_async
import zyntro_async.testing


def test_all_is_complete_and_importable() -> None:
    for module in (zyntro_async, zyntro_async.testing):
        exported = set(module.__all__)
        public = {
            name
            for name, value in vars(module).items()
            if not name.startswith("_") and not inspect.ismodule(value)
        }
        assert public == exported - {"__version__"}, module.__name__
        for name in exported:
            assert getattr(module, name) is not None


#: Every name zyntro_async exports, and nothing else: adding or removing a public name is a
#: decision, made here too.
EXPORTED = {
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
    "PlainData",  # to_dict()/from_dict() of every model
    "Profile",
    # bulk runs: what they take and give back (Enricher and FailurePolicy are in signatures)
    "BulkRun",
    "BulkOptions",
    "BulkReport",
    "BulkResult",
    "BulkFailure",  # a failed BulkResult, as BulkReport.failures types them
    "Enricher",
    "ErrorRate",
    "FailurePolicy",
    "ProfileRequest",
    "Progress",
    # errors (the tree is drawn at the top of zyntro_async._exceptions)
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
    # every error a bulk result can carry is catchable by name
    "JournalError",
    "JournalConflictError",
    "PreviousFailure",
    "EnricherError",
    "ItemError",
    "__version__",
}


def test_every_exported_name_is_listed() -> None:
    assert len(zyntro_async.__all__) == len(set(zyntro_async.__all__)), "a name is exported twice"
    assert set(zyntro_async.__all__) == EXPORTED
    for name in ("ZyntroSandbox", "Faults", "Fault"):
        assert name in zyntro_async.testing.__all__, name


def test_ships_py_typed() -> None:
    assert (importlib.resources.files("zyntro_async") / "py.typed").is_file()


def test_every_public_error_has_a_code() -> None:
    for name in zyntro_async.__all__:
        value = getattr(zyntro_async, name)
        if isinstance(value, type) and issubclass(value, BaseException):
            assert issubclass(value, zyntro_async.ZyntroError), name
            assert isinstance(value.code, str)
            assert value.code
