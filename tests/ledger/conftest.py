from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ledger.postgres_server import postgres_cluster


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A PostgreSQL server of the tests' own, for the session; each test uses its own run."""
    with postgres_cluster() as url:
        yield url
