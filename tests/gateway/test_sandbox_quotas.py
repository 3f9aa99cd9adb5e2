"""The SDK against every quota shape, played by the sandbox alone (no nginx needed).

The same demands as behind nginx (:mod:`tests.gateway.test_behind_nginx`), for the
shapes a gateway may enforce (``Faults.quota_shape``): one client at concurrency 64
holds the quota's rate without failing an item or storing one twice, and is refused
rarely. Counts are bounded (a few seconds of quota each) and each run is cut off if
it collapses.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from typing import Any

import pytest

from zyntro_async import ProfileRequest, RetryPolicy, ZyntroClient
from zyntro_async.testing import Fault, Faults, ZyntroSandbox, set_testing

SOURCE = "quota-test"
CONCURRENCY = 64
#: The first flight of requests meets whatever the quota holds at the start, and a window
#: spent by it is probed until it turns (one probe per 0.1 s of a 1 s window): a run of
#: thousands of items absorbs those refusals in its 5 %, a bounded one allows them on top.
FIRST_FLIGHT = CONCURRENCY + 10


@pytest.fixture(autouse=True)
def real_sleeps() -> Iterator[None]:
    set_testing(False)
    yield
    set_testing(True)


SHAPES = {
    "token": {},
    "leaky-edge": {"quota_shape": "leaky_bucket", "quota_headers": "none", "quota_instant": True},
    "leaky-edge-503-html": {
        "quota_shape": "leaky_bucket",
        "quota_headers": "none",
        "quota_instant": True,
        "quota_status": 503,
        "quota_body": "html",
    },
    "sliding": {"quota_shape": "sliding_window", "quota_headers": "retry_after"},
    "fixed-1s": {"quota_shape": "fixed_window"},
    "fixed-1s-retry-after-only": {"quota_shape": "fixed_window", "quota_headers": "retry_after"},
}


async def run_against(sb: ZyntroSandbox, n: int, bound: float) -> tuple[Any, list[str]]:
    ids = sb.seed(50)
    requests = [ProfileRequest(ids[i % 50], {"seq": i}, SOURCE) for i in range(n)]
    async with ZyntroClient(**sb.credentials, base_url=sb.base_url) as client:
        run = client.bulk_add_profiles(requests, concurrency=CONCURRENCY)
        try:
            report = await asyncio.wait_for(run, bound)
        except asyncio.TimeoutError:
            pytest.fail(f"{n} items not done in {bound:g} s: {sb.stats}")
    return report, ids


def duplicates(sb: ZyntroSandbox, ids: list[str]) -> int:
    seqs = [p["profile_payload"]["seq"] for cid in ids for p in sb.profiles(cid)]
    return len(seqs) - len(set(seqs))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("shape", "rate", "n"),
    [
        pytest.param(
            shape,
            rate,
            n,
            id=f"{shape}-{rate}",
        )
        for shape in SHAPES
        for rate, n in ((50, 250), (300, 2400))
    ],
)
async def test_one_client_holds_the_quota_of_every_shape(shape: str, rate: int, n: int) -> None:
    options: dict[str, Any] = dict(SHAPES[shape])
    if options.get("quota_shape") == "leaky_bucket":
        options["quota_burst"] = rate // 10
    async with ZyntroSandbox(faults=Faults(quota_rps=rate, latency=0.005, **options)) as sb:
        report, ids = await run_against(sb, n, bound=math.ceil(n / rate * 3 + 5))
        refused = sb.stats.faults[Fault.QUOTA]
        assert report.failed == 0
        assert duplicates(sb, ids) == 0
        # A bounded run pays the quota's opening (a window's first second) and a rate that
        # CUBIC may still be climbing back to: the 0.9x target is the benchmark's, at scale.
        assert report.succeeded / report.elapsed >= 0.75 * rate
        assert refused <= 0.05 * sb.stats.requests + FIRST_FLIGHT


#: What a bounded run against a bucket of a few may have refused on top of 5 %: the
#: opening's ten meet the bucket's five, and slow start passes the rate once.
OPENING = 25


@pytest.mark.slow
@pytest.mark.parametrize("shape", ["token", "leaky-edge", "leaky-edge-503-html"])
async def test_a_bucket_of_five_at_50_per_second_is_not_burst_by_the_opening(shape: str) -> None:
    # A first flight of 64 would have 59 refused by a bucket of 5. The pool opens with
    # ten, and paces from what they showed: the run is refused far less than that.
    options: dict[str, Any] = dict(SHAPES[shape])
    if options.get("quota_shape") == "leaky_bucket":
        options["quota_burst"] = 5
    async with ZyntroSandbox(faults=Faults(quota_rps=50, latency=0.005, **options)) as sb:
        report, ids = await run_against(sb, 250, bound=20)
        refused = sb.stats.faults[Fault.QUOTA]
        assert report.failed == 0
        assert duplicates(sb, ids) == 0
        assert report.succeeded / report.elapsed >= 0.75 * 50
        assert refused <= 0.05 * sb.stats.requests + OPENING


@pytest.mark.slow
async def test_a_long_fixed_window_is_waited_out_and_every_item_succeeds() -> None:
    # 20 per 5 s window, 30 items: the last 10 wait for the next window.
    faults = Faults(quota_rps=4, quota_shape="fixed_window", quota_window=5, latency=0.005)
    async with ZyntroSandbox(faults=faults) as sb:
        report, ids = await run_against(sb, 30, bound=20)
        assert report.succeeded == 30
        assert report.stopped is None
        assert duplicates(sb, ids) == 0
        # The first flight meets the window's 20 (10 refused); then the wait is probed,
        # not knocked on: one probe at a time, every 25 ms at most, over the last second
        # that the whole-second Retry-After leaves open.
        assert sb.stats.faults[Fault.QUOTA] <= 10 + 40 + 2


@pytest.mark.slow
async def test_a_window_as_long_as_the_deadline_is_waited_out_and_every_item_succeeds() -> None:
    # A per-minute window with the default 60 s deadline, scaled down: 1,000 per 3 s
    # window, a 3 s deadline, 1,300 items. The items the window refuses were sent after
    # it opened, so its turn comes before their deadlines; its whole-second Retry-After,
    # rounded up, would say the turn comes after them, and fail them.
    faults = Faults(
        quota_rps=1000 / 3,
        quota_shape="fixed_window",
        quota_window=3,
        quota_headers="retry_after",
        latency=0.005,
    )
    async with ZyntroSandbox(faults=faults) as sb:
        ids = sb.seed(50)
        requests = [ProfileRequest(ids[i % 50], {"seq": i}, SOURCE) for i in range(1300)]
        policy = RetryPolicy(deadline=3)
        async with ZyntroClient(**sb.credentials, base_url=sb.base_url, retry=policy) as client:
            run = client.bulk_add_profiles(requests, concurrency=CONCURRENCY)
            report = await asyncio.wait_for(run, 30)  # a safety net, not a timing
        assert report.failed == 0, report
        assert report.succeeded == 1300
        assert report.stopped is None
        assert duplicates(sb, ids) == 0
