"""The public surface: a small top level, each family of names complete in its documented
submodule, nothing private leaking, and every name that left the top level still resolving
(with a warning that says where it went) for one more release."""

from __future__ import annotations

import importlib
import importlib.resources
import inspect
import re
import subprocess
import sys
import warnings
from pathlib import Path
from types import ModuleType

import pytest

import zyntro_async
import zyntro_async.bulk
import zyntro_async.errors
import zyntro_async.models
import zyntro_async.retries
import zyntro_async.testing

#: Every public module: the top level, the families, the testing tools.
PUBLIC_MODULES: tuple[ModuleType, ...] = (
    zyntro_async,
    zyntro_async.bulk,
    zyntro_async.errors,
    zyntro_async.models,
    zyntro_async.retries,
    zyntro_async.testing,
)

#: Every name zyntro_async exports at its top level, and nothing else: adding or removing a
#: public name is a decision, made here too.
EXPORTED = {
    # the client and its settings
    "ZyntroClient",
    "Timeout",
    "Limits",
    "RetryPolicy",
    # models
    "Contact",
    "ContactDetails",
    "Entity",
    "Note",
    "Profile",
    # bulk runs: what they take and give back
    "BulkRun",
    "BulkOptions",
    "BulkReport",
    "BulkResult",
    "BulkFailure",  # a failed BulkResult, as BulkReport.failures types them
    "ErrorRate",
    "ProfileRequest",
    "Progress",
    # the errors most code catches (the whole tree: zyntro_async.errors)
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
    "JournalError",  # the one error a bulk run raises
    "__version__",
}

#: Each name that left the top level -> the public module that exports it now.
MOVED = {
    "Rule": "zyntro_async.retries",
    "DEFAULT_RULES": "zyntro_async.retries",
    "FailureKind": "zyntro_async.retries",
    "set_testing": "zyntro_async.testing",
    "is_testing": "zyntro_async.testing",
    "PlainData": "zyntro_async.models",
    "Enricher": "zyntro_async.bulk",
    "FailurePolicy": "zyntro_async.bulk",
    "ConnectError": "zyntro_async.errors",
    "ProxyError": "zyntro_async.errors",
    "TLSError": "zyntro_async.errors",
    "DisconnectedError": "zyntro_async.errors",
    "ConnectTimeout": "zyntro_async.errors",
    "ReadTimeout": "zyntro_async.errors",
    "ClientClosedError": "zyntro_async.errors",
    "JournalConflictError": "zyntro_async.errors",
    "PreviousFailure": "zyntro_async.errors",
    "EnricherError": "zyntro_async.errors",
    "ItemError": "zyntro_async.errors",
}

#: Each name that left the top level and is public nowhere -> what its warning advises.
RETIRED = {
    "TransportError": "zyntro_async.APIConnectionError",  # the same class, its own name
    "RetryStats": "no public API",  # nothing public takes or returns one
}


