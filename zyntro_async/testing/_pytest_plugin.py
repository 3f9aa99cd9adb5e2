"""pytest plugin (entry point ``pytest11``): a local Zyntro for your tests.

Fixtures (async; they need pytest-asyncio):

* ``zyntro_sandbox`` -- a running :class:`ZyntroSandbox` on 127.0.0.1, fresh per test.
  Configure it with a marker: ``@pytest.mark.zyntro_sandbox(faults=Faults(...), seed=7)``.
* ``zyntro_client`` -- a :class:`~zyntro_async.ZyntroClient` bound to that sandbox, with
  retries that do not sleep (``set_testing``), closed after the test.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from typing import Any

import pytest

from .._client import ZyntroClient
from .._config import Timeout
from .._retry import is_testing, set_testing
from ._sandbox import ZyntroSandbox

_HAVE_PYTEST_ASYNCIO = importlib.util.find_spec("pytest_asyncio") is not None

_MARKER = "zyntro_sandbox"
_NEEDS_ASYNCIO = (
    "zyntro_async's zyntro_sandbox/zyntro_client fixtures are async: "
    "install pytest-asyncio (pip install pytest-asyncio)"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(**kwargs): keyword arguments for the zyntro_sandbox fixture's "
        "ZyntroSandbox (faults=, seed=, ...)",
    )


def _sandbox_kwargs(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker(_MARKER)
    return dict(marker.kwargs) if marker is not None else {}


if _HAVE_PYTEST_ASYNCIO:
    import pytest_asyncio

    @pytest_asyncio.fixture
    async def zyntro_sandbox(request: pytest.FixtureRequest) -> AsyncIterator[ZyntroSandbox]:
        """A local Zyntro server for this test (see the ``zyntro_sandbox`` marker)."""
        async with ZyntroSandbox(**_sandbox_kwargs(request)) as sandbox:
            yield sandbox

    @pytest_asyncio.fixture
    async def zyntro_client(zyntro_sandbox: ZyntroSandbox) -> AsyncIterator[ZyntroClient]:
        """A client bound to ``zyntro_sandbox``; its retries do not sleep."""
        previous = is_testing()
        set_testing(True)
        try:
            creds = zyntro_sandbox.credentials
            async with ZyntroClient(
                api_key=creds["api_key"],
                developer_secret=creds["developer_secret"],
                org_id=creds["org_id"],
                member_id=creds["member_id"],
                base_url=zyntro_sandbox.base_url,
                timeout=Timeout(connect=5.0, read=5.0, total=10.0),
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
