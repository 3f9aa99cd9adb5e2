"""pytest plugin (entry point ``pytest11``): a local Zyntro for your tests.

Fixtures (async; they need pytest-asyncio):

* ``zyntro_sandbox`` -- a running :class:`ZyntroSandbox` on 127.0.0.1, fresh per test.
  Configure it with a marker: ``@pytest.mark.zyntro_sandbox(faults=Faults(...), seed=7)``.
* ``zyntro_client`` -- a :class:`~zyntro_async.ZyntroClient` bound to that sandbox, with
  retries that do not sleep (``set_testing``) and short timeouts, closed after the test.

They work in a project with no pytest configuration at all (pytest-asyncio's strict mode):

* An ``async def`` test that requests either fixture (directly or through another fixture)
  and carries no ``asyncio`` marker gets ``@pytest.mark.asyncio(loop_scope="function")``
  at collection, before pytest-asyncio decides which tests it runs.
* Both fixtures run on the test's function-scoped event loop (``loop_scope="function"``,
  set explicitly). A test marked with another loop scope fails at setup, saying so: the
  client and the server would sit on two loops.
* pytest-asyncio warns, at start-up, in every session that leaves
  ``asyncio_default_fixture_loop_scope`` unset, although only async fixtures of a wider
  scope with no loop scope of their own are affected. With pytest-asyncio 1.1 or later
  (which resolves loop scopes at fixture setup, where this plugin can see them) that
  warning is held back and raised (once) only when such a fixture is set up.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import inspect
import re
import warnings
from collections.abc import AsyncIterator, Generator
from typing import Any

import pytest

from zyntro_async import Timeout, ZyntroClient
from zyntro_async.testing import ZyntroSandbox, is_testing, set_testing

_HAVE_PYTEST_ASYNCIO = importlib.util.find_spec("pytest_asyncio") is not None

_MARKER = "zyntro_sandbox"
_FIXTURES = frozenset({"zyntro_sandbox", "zyntro_client"})
_NEEDS_ASYNCIO = (
    "zyntro_async's zyntro_sandbox/zyntro_client fixtures are async: "
    "install pytest-asyncio (pip install pytest-asyncio)"
)

#: The ``zyntro_client`` fixture's timeouts. The sandbox answers from this process on
#: 127.0.0.1, so a silence longer than this is a fault, not a slow network: a scripted
#: ``Fault.TIMEOUT_AFTER_COMMIT`` (which holds the answer for ``Faults.hang_seconds``,
#: 30 s by default) costs this much, not the production client's 30 s. The sandbox's
#: ``latency`` and ``jitter`` at setup are added to the read timeout.
CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 0.5

# pytest-asyncio's start-up warning (0.24 to 1.x), matched at its start.
_UNSET_LOOP_SCOPE = 'The configuration option "asyncio_default_fixture_loop_scope" is unset'
_UNSET_LOOP_SCOPE_HELD = pytest.StashKey[bool]()
_UNSET_LOOP_SCOPE_AFFECTS = (
    "The configuration option asyncio_default_fixture_loop_scope is unset, and the async "
    "fixture {name!r} (scope {scope!r}) has no loop_scope of its own: it runs on a "
    "{scope}-scoped event loop today, and future versions of pytest-asyncio will run it on a "
    "function-scoped one. Set asyncio_default_fixture_loop_scope, or give the fixture a "
    "loop_scope. (pytest-asyncio's start-up warning about this is held back by "
    "zyntro_async's pytest plugin, whose own fixtures set their loop scope.)"
)


def _ini(config: pytest.Config, name: str) -> Any:
    """An ini value, or None when no plugin registered it (pytest-asyncio absent or older)."""
    try:
        return config.getini(name)
    except ValueError:
        return None


def _resolves_loop_scope_at_setup() -> bool:
    """Whether pytest-asyncio (1.1 and later) resolves a fixture's loop scope when the
    fixture is set up: only then can this plugin tell which fixtures left it unset."""
    try:
        version = importlib.metadata.version("pytest-asyncio")
    except importlib.metadata.PackageNotFoundError:
        return False
    match = re.match(r"(\d+)\.(\d+)", version)
    return match is not None and (int(match[1]), int(match[2])) >= (1, 1)


def _asyncio_active(config: pytest.Config) -> bool:
    """Whether pytest-asyncio is loaded, under any plugin name (``-p`` names it otherwise)."""
    return _HAVE_PYTEST_ASYNCIO and _ini(config, "asyncio_mode") is not None


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(**kwargs): keyword arguments for the zyntro_sandbox fixture's "
        "ZyntroSandbox (faults=, seed=, ...)",
    )
    if (
        _asyncio_active(config)
        and not _ini(config, "asyncio_default_fixture_loop_scope")
        and _resolves_loop_scope_at_setup()
    ):
        # Runs before pytest-asyncio's pytest_configure (tryfirst); pytest calls this hook
        # inside its own warnings context, which drops the filter when it ends.
        warnings.filterwarnings(
            "ignore",
            message=re.escape(_UNSET_LOOP_SCOPE),
            category=pytest.PytestDeprecationWarning,
        )
        config.stash[_UNSET_LOOP_SCOPE_HELD] = True


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_pycollect_makeitem(
    collector: pytest.Module | pytest.Class, name: str, obj: object
) -> Generator[None, Any, Any]:
    """Mark async tests that use the fixtures, so strict mode runs them.

    A wrapper inside pytest-asyncio's own (``trylast``): pytest-asyncio turns a collected
    coroutine into one of its items only if the asyncio marker is there when its wrapper
    resumes, which is after this one. A marker added later (``modifyitems``) is too late.
    """
    result = yield
    if not result or not _asyncio_active(collector.config):
        return result
    for item in result if isinstance(result, list) else (result,):
        if (
            isinstance(item, pytest.Function)
            and inspect.iscoroutinefunction(item.obj)
            and not _FIXTURES.isdisjoint(item.fixturenames)
            and item.get_closest_marker("asyncio") is None
        ):
            item.add_marker(pytest.mark.asyncio(loop_scope="function"))
    return result


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, Any, Any]:
    """Raise the held-back loop-scope warning for a fixture it concerns (once)."""
    config = request.config
    if config.stash.get(_UNSET_LOOP_SCOPE_HELD, False) and fixturedef.scope != "function":
        func = fixturedef.func
        is_async = inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)
        if is_async and getattr(func, "_loop_scope", None) is None:
            config.stash[_UNSET_LOOP_SCOPE_HELD] = False
            warnings.warn(
                pytest.PytestDeprecationWarning(
                    _UNSET_LOOP_SCOPE_AFFECTS.format(
                        name=fixturedef.argname, scope=fixturedef.scope
                    )
                ),
                stacklevel=1,
            )
    return (yield)


def _sandbox_kwargs(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker(_MARKER)
    return dict(marker.kwargs) if marker is not None else {}


def _check_loop_scope(request: pytest.FixtureRequest) -> None:
    """Fail clearly when the test runs on another loop than the fixtures."""
    marker = request.node.get_closest_marker("asyncio")
    if marker is None:
        return
    scope = marker.kwargs.get("loop_scope") or marker.kwargs.get("scope")
    scope = scope or _ini(request.config, "asyncio_default_test_loop_scope") or "function"
    if scope != "function":
        pytest.fail(
            f"zyntro_sandbox and zyntro_client run on the test's function-scoped event loop, "
            f"but {request.node.name} runs on a {scope}-scoped one: mark it "
            '@pytest.mark.asyncio(loop_scope="function")',
            pytrace=False,
        )


if _HAVE_PYTEST_ASYNCIO:
    import pytest_asyncio

    @pytest_asyncio.fixture(loop_scope="function")
    async def zyntro_sandbox(request: pytest.FixtureRequest) -> AsyncIterator[ZyntroSandbox]:
        """A local Zyntro server for this test (see the ``zyntro_sandbox`` marker)."""
        _check_loop_scope(request)
        async with ZyntroSandbox(**_sandbox_kwargs(request)) as sandbox:
            yield sandbox

    @pytest_asyncio.fixture(loop_scope="function")
    async def zyntro_client(zyntro_sandbox: ZyntroSandbox) -> AsyncIterator[ZyntroClient]:
        """A client bound to ``zyntro_sandbox``; its retries do not sleep, its timeouts
        are short (``READ_TIMEOUT`` plus the sandbox's latency and jitter)."""
        previous = is_testing()
        set_testing(True)
        try:
            creds = zyntro_sandbox.credentials
            faults = zyntro_sandbox.faults
            read = READ_TIMEOUT + faults.latency + faults.jitter
            async with ZyntroClient(
                api_key=creds["api_key"],
                developer_secret=creds["developer_secret"],
                org_id=creds["org_id"],
                member_id=creds["member_id"],
                base_url=zyntro_sandbox.base_url,
                timeout=Timeout(connect=CONNECT_TIMEOUT, read=read, total=CONNECT_TIMEOUT + read),
                trust_env=False,  # the sandbox is on this machine: never via a proxy
            ) as client:
                yield client
        finally:
            set_testing(previous)

else:  # pragma: no cover - exercised only without pytest-asyncio

    @pytest.fixture
    def zyntro_sandbox() -> None:
        """Needs pytest-asyncio."""
        pytest.fail(_NEEDS_ASYNCIO)

    @pytest.fixture
    def zyntro_client() -> None:
        """Needs pytest-asyncio."""
        pytest.fail(_NEEDS_ASYNCIO)
