"""A bulk run on a PostgreSQL ledger (``journal="postgresql://..."``) against a real
PostgreSQL server the tests start: the journal's guarantees hold, and its URL's password is
shown nowhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import shut_the_loop_mid_run
from zyntro_async import (
    BulkResult,
    ConfigurationError,
    JournalError,
    Profile,
    ProfileRequest,
    RetryPolicy,
    ZyntroClient,
)
from zyntro_async.errors import JournalConflictError, NotFoundError, PreviousFailure
from zyntro_async.testing import Fault, ZyntroSandbox

from .postgres_server import PASSWORD

ADD = "addProfileToContact"
MISSING = "00000000-0000-4000-8000-000000000000"


def ledger(pg_url: str, **params: Any) -> str:
    """A fresh run on the test server's ledger."""
    query = "&".join(f"{k}={v}" for k, v in {"run": uuid.uuid4().hex, **params}.items())
    return f"{pg_url}?{query}"


async def _run(
    client: ZyntroClient, requests: list[ProfileRequest], **options: Any
) -> list[BulkResult[Profile]]:
    results = [r async for r in client.bulk_add_profiles(requests, concurrency=1, **options)]
    return [next(r for r in results if r.request == request) for request in requests]


async def test_a_loop_shutdown_cancelling_every_task_at_once_keeps_each_outcome_reported(
    pg_url: str,
) -> None:
    async with ZyntroSandbox(seed=5) as sb:
        await shut_the_loop_mid_run(sb, ledger(pg_url), items=1200)


async def test_a_rerun_answers_each_item_from_its_ledger_entry(pg_url: str) -> None:
    journal = ledger(pg_url)
    async with ZyntroSandbox(seed=77) as sb:
        ok_id, refused_id = sb.seed(2)
        items = [
            ProfileRequest(ok_id, {"v": 1}, "S", key="ok"),
            ProfileRequest(MISSING, {"v": 1}, "S", key="missing"),  # the item's own failure
            ProfileRequest(refused_id, {"v": 1}, "S", key="refused"),  # not the item's own
        ]
        sb.script(ADD, None, None, Fault.RATE_LIMIT)
        creds = {**sb.credentials, "base_url": sb.base_url}
        async with ZyntroClient(**creds, retry=RetryPolicy(max_attempts=1)) as client:
            ok, missing, refused = await _run(client, items, journal=journal)
        assert ok.ok
        assert ok.value is not None
        assert isinstance(missing.error, NotFoundError)
        assert not refused.ok
        assert not refused.unknown
        sent_before = sb.stats[ADD].requests

        conflicting = ProfileRequest(ok_id, {"v": 2}, "S", key="ok")
        async with ZyntroClient(**creds) as client:
            ok2, missing2, refused2, conflict2 = await _run(
                client, [*items, conflicting], journal=journal
            )
        assert ok2.ok
        assert ok2.skipped
        assert ok2.value is not None
        assert ok2.value.id == ok.value.id
        assert isinstance(missing2.error, PreviousFailure)
        assert missing2.error.code == "NOT_FOUND"
        assert refused2.ok
        assert not refused2.skipped
        assert isinstance(conflict2.error, JournalConflictError)
        assert sb.stats[ADD].requests == sent_before + 1
        assert len(sb.profiles(ok_id)) == 1
        assert len(sb.profiles(refused_id)) == 1

        # Another run name on the same server is another ledger: it knows none of these.
        async with ZyntroClient(**creds) as client:
            (fresh,) = await _run(client, [items[0]], journal=ledger(pg_url))
        assert fresh.ok
        assert not fresh.skipped


async def test_the_url_password_is_in_no_repr_message_or_error(pg_url: str) -> None:
    async with ZyntroSandbox(seed=5) as sb:
        (cid,) = sb.seed(1)
        async with ZyntroClient(**sb.credentials, base_url=sb.base_url) as client:
            # A server that is not there: the run cannot open its ledger.
            dead = f"postgresql://ledger:{PASSWORD}@127.0.0.1:1/postgres?run=x"
            run = client.bulk_add_profiles([ProfileRequest(cid, {"a": 1}, "S")], journal=dead)
            with pytest.raises(JournalError) as caught:
                [r async for r in run]
            assert PASSWORD not in str(caught.value)
            assert PASSWORD not in repr(caught.value)
            assert "127.0.0.1:1" in str(caught.value)
            assert PASSWORD not in repr(run.report)
            # A bad parameter is a typed error at the call, without the password either.
            with pytest.raises(ConfigurationError) as bad:
                client.bulk_add_profiles([], journal=f"{pg_url}?lease=never")
            assert PASSWORD not in str(bad.value)
            assert "lease" in str(bad.value)


def test_the_cli_runs_on_a_ledger_and_shows_no_password(pg_url: str, tmp_path: Path) -> None:
    import asyncio

    async def scenario() -> None:
        async with ZyntroSandbox(seed=9) as sb:
            ids = sb.seed(20)
            source = tmp_path / "in.jsonl"
            source.write_text(
                "".join(json.dumps({"contact_id": c, "payload": {"n": 1}}) + "\n" for c in ids)
            )
            env = {k: v for k, v in os.environ.items() if not k.startswith("ZYNTRO_")}
            env.update(
                ZYNTRO_BASE_URL=sb.base_url,
                ZYNTRO_API_KEY=sb.credentials["api_key"],
                ZYNTRO_DEVELOPER_SECRET=sb.credentials["developer_secret"],
                ZYNTRO_ORG_ID=sb.credentials["org_id"],
                ZYNTRO_MEMBER_ID=sb.credentials["member_id"],
            )
            journal = ledger(pg_url)
            for attempt in range(2):
                out = tmp_path / f"out{attempt}.jsonl"
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "zyntro_async", "enrich", str(source),
                    "--source", "Cli", "--journal", journal, "--output", str(out),
                    env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                )  # fmt: skip
                stdout, stderr = await asyncio.wait_for(proc.communicate(), 120)
                shown = stdout.decode() + stderr.decode() + out.read_text()
                assert proc.returncode == 0, shown[-2000:]
                assert PASSWORD not in shown
                lines = [json.loads(line) for line in out.read_text().splitlines()]
                assert all(line["ok"] for line in lines)
                assert all(line.get("skipped", False) == (attempt == 1) for line in lines), lines
            for cid in ids:
                assert len(sb.profiles(cid)) == 1

    asyncio.run(scenario())


def test_without_the_postgres_extra_a_ledger_is_a_typed_error() -> None:
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "from zyntro_async import ConfigurationError, ZyntroClient\n"
        "client = ZyntroClient('k', 's', '1', '2', base_url='https://example.invalid/apis/v1')\n"
        "try:\n"
        "    client.bulk_add_profiles([], journal='postgresql://u:pw@127.0.0.1:1/db')\n"
        "except ConfigurationError as exc:\n"
        "    print(exc)\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "zyntro-async[postgres]" in ran.stdout, ran.stdout + ran.stderr
