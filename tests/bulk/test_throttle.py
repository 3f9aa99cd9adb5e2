"""Pool-wide pacing: AIMD concurrency, the not-before gate, and the retry budget."""

from __future__ import annotations

import asyncio
import time

import pytest

import zyntro_async
from zyntro_async import FailureKind, RateLimitError, ReadTimeout, ServerError
from zyntro_async._throttle import RETRY_COST, TIMEOUT_RETRY_COST, Throttle


async def test_a_burst_of_429s_in_flight_is_one_reaction() -> None:
    t = Throttle(64)
    tokens = [await t.before_attempt() for _ in range(10)]  # all in flight together
    for token in tokens:  # ... and all refused
        t.after_attempt(token, RateLimitError("429", retry_after=2.0), FailureKind.REFUSED)
    assert t.limit == 32
    assert t.not_before > time.monotonic() + 1.5
    assert t.throttled
    assert t.throttle_events == 1


async def test_a_refusal_of_a_request_sent_after_the_reaction_counts_again() -> None:
    zyntro_async.set_testing(True)  # the gate does not hold us here
    t = Throttle(64)
    first = await t.before_attempt()
    t.after_attempt(first, RateLimitError("429", retry_after=0.01), FailureKind.REFUSED)
    later = await t.before_attempt()
    t.after_attempt(later, RateLimitError("429", retry_after=0.01), FailureKind.REFUSED)
    assert t.limit == 16
    assert t.throttle_events == 2


async def test_successes_grow_the_limit_back() -> None:
    t = Throttle(8)
    t.limit = 2.0
    for _ in range(100):
        token = await t.before_attempt()
        t.after_attempt(token, None, None)
    assert t.limit == 8
    assert t.in_flight == 0


async def test_ambiguous_failures_do_not_slow_the_pool() -> None:
    t = Throttle(8)
    token = await t.before_attempt()
    t.after_attempt(token, ServerError("500", status=500), FailureKind.AMBIGUOUS)
    assert t.limit == 8
    assert not t.throttled


async def test_in_flight_never_exceeds_the_limit() -> None:
    t = Throttle(16)
    t.limit = 3.0
    peak = 0

    async def one() -> None:
        nonlocal peak
        await t.before_attempt()
        peak = max(peak, t.in_flight)
        await asyncio.sleep(0.001)
        t.in_flight -= 1  # release without growing the limit
        t._wake()

    await asyncio.gather(*(one() for _ in range(50)))
    assert peak == 3


async def test_the_gate_holds_new_attempts_until_retry_after() -> None:
    zyntro_async.set_testing(False)
    t = Throttle(4)
    t.not_before = time.monotonic() + 0.1
    started = time.monotonic()
    await t.before_attempt()
    assert time.monotonic() - started >= 0.09


def test_retry_budget_costs_and_refunds() -> None:
    t = Throttle(4, retry_budget=20)
    assert t.allow_retry(ServerError("x", status=500), FailureKind.AMBIGUOUS)
    assert t.budget == 20 - RETRY_COST
    assert t.allow_retry(ReadTimeout("x"), FailureKind.AMBIGUOUS)
    assert t.budget == 20 - RETRY_COST - TIMEOUT_RETRY_COST
    assert not t.allow_retry(ReadTimeout("x"), FailureKind.AMBIGUOUS)
    t.item_succeeded(retries=1)
    assert t.budget == 20 - TIMEOUT_RETRY_COST
    t.item_succeeded(retries=0)
    assert t.budget == 20 - TIMEOUT_RETRY_COST + 1
    assert Throttle(4, retry_budget=None).allow_retry(ReadTimeout("x"), FailureKind.AMBIGUOUS)


@pytest.mark.parametrize("rate", [50.0])
async def test_max_per_second_paces_attempts(rate: float) -> None:
    zyntro_async.set_testing(False)
    t = Throttle(64, max_per_second=rate)
    started = time.monotonic()
    for _ in range(int(rate) + 10):  # a full bucket, then 10 more at the rate
        token = await t.before_attempt()
        t.after_attempt(token, None, None)
    assert time.monotonic() - started >= 10 / rate * 0.8
