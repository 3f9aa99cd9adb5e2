"""The bulk engine without a network: laziness, order, stop policies, cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from zyntro_async import BulkResult, ErrorRate, Progress, ValidationError
from zyntro_async._bulk import BulkRun
from zyntro_async._throttle import Throttle


def run_of(items: Any, process: Any, *, concurrency: int = 8, **kwargs: Any) -> BulkRun[Any]:
    return BulkRun(
        items, process, concurrency=concurrency, throttle=Throttle(concurrency), **kwargs
    )


async def ok(item: Any) -> BulkResult[Any]:
    await asyncio.sleep(0)
    return BulkResult(request=item, ok=True, value=item, attempts=1)


def fail_some(bad: set[int]) -> Any:
    async def process(item: int) -> BulkResult[Any]:
        await asyncio.sleep(0)
        if item in bad:
            return BulkResult(
                request=item, ok=False, error=ValidationError(["bad"], code="INVALID_PAYLOAD")
            )
        return BulkResult(request=item, ok=True, value=item, attempts=2)

    return process


async def test_a_200000_item_generator_is_not_drained_ahead_of_the_workers() -> None:
    pulled = 0

    def items() -> Iterator[int]:
        nonlocal pulled
        for n in range(200_000):
            pulled += 1
            yield n

    run = run_of(items(), ok, concurrency=16)
    seen = 0
    async for _ in run:
        seen += 1
        # taken = finished (seen or queued, at most `concurrency`) + in flight (<= workers)
        assert pulled <= seen + 2 * 16 + 1
        if seen == 1000:
            break
    await run.aclose()
    assert pulled < 1100
    assert run.report is not None
    assert run.report.stopped == "cancelled"


async def test_await_consumes_everything_and_reports() -> None:
    report = await run_of(range(100), fail_some({3, 50}))
    assert report.total == 100
    assert report.succeeded == 98
    assert report.failed == 2
    assert report.retries == 98
    assert sorted(r.request for r in report.failures) == [3, 50]
    assert report.stopped is None


async def test_async_iterable_input_and_every_item_exactly_once() -> None:
    async def items() -> AsyncIterator[int]:
        for n in range(500):
            yield n

    results = [r.request async for r in run_of(items(), ok, concurrency=32)]
    assert sorted(results) == list(range(500))


async def test_fail_fast_stops_taking_input() -> None:
    report = await run_of(range(10_000), fail_some({5}), concurrency=4, on_failure="fail_fast")
    assert report.failed == 1
    assert report.total < 100
    assert report.stopped is not None
    assert "fail_fast" in report.stopped


async def test_error_rate_stops_after_its_minimum() -> None:
    bad = set(range(0, 10_000, 2))  # half fail
    report = await run_of(range(10_000), fail_some(bad), on_failure=ErrorRate(0.3, min_items=40))
    assert 40 <= report.total < 200
    assert report.stopped is not None
    assert "error rate" in report.stopped


async def test_an_input_iterator_error_is_raised_after_in_flight_items_finish() -> None:
    def items() -> Iterator[int]:
        yield from range(10)
        raise OSError("the input file went away")

    run = run_of(items(), ok, concurrency=4)
    with pytest.raises(OSError, match="went away"):
        await run
    assert run.report is not None
    assert run.report.total == 10


async def test_cancelling_the_consumer_cancels_the_workers() -> None:
    started = asyncio.Event()

    async def slow(item: int) -> BulkResult[Any]:
        started.set()
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    run = run_of(range(100), slow, concurrency=4)
    task = asyncio.ensure_future(run._consume())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert run.report is not None
    assert run.report.stopped == "cancelled"
    assert all(w.done() for w in run._workers)


async def test_progress_reports_and_a_broken_callback_does_not_kill_the_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[Progress] = []
    report = await run_of(range(50), ok, on_progress=seen.append, progress_interval=0)
    assert seen[-1].done == 50
    assert seen[-1].total == 50
    assert seen[-1].ok == 50

    def broken(_: Progress) -> None:
        raise RuntimeError("oops")

    report = await run_of(range(50), ok, on_progress=broken, progress_interval=0)
    assert report.succeeded == 50
    assert "on_progress callback failed" in caplog.text


async def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        run_of([], ok, concurrency=0)
    with pytest.raises(ValueError, match="on_failure"):
        run_of([], ok, on_failure="sometimes")


async def test_async_with_closes_an_abandoned_run() -> None:
    async with run_of(range(1000), ok) as run:
        async for _ in run:
            break
    assert run.report is not None
    assert all(w.done() for w in run._workers)
