"""Every CLI test runs the real command line in a subprocess (a Python start-up, ~1 s):
all are marked slow, so ``-m "not slow"`` is the quick local run; CI runs them all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from zyntro_async.testing import ZyntroSandbox

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
async def sandbox() -> AsyncIterator[ZyntroSandbox]:
    async with ZyntroSandbox(seed=99) as sb:
        yield sb
