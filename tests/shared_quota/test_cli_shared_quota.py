"""``zyntro-async enrich`` with a shared quota (``ZYNTRO_SHARED_QUOTA`` or
``--shared-quota``): the runs pace through Redis, and its password shows nowhere."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.cli.helpers import env_for, jsonl, run_cli
from tests.shared_quota.redis_server import RedisServer, redis_server
from zyntro_async.testing import ZyntroSandbox

__all__ = ["redis_server"]  # the fixture, imported for this module's tests

PASSWORD = "hunter2-redis-pass"


@pytest.fixture
async def sandbox() -> AsyncIterator[ZyntroSandbox]:
    async with ZyntroSandbox(seed=3) as sb:
        yield sb


@pytest.mark.slow
async def test_enrich_through_a_shared_quota_never_shows_the_password(
    sandbox: ZyntroSandbox, redis_server: RedisServer, tmp_path: Path
) -> None:
    redis_server.cli("CONFIG", "SET", "requirepass", PASSWORD)
    url = f"redis://:{PASSWORD}@127.0.0.1:{redis_server.port}/0"
    ids = sandbox.seed(5)
    lines = jsonl(tmp_path / "in.jsonl", ids, source="Fleet")
    ran = await run_cli(
        "-vv", "enrich", str(lines), "--rate", "50",
        env=env_for(sandbox, ZYNTRO_SHARED_QUOTA=url),
    )  # fmt: skip
    assert ran.code == 0, ran.err
    assert sum(len(sandbox.profiles(cid)) for cid in ids) == 5
    assert PASSWORD not in ran.out + ran.err
    # The run went through Redis: the fleet's state is there (under the key's hash).
    keys = redis_server.cli("-a", PASSWORD, "--no-auth-warning", "KEYS", "zyntro:quota:*")
    assert keys.strip()


@pytest.mark.slow
async def test_a_bad_shared_quota_url_is_a_usage_error_without_the_password(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    ids = sandbox.seed(1)
    lines = jsonl(tmp_path / "in.jsonl", ids, source="Fleet")
    ran = await run_cli(
        "-vv", "enrich", str(lines), "--shared-quota", f"http://:{PASSWORD}@127.0.0.1:1/0",
        env=env_for(sandbox),
    )  # fmt: skip
    assert ran.code != 0
    assert "redis://" in ran.err
    assert PASSWORD not in ran.out + ran.err
    assert "Traceback" not in ran.err
    assert sandbox.profiles(ids[0]) == []