#: The top level as it was before it was made small: code written against it keeps
#: running for one release.
BEFORE = [
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
    "Contact",
    "ContactDetails",
    "Entity",
    "Note",
    "PlainData",
    "Profile",
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


def test_every_old_top_level_name_still_resolves() -> None:
    assert len(set(BEFORE)) == 53
    assert set(BEFORE) == EXPORTED | set(MOVED) | set(RETIRED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        namespace: dict[str, object] = {}
        exec(f"from zyntro_async import {', '.join(BEFORE)}", namespace)
    assert all(namespace[name] is not None for name in BEFORE)


def test_the_top_level_is_small() -> None:
    assert len(zyntro_async.__all__) <= 35


def test_every_exported_name_is_listed() -> None:
    assert set(zyntro_async.__all__) == EXPORTED
    for name in ("ZyntroSandbox", "Faults", "Fault", "set_testing", "is_testing"):
        assert name in zyntro_async.testing.__all__, name


@pytest.mark.parametrize("module", PUBLIC_MODULES, ids=lambda m: m.__name__)
def test_all_is_exactly_what_the_module_exports(module: ModuleType) -> None:
    assert len(module.__all__) == len(set(module.__all__)), "a name is exported twice"
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert public == set(module.__all__) - {"__version__"}
    for name in module.__all__:
        assert getattr(module, name) is not None


@pytest.mark.parametrize("module", PUBLIC_MODULES[1:], ids=lambda m: m.__name__)
def test_a_name_in_two_public_modules_is_one_object(module: ModuleType) -> None:
    for name in set(module.__all__) & set(zyntro_async.__all__):
        assert getattr(module, name) is getattr(zyntro_async, name), name


def test_the_families_hold_their_top_level_names() -> None:
    """Each family is complete in its submodule: the top level only repeats some of it."""
    top = set(zyntro_async.__all__)
    assert {n for n in top if n.endswith("Error")} <= set(zyntro_async.errors.__all__)
    assert {"Contact", "ContactDetails", "Entity", "Note", "Profile"} <= set(
        zyntro_async.models.__all__
    )
    assert {n for n in top if n.startswith("Bulk")} <= set(zyntro_async.bulk.__all__)
    assert "RetryPolicy" in zyntro_async.retries.__all__


@pytest.mark.parametrize("old", sorted(MOVED))
def test_a_moved_name_still_resolves_with_a_warning_naming_its_home(old: str) -> None:
    home = MOVED[old]
    with pytest.warns(DeprecationWarning, match=re.escape(f"from {home} import {old}")) as w:
        value = getattr(zyntro_async, old)
    assert value is getattr(importlib.import_module(home), old)
    assert w[0].filename == __file__, "the warning points at the caller's line"
    assert old not in zyntro_async.__all__


@pytest.mark.parametrize("old", sorted(RETIRED))
def test_a_retired_name_still_resolves_with_a_warning(old: str) -> None:
    with pytest.warns(DeprecationWarning, match=re.escape(RETIRED[old])) as w:
        value = getattr(zyntro_async, old)
    assert inspect.isclass(value)
    assert w[0].filename == __file__
    assert old not in zyntro_async.__all__


def test_the_old_from_import_still_works() -> None:
    namespace: dict[str, object] = {}
    with pytest.warns(DeprecationWarning, match="zyntro_async.errors"):
        exec("from zyntro_async import ReadTimeout, ZyntroClient", namespace)
    assert namespace["ReadTimeout"] is zyntro_async.errors.ReadTimeout
    assert namespace["ZyntroClient"] is zyntro_async.ZyntroClient


def test_import_zyntro_async_alone_reaches_every_family() -> None:
    code = (
        "import sys, zyntro_async\n"
        "for family in ('bulk', 'errors', 'models', 'retries'):\n"
        "    module = getattr(zyntro_async, family)\n"
        "    assert module is sys.modules['zyntro_async.' + family], family\n"
        "    [getattr(module, name) for name in module.__all__]\n"
    )
    ran = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=False
    )
    assert ran.returncode == 0, ran.stderr


def test_current_names_resolve_without_a_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for module in PUBLIC_MODULES:
            for name in module.__all__:
                getattr(module, name)
        namespace: dict[str, object] = {}
        exec("from zyntro_async import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(zyntro_async.__all__)


def test_a_name_that_never_existed_is_an_attribute_error() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not hasattr(zyntro_async, "NoSuchName")
        with pytest.raises(ImportError):
            exec("from zyntro_async import NoSuchName", {})


def test_except_zyntro_error_catches_every_public_error() -> None:
    errors = [
        value
        for module in PUBLIC_MODULES
        for name in module.__all__
        if isinstance(value := getattr(module, name), type) and issubclass(value, BaseException)
    ]
    assert len(set(errors)) == len(zyntro_async.errors.__all__), "an error outside the tree"
    for cls in errors:
        assert issubclass(cls, zyntro_async.ZyntroError), cls
        assert isinstance(cls.code, str)
        assert cls.code


@pytest.mark.slow  # a mypy run over the package
def test_type_checked_code_that_uses_an_old_name_still_passes(tmp_path: Path) -> None:
    """For one release, a user's ``mypy --strict`` still accepts every old top-level name
    (at run time they warn); a name that never existed is still an error."""
    old = sorted(set(MOVED) | set(RETIRED))
    user = tmp_path / "user_code.py"
    user.write_text(
        f"from zyntro_async import {', '.join(old)}\n"
        "from zyntro_async import NoSuchName\n"
        "set_testing(True)\n"
        "assert issubclass(TransportError, Exception)\n",
        encoding="utf-8",
    )
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(user)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    errors = [line for line in checked.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1, checked.stdout
    assert "NoSuchName" in errors[0]


def test_ships_py_typed() -> None:
    assert (importlib.resources.files("zyntro_async") / "py.typed").is_file()
