from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from zyntro_async.testing import ZyntroSandbox


@pytest.fixture
async def sandbox() -> AsyncIterator[ZyntroSandbox]:
    async with ZyntroSandbox(seed=99) as sb:
        yield sb
