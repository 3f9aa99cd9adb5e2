"""Lifetimes: every run ends, whichever way it is left (break, aclose, ``async with``,
garbage collection, ``ZyntroClient.close()``, loop shutdown), releases its journal, reads
ahead a bounded number of items, and keeps its task count bounded by what can be in flight.

Everything goes through the public API against the real sandbox.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import zyntro_async
from tests.helpers import shut_the_loop_mid_run
from zyntro_async import (
    BulkResult,
    JournalError,
    ProfileRequest,
    Timeout,
    ZyntroClient,
)
from zyntro_async.testing import Fault, Faults, ZyntroSandbox

ADD = "addProfileToContact"
PACKAGE_DIR = Path(zyntro_async.__file__).resolve().parent
SUBPROCESS_TIMEOUT = 30


@pytest.fixture
async def sandbox() -> AsyncIterator[ZyntroSandbox]:
    async with ZyntroSandbox(seed=12) as sb:
        yield sb


def client_for(sb: ZyntroSandbox, **kwargs: Any) -> ZyntroClient:
    kwargs.setdefault("timeout", Timeout(connect=5, read=5, total=10))
    return ZyntroClient(**sb.credentials, base_url=sb.base_url, **kwargs)


def endless(
    ids: list[str],
    n: int = 100_000,
    pulled: list[int] | None = None,
    reached: tuple[int, asyncio.Event] | None = None,
) -> Iterator[Any]:
    """``n`` add requests over ``ids``, lazily; counts what was taken in ``pulled[0]`` and
    sets ``reached[1]`` once ``reached[0]`` items were taken."""
    for i in range(n):
        if pulled is not None:
            pulled[0] += 1
        if reached is not None and i + 1 == reached[0]:
            reached[1].set()
        yield ProfileRequest(ids[i % len(ids)], {"i": i}, "Lifecycle", key=f"row-{i}")


def run_script(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )


def engine_tasks() -> set[asyncio.Task[Any]]:
    """Live tasks running the SDK's own code (its run engine, journal), not the sandbox's or
    aiohttp's: told apart by the file of each task's coroutine."""
    found = set()
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        if code is None or task is asyncio.current_task():
            continue
        where = Path(code.co_filename).resolve()
        if where.is_relative_to(PACKAGE_DIR) and not where.is_relative_to(PACKAGE_DIR / "testing"):
            found.add(task)
    return found


async def assert_engine_ends(timeout: float = 5.0) -> None:
    """Every task of the SDK ends (waited on, not slept on)."""
    left = engine_tasks()
    if left:
        _, pending = await asyncio.wait(left, timeout=timeout)
        assert not pending, f"still running: {pending}"


def drop(held: list[Any]) -> None:
    """Drop the last references to what ``held`` holds and collect."""
    held.clear()
    gc.collect()


async def assert_journal_free(sb: ZyntroSandbox, journal: Path, *, send: bool = True) -> None:
    """A new run on ``journal`` opens it (and, with ``send``, adds through it): the run
    before released its lock."""
    (cid,) = sb.seed(1)
    items = [ProfileRequest(cid, {"again": True}, "Reuse", key="reuse-1")] if send else []
    async with client_for(sb) as client:
        report = await client.bulk_add_profiles(items, journal=journal)
    assert report.stopped is None, report.stopped
    assert report.succeeded == len(items)


# -- 1. break out of `async for` inside `async with ZyntroClient`: the program exits ----------

BREAK_SCRIPT = """
    import asyncio, sys
    from zyntro_async import ProfileRequest, ZyntroClient
    from zyntro_async.testing import ZyntroSandbox

    JOURNAL = sys.argv[1] if len(sys.argv) > 1 else None

    def gen(ids):
        for i in range(100_000):
            yield ProfileRequest(ids[i % len(ids)], {"i": i}, "S", key=f"row-{i}")

    async def main():
        async with ZyntroSandbox(seed=1) as sb:
            ids = sb.seed(50)
            async with ZyntroClient(**sb.credentials, base_url=sb.base_url) as client:
                async for res in client.bulk_add_profiles(
                    gen(ids), concurrency=16, journal=JOURNAL
                ):
                    break
            print("FIRST", res.ok, flush=True)
            if JOURNAL is not None:
                # The client closed the abandoned run: the journal is free again.
                async with ZyntroClient(**sb.credentials, base_url=sb.base_url) as client:
                    report = await client.bulk_add_profiles(
                        [ProfileRequest(ids[0], {"again": 1}, "S", key="again")],
                        journal=JOURNAL,
                    )
                print("SECOND", report.succeeded, report.stopped, flush=True)

    asyncio.run(main())
    print("EXITED", flush=True)
