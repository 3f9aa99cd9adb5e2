"""A journal that cannot lie: when the journal fails mid-run (a full disk, its files
deleted), the run stops with a JournalError, every result says what happened on the
server, and a re-run adds every item exactly once.

The full disk is a real 256 KiB tmpfs (the tests run as root here and in CI).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import small_disk as mounted
from zyntro_async import BulkResult, JournalError, ProfileRequest, Timeout, ZyntroClient
from zyntro_async.testing import Faults, ZyntroSandbox

ADD = "addProfileToContact"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with mounted(tmp_path / "small") as mount:
        yield mount


def client_for(sb: ZyntroSandbox) -> ZyntroClient:
    return ZyntroClient(
        **sb.credentials, base_url=sb.base_url, timeout=Timeout(connect=5, read=5, total=10)
    )


async def run_until_it_ends(run: Any) -> tuple[list[BulkResult[Any]], BaseException | None]:
    results: list[BulkResult[Any]] = []
    try:
        async for result in run:
            results.append(result)
    except JournalError as exc:
        return results, exc
    return results, None


def assert_truthful(sb: ZyntroSandbox, results: list[BulkResult[Any]]) -> None:
    """Every ok is on the server once; every failure not flagged unknown is not there."""
    for result in results:
        records = sb.profiles(result.request.contact_id)
        if result.ok:
            assert len(records) == 1, result
            assert result.value is None or result.value.id == records[0]["profile_id"]
        elif not result.unknown:
            assert records == [], result


async def test_a_full_disk_stops_the_run_and_no_result_lies(
    small_disk: Path, tmp_path: Path
) -> None:
    journal = small_disk / "run.db"
    async with ZyntroSandbox(seed=2221, faults=Faults(latency=0.002)) as sb:
        ids = sb.seed(400)
        # Long keys: the journal's rows fill the small disk within the run.
        items = [
            ProfileRequest(cid, {"n": n}, "Full", key=f"{cid}-{'k' * 1500}")
            for n, cid in enumerate(ids)
        ]
        async with client_for(sb) as client:
            run = client.bulk_add_profiles(items, concurrency=16, journal=journal)
            results, error = await run_until_it_ends(run)

        assert isinstance(error, JournalError)
        assert run.report is not None
        assert run.report.stopped is not None
        assert "journal" in run.report.stopped
        assert len(results) < len(items)
        assert run.report.total == len(results)
        assert_truthful(sb, results)
        assert any(r.ok for r in results)
        assert any(not r.ok for r in results)

        # The resumed run, with the journal moved to a disk with room, adds each item once.
        moved = tmp_path / "moved.db"
        for suffix in ("", "-wal"):
            if Path(f"{journal}{suffix}").exists():
                shutil.copyfile(f"{journal}{suffix}", f"{moved}{suffix}")
        async with client_for(sb) as client:
            report = await client.bulk_add_profiles(items, concurrency=16, journal=moved)
        assert (report.total, report.failed, report.stopped) == (400, 0, None)
        assert {cid: len(sb.profiles(cid)) for cid in ids} == dict.fromkeys(ids, 1)


async def test_a_deleted_journal_stops_the_run_and_a_rerun_adds_nothing_twice(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "run.db"
    async with ZyntroSandbox(seed=2222, faults=Faults(latency=0.005)) as sb:
        ids = sb.seed(600)
        items = [ProfileRequest(cid, {"n": n}, "Gone", key=cid) for n, cid in enumerate(ids)]

        async def delete_mid_run() -> None:
            await sb.wait_until(lambda s: s[ADD].successes >= 150)
            for suffix in ("", "-wal"):
                Path(f"{journal}{suffix}").unlink(missing_ok=True)

        async with client_for(sb) as client:
            deleter = asyncio.ensure_future(delete_mid_run())
            run = client.bulk_add_profiles(items, concurrency=16, journal=journal)
            results, error = await run_until_it_ends(run)
            await deleter

        assert isinstance(error, JournalError)
        assert "deleted" in str(error)
        assert run.report is not None
        assert run.report.stopped is not None
        assert "deleted" in run.report.stopped
        assert len(results) < len(items)
        assert_truthful(sb, results)

        # What the run had journaled is back at the path: the re-run skips or reconciles
        # every item it sent, and sends the rest once.
        async with client_for(sb) as client:
            report = await client.bulk_add_profiles(items, concurrency=16, journal=journal)
        assert (report.total, report.failed, report.stopped) == (600, 0, None)
        assert {cid: len(sb.profiles(cid)) for cid in ids} == dict.fromkeys(ids, 1)


async def test_a_replaced_journal_stops_the_run_and_its_contents_are_kept_beside_it(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "run.db"
    async with ZyntroSandbox(seed=2223, faults=Faults(latency=0.005)) as sb:
        ids = sb.seed(400)
        items = [ProfileRequest(cid, {"n": n}, "Swap", key=cid) for n, cid in enumerate(ids)]

        async def replace_mid_run() -> None:
            await sb.wait_until(lambda s: s[ADD].successes >= 100)
            other = tmp_path / "other.db"
            other.write_bytes(b"")
            other.replace(journal)  # say, a restore from a backup, under the running job

        async with client_for(sb) as client:
            replacer = asyncio.ensure_future(replace_mid_run())
            run = client.bulk_add_profiles(items, concurrency=16, journal=journal)
            results, error = await run_until_it_ends(run)
            await replacer

        assert isinstance(error, JournalError)
        assert "replaced" in str(error)
        assert_truthful(sb, results)
        rescued = Path(f"{journal}.rescued")
        assert rescued.exists()
        async with client_for(sb) as client:
            report = await client.bulk_add_profiles(items, concurrency=16, journal=rescued)
        assert (report.total, report.failed, report.stopped) == (400, 0, None)
        assert {cid: len(sb.profiles(cid)) for cid in ids} == dict.fromkeys(ids, 1)
