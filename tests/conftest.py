"""Shared fixtures: the doc pages' own examples, and a retry switch that never sleeps."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import zyntro_async
from tests import _aioresponses_compat

_aioresponses_compat.install()


@pytest.fixture(autouse=True)
def _no_retry_sleep() -> Iterator[None]:
    zyntro_async.set_testing(True)
    yield
    zyntro_async.set_testing(False)