"""


@pytest.mark.slow
def test_break_inside_async_with_client_lets_the_program_exit() -> None:
    proc = run_script(BREAK_SCRIPT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["FIRST True", "EXITED"], proc.stdout
    assert "Task was destroyed but it is pending" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.slow
def test_break_with_a_journal_releases_it_when_the_client_closes(tmp_path: Path) -> None:
    proc = run_script(BREAK_SCRIPT, str(tmp_path / "run.db"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["FIRST True", "SECOND 1 None", "EXITED"], proc.stdout
    assert "Task was destroyed but it is pending" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr


async def test_break_in_process_releases_the_journal_at_client_close(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    ids = sandbox.seed(20)
    journal = tmp_path / "run.db"

    async def first_then_break() -> BulkResult[Any]:
        async with client_for(sandbox) as client:
            async for result in client.bulk_add_profiles(
                endless(ids), concurrency=16, journal=journal
            ):
                return result  # the run is dropped unfinished, then the client closes
        raise AssertionError("the run gave no result")

    with pytest.warns(ResourceWarning, match="dropped unfinished"):
        first = await first_then_break()
    assert first.ok
    await assert_engine_ends()
    await assert_journal_free(sandbox, journal)


# -- 2. aclose() and `async with run:` after a few results ------------------------------------


@pytest.mark.parametrize("how", ["aclose", "async with"])
async def test_closing_a_run_early_ends_it_and_frees_its_journal(
    sandbox: ZyntroSandbox, tmp_path: Path, how: str
) -> None:
    # The old engine hung here once its results queue was full (the supervisor's last put):
    # so close only after the engine has read well ahead (5 read + 4 x concurrency taken),
    # i.e. with a pile of finished results nobody reads.
    ids = sandbox.seed(20)
    journal = tmp_path / "run.db"
    taken: list[BulkResult[Any]] = []
    ahead = asyncio.Event()
    items = endless(ids, reached=(5 + 4 * 16, ahead))
    async with client_for(sandbox) as client:
        run = client.bulk_add_profiles(items, concurrency=16, journal=journal)
        if how == "aclose":
            async for result in run:
                taken.append(result)
                if len(taken) == 5:
                    break
            await asyncio.wait_for(ahead.wait(), 5)
            await asyncio.wait_for(run.aclose(), 5)
        else:

            async def use_run() -> None:
                async with run:
                    async for result in run:
                        taken.append(result)
                        if len(taken) == 5:
                            break
                    await ahead.wait()

            await asyncio.wait_for(use_run(), 10)
        assert run.report is not None
        assert run.report.stopped is not None
        assert run.report.total >= 5
        await run.aclose()  # idempotent
        # Still inside the client: the run itself released the journal.
        await assert_engine_ends()
        await assert_journal_free(sandbox, journal)
    assert all(r.ok for r in taken)


# -- 3. a run dropped unfinished warns, and what it had in flight ends --------------------------


async def test_a_dropped_unfinished_run_warns_and_its_items_end(
    sandbox: ZyntroSandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="asyncio")
    ids = sandbox.seed(20)
    journal = tmp_path / "run.db"
    # The first add answers; the next ones hang on the server, so items are in flight.
    sandbox.faults = Faults(hang_seconds=30)
    sandbox.script(ADD, None, *[Fault.TIMEOUT_AFTER_COMMIT] * 40)
    client = client_for(sandbox, timeout=Timeout(connect=5, read=30, total=60))
    run = client.bulk_add_profiles(endless(ids), concurrency=8, journal=journal)
    first = await run.__aiter__().__anext__()
    assert first.ok
    assert run.progress().in_flight > 0
    held = [run]
    del run
    with pytest.warns(ResourceWarning, match="dropped unfinished"):
        drop(held)
    await assert_engine_ends()  # cancelled by the drop itself, client still open
    # (the server still has hangs scripted: open the journal without sending anything)
    await assert_journal_free(sandbox, journal, send=False)
    await asyncio.wait_for(client.close(), 5)
    gc.collect()
    assert not [r for r in caplog.records if "destroyed but it is pending" in r.getMessage()]


# -- 4. ZyntroClient.close() while another task consumes a run ----------------------------------


async def test_client_close_ends_a_run_another_task_is_consuming(sandbox: ZyntroSandbox) -> None:
    ids = sandbox.seed(20)
    client = client_for(sandbox)
    run = client.bulk_add_profiles(endless(ids), concurrency=16)
    started = asyncio.Event()
    seen = 0

    async def consume() -> None:
        nonlocal seen
        async for _ in run:
            seen += 1
            started.set()

    consumer = asyncio.create_task(consume())
    await started.wait()
    await asyncio.wait_for(client.close(), 5)
    await asyncio.wait_for(consumer, 5)  # its `async for` ended, no exception
    assert seen >= 1
    assert run.report is not None
    assert run.report.stopped is not None
    assert "client was closed" in run.report.stopped
    await assert_engine_ends()


# -- 4b. a loop shutdown that cancels every task at once ----------------------------------------


async def test_a_loop_shutdown_cancelling_every_task_at_once_keeps_each_outcome_reported(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    await shut_the_loop_mid_run(sandbox, str(tmp_path / "run.db"), items=1200)


# -- 5. read-ahead is bounded ------------------------------------------------------------------


async def test_read_ahead_is_bounded_by_eight_times_concurrency(sandbox: ZyntroSandbox) -> None:
    # The documented bound (BulkRun docs): a run holds at most 8 x concurrency items
    # (in flight, sleeping in a backoff, or finished and not yet read). So after reading R
    # results, at most R + 8 x concurrency items were ever taken from the input.
    ids = sandbox.seed(50)
    pulled = [0]
    concurrency = 8
    read = 0
    async with client_for(sandbox) as client:
        run = client.bulk_add_profiles(endless(ids, pulled=pulled), concurrency=concurrency)
        async with run:
            async for _ in run:
                read += 1
                assert pulled[0] <= read + 8 * concurrency
                if read == 200:
                    break
        assert pulled[0] <= 200 + 8 * concurrency, pulled[0]
    assert run.report is not None
    assert run.report.total <= pulled[0]


# -- 6. a client used in a second asyncio.run() --------------------------------------------------

SECOND_LOOP_SCRIPT = """
    import asyncio, sys, warnings
    warnings.simplefilter("default")
    from zyntro_async import ZyntroClient, ZyntroError
    from zyntro_async.testing import ZyntroSandbox

    CLOSE_FIRST = sys.argv[1] == "closed"
    state = {}

    async def first():
        sb = ZyntroSandbox(seed=1)
        await sb.start()
        (cid,) = sb.seed(1)
        client = ZyntroClient(**sb.credentials, base_url=sb.base_url)
        state.update(client=client, cid=cid)
        await client.fetch_contact(cid)
        if CLOSE_FIRST:
            await client.close()
        await sb.stop()

    async def second():
        client, cid = state["client"], state["cid"]
        for name, call in (
            ("fetch", lambda: client.fetch_contact(cid)),
            ("add", lambda: client.add_profile_to_contact(cid, {"a": 1}, "S")),
        ):
            try:
                await call()
            except ZyntroError as exc:
                print(name, "ZYNTRO", type(exc).__name__, exc, flush=True)
            except BaseException as exc:
                print(name, "OTHER", type(exc).__name__, exc, flush=True)
        report = await client.bulk_fetch_contacts([cid])
        error = report.failures[0].error if report.failures else None
        print("bulk", report.failed, type(error).__name__, report.stopped, flush=True)
        await client.close()

    asyncio.run(first())
    asyncio.run(second())
    print("EXITED", flush=True)
