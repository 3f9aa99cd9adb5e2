"""Reports add up: every retry the run logs is counted in its report, as sent or
abandoned, also for items the run cancelled when it stopped."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from zyntro_async import BulkResult, ProfileRequest, ZyntroClient
from zyntro_async.testing import Faults, ZyntroSandbox

ADD = "addProfileToContact"


def retrying(caplog: pytest.LogCaptureFixture) -> int:
    return sum(r.getMessage().startswith("retrying") for r in caplog.records)


async def test_retries_logged_and_cut_short_are_counted_as_abandoned(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="zyntro_async")
    # Every add is refused with a 5 s Retry-After: the pool waits at the gate.
    async with ZyntroSandbox(seed=226, faults=Faults(rate_limit=1.0, retry_after=5)) as sb:
        ids = sb.seed(20)
        items = [ProfileRequest(cid, {"n": n}, "Count") for n, cid in enumerate(ids)]
        async with ZyntroClient(**sb.credentials, base_url=sb.base_url) as client:
            run = client.bulk_add_profiles(items, concurrency=4)
            results: list[BulkResult[Any]] = []

            async def consume() -> None:
                results.extend([r async for r in run])

            consumer = asyncio.ensure_future(consume())
            for _ in range(500):  # the first refusals are answered and their retries logged
                if retrying(caplog) >= 4:
                    break
                await asyncio.sleep(0.01)
            await run.aclose()  # while the retries wait at the gate
            await asyncio.wait({consumer})

    logged = retrying(caplog)
    assert logged >= 4
    assert run.report is not None
    assert run.report.retries == logged
    # None of them was sent: the gate held them until the run was cancelled.
    assert sb.stats[ADD].requests >= logged  # first sends only (some cancelled in flight)
    assert run.report.retries_abandoned == logged
    assert sum(r.retries for r in results) <= run.report.retries


async def test_a_finished_runs_retries_are_the_sum_of_its_results(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="zyntro_async")
    faults = Faults(rate_limit=0.3, retry_after=0.01)  # refusals: no look-ups in between
    async with ZyntroSandbox(seed=227, faults=faults) as sb:
        ids = sb.seed(100)
        items = [ProfileRequest(cid, {"n": n}, "Count") for n, cid in enumerate(ids)]
        async with ZyntroClient(**sb.credentials, base_url=sb.base_url) as client:
            run = client.bulk_add_profiles(items, concurrency=8)
            results = [r async for r in run]

    assert run.report is not None
    assert run.report.retries == retrying(caplog) > 0
    assert run.report.retries == sum(r.retries for r in results)
    assert run.report.retries_abandoned == sum(r.retries_abandoned for r in results)
    sent = sb.stats[ADD].requests
    assert sent == len(items) + run.report.retries - run.report.retries_abandoned
