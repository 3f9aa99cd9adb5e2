"""Shared fixtures: the doc pages' own examples, a retry switch that never sleeps, and the
Hypothesis profile CI runs with."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tests import _aioresponses_compat
from zyntro_async.testing import set_testing

_aioresponses_compat.install()

# CI sets CI=true. There every property test draws the same examples on every run
# (derandomize), so an example that fails once fails every run, and no example database
# is read or written. Recent Hypothesis versions ship a similar built-in "ci" profile; this
# one is ours so older versions behave the same. Locally: the default, random profile.
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _no_retry_sleep() -> Iterator[None]:
    set_testing(True)
    yield
    set_testing(False)


@pytest.fixture(autouse=True)
def _no_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clients honour HTTP(S)_PROXY by default, loopback included (as requests and httpx
    do): a developer's proxy settings would send the sandbox's traffic to their proxy. The
    proxy tests set these variables themselves; the CLI's subprocesses inherit this."""
    from tests.tinyproxy import PROXY_VARIABLES

    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