"""


@pytest.mark.slow
@pytest.mark.parametrize("first_loop", ["open", "closed"])
def test_a_client_in_a_second_event_loop_raises_a_typed_error(first_loop: str) -> None:
    proc = run_script(SECOND_LOOP_SCRIPT, first_loop)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1] == "EXITED", proc.stdout
    calls = [line for line in lines if line.startswith(("fetch ", "add "))]
    assert len(calls) == 2, proc.stdout
    for line in calls:
        assert " ZYNTRO " in line, line
        assert "ClientClosedError" in line, line
        if first_loop == "open":
            assert "event loop" in line, line  # it says why
    bulk = next(line for line in lines if line.startswith("bulk "))
    assert bulk.startswith("bulk 1 ClientClosedError"), bulk
    assert "Event loop is closed" not in proc.stdout + proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr


# -- 7. a caller-owned session's pool caps the workers --------------------------------------------


async def test_a_caller_session_pool_bounds_the_tasks_whatever_concurrency_says(
    sandbox: ZyntroSandbox,
) -> None:
    ids = sandbox.seed(50)
    most = 0

    def requests() -> Iterator[ProfileRequest]:
        nonlocal most
        for n, cid in enumerate(ids):
            most = max(most, len(asyncio.all_tasks()))  # sampled as the engine takes input
            yield ProfileRequest(cid, {"n": n}, "Pool")

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=10)) as session:
        async with client_for(sandbox, session=session) as client:
            run = client.bulk_add_profiles(requests(), concurrency=100_000)
            async for result in run:
                assert result.ok, result
                most = max(most, len(asyncio.all_tasks()))
                assert run.progress().in_flight <= 10
        assert not session.closed  # the client never closes a caller's session
    assert run.report is not None
    assert run.report.succeeded == 50
    # 8 x pool-size items held at most, plus this test, the run's supervisor and the
    # sandbox's per-connection handlers (at most 10 connections).
    assert most <= 10 * 8 + 20, most


# -- 13 (lifetime side). a journal that cannot be opened ends the run with JournalError ----------


async def test_a_journal_path_that_is_a_directory_raises_journal_error(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    ids = sandbox.seed(3)
    async with client_for(sandbox) as client:
        run = client.bulk_add_profiles(endless(ids, n=3), journal=tmp_path)
        with pytest.raises(JournalError):
            await run
        assert run.report is not None
        assert run.report.stopped is not None
        streamed = client.bulk_add_profiles(endless(ids, n=3), journal=tmp_path)
        with pytest.raises(JournalError):
            async for _ in streamed:
                pass
        assert streamed.report is not None
    assert all(sandbox.profiles(cid) == [] for cid in ids)


async def test_a_journal_in_use_by_another_open_run_raises_journal_error(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    ids = sandbox.seed(5)
    journal = tmp_path / "run.db"
    async with client_for(sandbox) as client:
        holder = client.bulk_add_profiles(endless(ids), concurrency=2, journal=journal)
        async with holder:
            await holder.__aiter__().__anext__()  # open, journal locked
            other = client.bulk_add_profiles(
                [ProfileRequest(ids[0], {"x": 1}, "Other")], journal=journal
            )
            with pytest.raises(JournalError, match="in use"):
                await other
            assert other.report is not None
            assert other.report.stopped is not None
        # The holder closed: the journal is free again.
        report = await client.bulk_add_profiles(
            [ProfileRequest(ids[0], {"x": 1}, "Other")], journal=journal
        )
        assert report.succeeded == 1
