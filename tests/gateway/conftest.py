"""Fixtures that put a real nginx between the SDK and the sandbox.

``gateway(upstream_port, **GatewayConfig fields)`` starts an nginx (see
:mod:`tests.gateway.nginx`) in the test's temp directory in front of a server on
``upstream_port``; ``sandbox_process(contacts=..., faults=...)`` starts a sandbox in a
subprocess that a test can stall (see :mod:`tests.gateway.backend`). Both are stopped
when the test ends. Without nginx installed the tests skip, except under ``CI`` (set by
``.ci/run``), where a missing nginx fails them: CI must run them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.gateway.backend import SandboxProcess
from tests.gateway.nginx import GatewayConfig, Nginx
from tests.servers import require_binary

StartGateway = Callable[..., Any]


@pytest.fixture(scope="session")
def nginx_path() -> str:
    return require_binary("nginx", "nginx")


@pytest.fixture
async def gateway(nginx_path: str, tmp_path: Path) -> Any:
    started: list[Nginx] = []

    async def start(upstream_port: int, **config: Any) -> Nginx:
        nginx = Nginx(
            nginx_path, tmp_path / f"nginx{len(started)}", upstream_port, GatewayConfig(**config)
        )
        started.append(nginx)
        await nginx.start()
        return nginx

    yield start
    for nginx in started:
        nginx.stop()


@pytest.fixture
def sandbox_process(tmp_path: Path) -> Iterator[Callable[..., SandboxProcess]]:
    started: list[SandboxProcess] = []

    def start(*, contacts: int, faults: str = "") -> SandboxProcess:
        process = SandboxProcess(
            tmp_path / f"sandbox{len(started)}", contacts=contacts, faults=faults
        )
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
