"""How a run paces itself, against the sandbox, with the real pool-wide decisions running
(test mode zeroes only each item's own backoff sleeps)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from zyntro_async import (
    ProfileRequest,
    Progress,
    RateLimitError,
    RetryPolicy,
    Timeout,
    ZyntroClient,
)
from zyntro_async.errors import ReadTimeout
from zyntro_async.testing import Fault, Faults, ZyntroSandbox

from .edge import edge_gateway

ADD, FETCH = "addProfileToContact", "fetchContact"


@pytest.fixture
async def sandbox() -> AsyncIterator[ZyntroSandbox]:
    async with ZyntroSandbox(seed=99) as sb:
        yield sb


def client_for(sb: ZyntroSandbox, **kwargs: Any) -> ZyntroClient:
    return ZyntroClient(**sb.credentials, base_url=sb.base_url, **kwargs)


def adds(ids: list[str], n: int) -> list[ProfileRequest]:
    return [ProfileRequest(ids[i % len(ids)], {"n": i}, "Flow") for i in range(n)]


async def watch(run: Any) -> tuple[list[Any], list[Progress]]:
    """Consume a run, taking a progress snapshot after every result."""
    results, snapshots = [], []
    async for result in run:
        results.append(result)
        snapshots.append(run.progress())
    return results, snapshots


async def test_an_isolated_503_slows_only_its_own_item(sandbox: ZyntroSandbox) -> None:
    ids = sandbox.seed(50)
    sandbox.faults = Faults(latency=0.002, unavailable_retry_after=False)
    sandbox.script(ADD, None, None, Fault.UNAVAILABLE, Fault.SERVER_ERROR, Fault.RATE_LIMIT)
    async with client_for(sandbox) as client:
        run = client.bulk_add_profiles(adds(ids, 400), concurrency=16)
        results, snapshots = await watch(run)
    assert all(r.ok for r in results)
    assert run.report is not None
    assert run.report.retries == 3
    # Nothing pool-wide slowed down, and in flight never passed the concurrency.
    assert not any(p.throttled for p in snapshots)
    assert max(p.in_flight for p in snapshots) <= 16


@pytest.mark.slow
async def test_a_sustained_refusal_ratio_slows_the_pool(sandbox: ZyntroSandbox) -> None:
    ids = sandbox.seed(50)
    sandbox.faults = Faults(rate_limit=0.4, retry_after=0)  # 40 % refused, no Retry-After
    async with client_for(sandbox, retry=RetryPolicy(max_attempts=10)) as client:
        run = client.bulk_add_profiles(adds(ids, 300), concurrency=16)
        results, snapshots = await watch(run)
    assert all(r.ok for r in results)
    assert any(p.throttled for p in snapshots)


@pytest.mark.slow
async def test_a_quota_is_met_by_pacing_not_by_hammering(sandbox: ZyntroSandbox) -> None:
    ids = sandbox.seed(50)
    sandbox.faults = Faults(quota_rps=400)
    async with client_for(sandbox, retry=RetryPolicy(max_attempts=10)) as client:
        report = await client.bulk_add_profiles(adds(ids, 800), concurrency=32)
    refused = sandbox.stats[ADD].faults[Fault.QUOTA]
    assert report.succeeded == 800
    # Unpaced, 32 requests at a time against 400/s are refused most of the time.
    assert refused <= 0.1 * sandbox.stats[ADD].requests


@pytest.mark.slow
async def test_max_per_second_keeps_under_a_quota_it_matches(sandbox: ZyntroSandbox) -> None:
    ids = sandbox.seed(50)
    sandbox.faults = Faults(quota_rps=400)
    async with client_for(sandbox) as client:
        report = await client.bulk_add_profiles(adds(ids, 400), concurrency=32, max_per_second=400)
    assert report.succeeded == 400
    assert sandbox.stats[ADD].faults[Fault.QUOTA] <= 4


@pytest.mark.slow
async def test_a_rate_below_one_per_second_works(sandbox: ZyntroSandbox) -> None:
    ids = sandbox.seed(2)
    async with client_for(sandbox) as client:
        report = await client.bulk_fetch_contacts(ids, max_per_second=0.5)
    assert report.succeeded == 2


async def test_one_long_retry_after_among_successes_does_not_stop_the_run(
    sandbox: ZyntroSandbox,
) -> None:
    ids = sandbox.seed(200)
    sandbox.faults = Faults(retry_after=86400, latency=0.005)
    sandbox.script(ADD, *([None] * 19), Fault.RATE_LIMIT)
    async with client_for(sandbox, retry=RetryPolicy(deadline=5)) as client:
        run = client.bulk_add_profiles(adds(ids, 200), concurrency=8)
        results, _ = await asyncio.wait_for(watch(run), 60)  # a safety net, not a timing
    report = run.report
    assert report is not None
    assert report.stopped is None
    # The refused item too: the answers after its refusal lifted the hold, and it retried.
    assert report.succeeded == report.total == len(results) == 200
    assert sum(len(sandbox.profiles(cid)) for cid in ids) == 200
    assert sandbox.stats[ADD].faults[Fault.RATE_LIMIT] == 1


@pytest.mark.slow
async def test_a_confirmed_long_retry_after_fails_fast_and_stops_the_run(
    sandbox: ZyntroSandbox,
) -> None:
    ids = sandbox.seed(200)
    sandbox.faults = Faults(rate_limit=1.0, retry_after=86400, latency=0.005)
    sandbox.script(ADD, *([None] * 20))  # then every request is refused: a spent daily quota
    async with client_for(sandbox, retry=RetryPolicy(deadline=5)) as client:
        run = client.bulk_add_profiles(adds(ids, 200), concurrency=8)
        results, _ = await asyncio.wait_for(watch(run), 60)  # a safety net, not a timing
    report = run.report
    assert report is not None
    assert report.stopped is not None
    assert "wait until" in report.stopped
    assert report.succeeded == 20
    assert report.succeeded + report.failed + report.skipped == report.total == len(results)
    assert report.total < 200  # the rest were never taken: a journal resumes them
    refused = [r.error for r in results if not r.ok]
    assert refused
    assert all(isinstance(e, RateLimitError) for e in refused)
    assert all(e.retry_after is not None and e.retry_after > 5 for e in refused)  # type: ignore[union-attr]
    stored = sum(len(sandbox.profiles(cid)) for cid in ids)
    assert stored == report.succeeded
    # Confirmed by one probe, not by hammering: a refusal per item in flight, and the probe.
    assert sandbox.stats[ADD].faults[Fault.RATE_LIMIT] <= 8 + 2


async def test_the_budget_limits_resends_never_the_looks(sandbox: ZyntroSandbox) -> None:
    ids = sandbox.seed(100)
    sandbox.faults = Faults(server_error=1.0)
    policy = RetryPolicy(deadline=1.0)  # how long an add in doubt keeps looking
    async with client_for(sandbox, retry=policy) as client:
        run = client.bulk_add_profiles(adds(ids, 100), concurrency=8, retry_budget=50)
        results = [r async for r in run]
    assert run.report is not None
    assert run.report.failed == run.report.total  # (the run stops early: one code for all)
    # 50 tokens buy 10 re-sends; every add in doubt still looks for its record.
    assert sandbox.stats[ADD].requests <= run.report.total + 10
    assert sandbox.stats[FETCH].requests >= run.report.total
    # No look ever succeeded: each failure says so (unknown), none claims "not applied".
    assert all(r.unknown for r in results), results
    assert sum(len(sandbox.profiles(cid)) for cid in ids) == 0


async def test_the_deadline_bounds_a_call_against_a_slow_server(sandbox: ZyntroSandbox) -> None:
    (cid,) = sandbox.seed(1)
    sandbox.faults = Faults(latency=3.0)
    policy = RetryPolicy(deadline=0.5, max_attempts=5)
    async with client_for(sandbox, retry=policy, timeout=Timeout(read=30, total=60)) as client:
        # Without the deadline bounding the attempt, this answer would come in 3 s.
        with pytest.raises(ReadTimeout):
            await client.fetch_contact(cid)


@pytest.mark.slow
async def test_waiting_for_the_pace_fails_nothing(sandbox: ZyntroSandbox) -> None:
    # A pool far wider than the pace, and a deadline shorter than the wait for the last
    # turn: waiting for one's turn is not a failure, and the deadline counts from the send.
    ids = sandbox.seed(20)
    async with client_for(sandbox, retry=RetryPolicy(deadline=0.3)) as client:
        report = await client.bulk_fetch_contacts(ids, concurrency=32, max_per_second=20)
    assert report.failed == 0
    assert report.succeeded == 20
    assert sandbox.stats[FETCH].requests == 20  # each sent once, none timed out unsent


@pytest.mark.slow
async def test_an_edge_that_refuses_at_once_is_met_not_collapsed_to(
    sandbox: ZyntroSandbox,
) -> None:
    # nginx limit_req in front (rate=100r/s burst=30 nodelay, its default 503 HTML page, no
    # Retry-After): refusals come back at once, accepted answers after the backend's latency.
    ids = sandbox.seed(50)
    sandbox.faults = Faults(latency=0.005)
    edge_at = edge_gateway(sandbox.base_url, rate=100, burst=30, status=503)
    async with edge_at as (url, edge), ZyntroClient(**sandbox.credentials, base_url=url) as client:
        run = client.bulk_add_profiles(adds(ids, 300), concurrency=64)
        report = await asyncio.wait_for(run, 30)  # a safety net: a collapsed run crawls
    assert report.succeeded == 300
    assert sum(len(sandbox.profiles(cid)) for cid in ids) == 300
    # The opening burst (64 at once against a bucket of 30) is refused; then little is.
    assert edge.refused <= 34 + 0.1 * (edge.admitted + edge.refused)


@pytest.mark.slow
async def test_refusals_while_paced_wait_their_turn_and_use_up_no_attempt(
    sandbox: ZyntroSandbox,
) -> None:
    # Two attempts per call, and a gateway that refuses at once above 50/s: items refused
    # again after the run paces itself wait for their turn; only the deadline bounds them.
    ids = sandbox.seed(50)
    sandbox.faults = Faults(latency=0.005)
    edge_at = edge_gateway(sandbox.base_url, rate=50, burst=5, status=429)
    retry = RetryPolicy(max_attempts=2, deadline=30)
    async with (
        edge_at as (url, edge),
        ZyntroClient(**sandbox.credentials, base_url=url, retry=retry) as client,
    ):
        run = client.bulk_add_profiles(adds(ids, 150), concurrency=64)
        report = await asyncio.wait_for(run, 40)  # a safety net, not a timing
    assert edge.refused > 0
    assert report.failed == 0
    assert report.succeeded == 150
    assert sum(len(sandbox.profiles(cid)) for cid in ids) == 150


@pytest.mark.slow
async def test_a_window_spent_is_waited_out_and_every_item_succeeds() -> None:
    # A fixed window (60 requests per 3 s) answering Retry-After to its end, and a deadline
    # barely longer than the window: the refused wait for the next window, paced afresh.
    faults = Faults(quota_rps=20, quota_shape="fixed_window", quota_window=3, latency=0.005)
    async with ZyntroSandbox(seed=5, faults=faults) as sb:
        ids = sb.seed(50)
        async with client_for(sb, retry=RetryPolicy(deadline=3.5)) as client:
            run = client.bulk_add_profiles(adds(ids, 100), concurrency=64)
            report = await asyncio.wait_for(run, 30)  # a safety net, not a timing
    assert report.stopped is None
    assert report.succeeded == 100
    assert sum(len(sb.profiles(cid)) for cid in ids) == 100
