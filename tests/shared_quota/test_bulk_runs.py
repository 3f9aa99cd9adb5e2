"""Bulk runs in one process, on one API key, sharing one sandbox quota through a real
Redis with ``shared_quota=``: the runs pace as one client."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from typing import Any

import pytest

from tests.shared_quota.redis_server import RedisServer, redis_server
from zyntro_async import (
    BulkOptions,
    BulkReport,
    BulkRun,
    ConfigurationError,
    ProfileRequest,
    RetryPolicy,
    ZyntroClient,
)
from zyntro_async.testing import Fault, Faults, ZyntroSandbox

__all__ = ["redis_server"]  # the fixture, imported for this module's tests

ADD = "addProfileToContact"
QUOTA = 200.0
RUNS = 3
PER_RUN = 200
#: The sandbox and the runs share one event loop: one stall of it (a loaded machine)
#: lines up at the quota what was due meanwhile, and the bucket holds 10 % of a second
#: of it. A bounded run allows that flight on top of its percentage, as the sandbox's
#: quota tests allow their first flight; the 1 % target at scale is the benchmark's.
FLIGHT = 0.1 * QUOTA


def _requests(ids: list[str], run: int, n: int) -> list[ProfileRequest]:
    return [
        ProfileRequest(ids[i % len(ids)], {"run": run, "n": i}, "Fleet", key=f"r{run}-{i}")
        for i in range(n)
    ]


async def _consume(run: BulkRun[Any], done_at: list[float]) -> BulkReport:
    async for result in run:
        if result.ok:
            done_at.append(time.monotonic())
    assert run.report is not None
    return run.report


def _steady_rate(done_at: list[float]) -> float:
    """The combined rate over the second half of the successes (once learned)."""
    times = sorted(done_at)
    half = len(times) // 2
    return (len(times) - 1 - half) / (times[-1] - times[half])


async def _fleet(
    sb: ZyntroSandbox,
    url: str,
    *,
    during: Any = None,
    done_at: list[float] | None = None,
    **options: Any,
) -> tuple[list[BulkReport], float]:
    """RUNS bulk runs, each on its own client, side by side; their reports and the wall
    time from the first start to the last end (each success's time into ``done_at``)."""
    done_at = [] if done_at is None else done_at
    ids = sb.seed(50)
    clients = [
        ZyntroClient(**sb.credentials, base_url=sb.base_url, retry=RetryPolicy(max_attempts=10))
        for _ in range(RUNS)
    ]
    try:
        begun = time.monotonic()
        runs = [
            c.bulk_add_profiles(_requests(ids, i, PER_RUN), shared_quota=url, **options)
            for i, c in enumerate(clients)
        ]
        waiting = [  # the timeout is a safety net, not a timing
            asyncio.ensure_future(asyncio.wait_for(_consume(r, done_at), 30)) for r in runs
        ]
        if during is not None:
            await during()
        reports = list(await asyncio.gather(*waiting))
        elapsed = time.monotonic() - begun
    finally:
        for c in clients:
            await c.close()
    added = sum(len(sb.profiles(cid)) for cid in ids)
    assert added == sum(r.succeeded for r in reports), "an item was added twice"
    return reports, elapsed


def _faults() -> Faults:
    return Faults(quota_rps=QUOTA, latency=0.005)


@pytest.mark.slow
async def test_runs_given_the_fleets_total_share_it_without_refusals(
    redis_server: RedisServer,
) -> None:
    async with ZyntroSandbox(seed=7, faults=_faults()) as sb:
        reports, elapsed = await _fleet(sb, redis_server.url, max_per_second=QUOTA)
        stats = sb.stats[ADD]
    assert [(r.succeeded, r.failed) for r in reports] == [(PER_RUN, 0)] * RUNS
    # Each run alone would send the whole 200/s: three would be refused two times in three,
    # and one run pacing alone at its share while the others kept the whole rate would
    # be refused a third of its sends meanwhile.
    assert stats.faults[Fault.QUOTA] <= 0.02 * stats.requests + FLIGHT
    # Never faster than the quota, and no stall: a fleet paced at one run's share would
    # reach a third of it. The 0.95x target is the benchmark's: here the sandbox and the
    # three runs share one process, and a loaded machine's CPU alone (no refusal, no
    # cut) has held them to 0.5x.
    rate = RUNS * PER_RUN / elapsed
    assert 0.45 * QUOTA <= rate <= 1.05 * QUOTA, rate


@pytest.mark.slow
async def test_runs_learn_a_quota_together(redis_server: RedisServer) -> None:
    done_at: list[float] = []
    async with ZyntroSandbox(seed=8, faults=_faults()) as sb:
        reports, _ = await _fleet(sb, redis_server.url, done_at=done_at, concurrency=16)
        stats = sb.stats[ADD]
    assert [(r.succeeded, r.failed) for r in reports] == [(PER_RUN, 0)] * RUNS
    first_flight = RUNS * 16
    # Each run learning alone is refused about half as often as it is accepted.
    assert stats.faults[Fault.QUOTA] <= 0.05 * stats.requests + first_flight
    # How fast the fleet learns is the benchmark's to measure (it varies from run to run
    # over a few seconds); here: no stall, once a rate is learned.
    rate = _steady_rate(done_at)
    assert rate >= 0.4 * QUOTA, rate


@pytest.mark.slow
async def test_runs_learning_a_quota_together_open_in_slow_start(
    redis_server: RedisServer,
) -> None:
    async with ZyntroSandbox(seed=9, faults=_faults()) as sb:
        reports, _ = await _fleet(sb, redis_server.url, concurrency=64)
        stats = sb.stats[ADD]
    assert [(r.succeeded, r.failed) for r in reports] == [(PER_RUN, 0)] * RUNS
    # With no rate known, each run opens with 10 requests and widens as answers come,
    # as one run alone does: three pools of 64 at once would meet a bucket of 20 with
    # about 170 refusals before anything was learned.
    openings = RUNS * 10
    assert stats.faults[Fault.QUOTA] <= 0.05 * stats.requests + openings + FLIGHT


@pytest.mark.slow
async def test_redis_killed_mid_run_stalls_nothing_and_fails_nothing(
    redis_server: RedisServer,
) -> None:
    async def kill_redis() -> None:
        await asyncio.sleep(0.8)
        redis_server.kill()

    async with ZyntroSandbox(seed=9, faults=_faults()) as sb:
        reports, elapsed = await _fleet(
            sb, redis_server.url, during=kill_redis, max_per_second=QUOTA
        )
        stats = sb.stats[ADD]
    assert [(r.succeeded, r.failed) for r in reports] == [(PER_RUN, 0)] * RUNS
    # Each run paced itself at its share of the fleet's rate: neither stalled nor
    # hammered the quota (the switch itself costs a few refusals). The bound is twice
    # the quota's time: the sandbox and three runs share one event loop on a loaded CI
    # machine, and a stall until Redis returned would take far longer.
    assert elapsed <= 2.0 * RUNS * PER_RUN / QUOTA, elapsed
    assert stats.faults[Fault.QUOTA] <= 0.1 * stats.requests


def test_the_url_password_is_in_no_repr_or_message() -> None:
    url = "redis://:hunter2-pass@127.0.0.1:6379/0"
    assert "hunter2" not in repr(BulkOptions(shared_quota=url))
    with pytest.raises(ConfigurationError) as caught:
        BulkOptions(shared_quota="http://:hunter2-pass@127.0.0.1:6379/0")
    assert "hunter2" not in str(caught.value)
    assert "redis://" in str(caught.value)


def test_without_the_redis_extra_a_shared_quota_is_a_typed_error() -> None:
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "from zyntro_async import ConfigurationError, ZyntroClient\n"
        "client = ZyntroClient('k', 's', '1', '2', base_url='https://example.invalid/apis/v1')\n"
        "try:\n"
        "    client.bulk_fetch_contacts(['1'], shared_quota='redis://127.0.0.1:1/0')\n"
        "except ConfigurationError as exc:\n"
        "    print(exc)\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "zyntro-async[redis]" in ran.stdout, ran.stdout + ran.stderr
