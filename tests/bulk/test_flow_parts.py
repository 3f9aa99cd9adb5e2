"""The flow control's parts, sans I/O, each on a fake clock: no network, no sleeping.

These import the private parts on purpose (as the sandbox's quota tests import its
bucket): a quota's behaviour over seconds cannot be checked exactly over HTTP without
sleeping. What they assert is what a run relies on: the estimate a controller acts on,
the rate it sets, when a waiting request may go, when the pool is held.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from zyntro_async import RateLimitError
from zyntro_async._flow import FlowControl
from zyntro_async._flow._budget import RetryBudget
from zyntro_async._flow._cubic import BETA, HEADROOM, MIN_RATE, Cubic
from zyntro_async._flow._estimator import AcceptedRate
from zyntro_async._flow._fleet import FleetPace
from zyntro_async._flow._gate import PROBE_AFTER, SPENT_PROBE, TURN_PROBE, WHOLE_SECOND, Gate
from zyntro_async._flow._holding import GateClosed, GateWait
from zyntro_async._flow._pacer import Pace, Pacer
from zyntro_async._flow._rate import RateController
from zyntro_async._retry import FailureKind


class FakeClock:
    def __init__(self) -> None:
        self.now = 1024.0

    def __call__(self) -> float:
        return self.now


def refusal(retry_after: float | None = None, limit: float | None = None) -> RateLimitError:
    return RateLimitError("rate limited (HTTP 429)", retry_after=retry_after, limit=limit)


# ------------------------------------------------------------------------ the estimator


def edge_traffic(
    est: AcceptedRate, *, start: float, seconds: float, send: float, accept: float, latency: float
) -> float:
    """``send``/s for ``seconds``; the server accepts ``accept`` of each second's requests
    (evenly spread), refuses the rest at once, answers the accepted after ``latency``."""
    pending: list[float] = []
    t, credit, step = start, 0.0, 1.0 / send
    while t < start + seconds:
        est.sent(t)
        credit += accept / send
        if credit >= 1.0:
            credit -= 1.0
            pending.append(t)
        else:
            est.answered(t, t, accepted=False, refused=True)
        while pending and pending[0] + latency <= t:
            sent = pending.pop(0)
            est.answered(sent, sent + latency, accepted=True, refused=False)
        t += step
    for sent in pending:  # answers still on their way are not given: they are in flight
        if sent + latency <= t:
            est.answered(sent, sent + latency, accepted=True, refused=False)
    return t


def test_refusals_alone_make_no_estimate() -> None:
    est = AcceptedRate()
    t = 1024.0
    for i in range(64):  # an opening burst; the edge refuses half at once
        est.sent(t)
        if i % 2:
            est.answered(t, t + 0.0005, accepted=False, refused=True)
    # The accepted answers take the backend's latency: none is in yet.
    assert est.estimate(t + 0.001) is None


def test_estimate_is_the_accepted_rate_though_refusals_come_back_first() -> None:
    est = AcceptedRate()
    end = edge_traffic(est, start=1024.0, seconds=3.0, send=500.0, accept=300.0, latency=0.05)
    estimate = est.estimate(end)
    assert estimate is not None
    assert estimate.rate == pytest.approx(300.0, rel=0.05)
    assert estimate.share == pytest.approx(0.6, abs=0.03)


def test_no_estimate_from_a_stretch_shorter_than_the_answers_take() -> None:
    est = AcceptedRate()
    # 0.6 s of traffic whose accepted answers take 0.5 s: the settled stretch is too short.
    end = edge_traffic(est, start=1024.0, seconds=0.6, send=200.0, accept=100.0, latency=0.5)
    assert est.estimate(end) is None
    end = edge_traffic(est, start=end, seconds=2.0, send=200.0, accept=100.0, latency=0.5)
    estimate = est.estimate(end)
    assert estimate is not None
    assert estimate.span >= 0.5
    assert estimate.rate == pytest.approx(100.0, rel=0.1)


def test_estimate_since_leaves_out_what_was_sent_before() -> None:
    est = AcceptedRate()
    # An unpaced burst, mostly refused, then paced traffic all accepted.
    t = 1024.0
    for _ in range(60):
        est.sent(t)
        est.answered(t, t, accepted=False, refused=True)
    est.sent(t)
    est.answered(t, t + 0.01, accepted=True, refused=False)
    paced = t + 0.05
    end = edge_traffic(est, start=paced, seconds=1.0, send=50.0, accept=50.0, latency=0.01)
    estimate = est.estimate(end, since=paced)
    assert estimate is not None
    assert estimate.share == 1.0
    assert estimate.rate == pytest.approx(50.0, rel=0.1)


# ------------------------------------------------------------------------ CUBIC


def test_cubic_is_off_until_a_reduction_then_probes_back_to_w_max() -> None:
    cubic = Cubic()
    assert cubic.rate(0.0) is None
    cubic.reduce(10.0, 300.0)
    assert cubic.rate(10.0) == pytest.approx(BETA * 300.0)
    assert cubic.rate(10.0 + cubic.k) == pytest.approx(300.0)
    later = cubic.rate(10.0 + cubic.k + 3.0)
    assert later is not None
    assert later > 300.0


def test_a_better_estimate_lifts_the_rate_at_once() -> None:
    cubic = Cubic()
    cubic.reduce(0.0, 5.0)  # thin early evidence
    cubic.reduce(0.2, 300.0)  # the accepted rate, measured
    assert cubic.rate(0.2) == pytest.approx(BETA * 300.0)


def test_cubic_climbs_back_from_an_underestimate_at_hundreds_per_second_in_seconds() -> None:
    # A reduction to 0.7 of a quota of 300/s (thin evidence): the rate is back within
    # 5 % of the quota in about 6 s (the cubic's plateau, then its climb), not 10.
    cubic = Cubic()
    cubic.reduce(0.0, 0.7 * 300.0)
    t = 0.0
    while (rate := cubic.rate(t)) is not None and rate < 0.95 * 300.0:
        t += 0.01
    assert t <= 6.5


def test_a_header_limit_is_a_ceiling_and_the_floor_holds() -> None:
    cubic = Cubic()
    cubic.cap(100.0)
    cubic.reduce(0.0, 500.0)
    assert cubic.rate(0.0) == pytest.approx(BETA * 100.0)
    # Paced a little under the limit: a window of 100 meets no 101st from the pace's jitter.
    assert cubic.rate(60.0) == pytest.approx(100.0 * (1 - HEADROOM))
    floor = Cubic()
    floor.reduce(0.0, 0.0)
    assert floor.rate(0.0) == MIN_RATE


# ------------------------------------------------------------------------ the pace


@pytest.mark.parametrize("rate", [0.2, 1.0, 5.0, 500.0, 2000.0])
def test_pace_holds_the_rate(rate: float) -> None:
    pace, t, sends = Pace(), 1024.0, []
    for _ in range(200):
        t += pace.wait(t, rate)
        assert pace.take(t, rate)
        sends.append(t)
    assert (len(sends) - 1) / (sends[-1] - sends[0]) == pytest.approx(rate, rel=0.01)


def test_a_waiting_request_is_re_planned_when_the_rate_rises() -> None:
    pace, t = Pace(), 1024.0
    assert pace.take(t, 0.5)
    assert pace.wait(t, 0.5) == pytest.approx(2.0)  # booked at 0.5/s it would wait 2 s
    t += 0.01
    assert pace.wait(t, 300.0) == 0.0  # asked again at 300/s: it goes now
    assert pace.take(t, 300.0)


def test_pace_allows_only_a_small_burst_after_a_pause() -> None:
    pace, t = Pace(), 1024.0
    assert pace.take(t, 500.0)
    t += 60.0
    burst = 0
    while pace.take(t, 500.0):
        burst += 1
    assert burst == 10  # 20 ms of traffic at 500/s


async def test_pacer_wakes_its_waiters_when_the_rate_is_replanned() -> None:
    rate = [0.1]
    pacer = Pacer(lambda now: rate[0], asyncio.get_running_loop().time)
    assert pacer.try_pass(asyncio.get_running_loop().time())
    waiter = asyncio.ensure_future(pacer.turn())  # 10 s away at 0.1/s
    await asyncio.sleep(0)
    assert not waiter.done()
    rate[0] = 1000.0
    pacer.replan()
    await asyncio.wait_for(waiter, 5)  # a safety net: it goes at once


async def test_a_timer_that_fires_late_costs_the_pace_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every timer fires 2 ms late (an event loop's turn at a few dozen per second): at
    # 50/s the pace must still hand out 50 turns a second, not 50 / (1 + 0.1).
    clock = FakeClock()
    loop = asyncio.get_running_loop()

    def late(delay: float, callback: Any, *args: Any) -> asyncio.Handle:
        clock.now += delay + 0.002
        return loop.call_soon(callback, *args)

    monkeypatch.setattr(loop, "call_later", late)
    pacer = Pacer(lambda now: 50.0, clock)
    start = clock.now
    assert pacer.try_pass(start)
    await asyncio.gather(*(pacer.turn() for _ in range(100)))
    assert 100 / (clock.now - start) == pytest.approx(50.0, rel=0.02)


# ------------------------------------------------------------------------ the gate


def test_one_long_retry_after_holds_then_probes() -> None:
    gate = Gate()
    assert not gate.refused(100.0, 99.9, 86400.0, refusal(86400.0))
    assert gate.closed(100.0)
    assert gate.check(100.0) == pytest.approx(PROBE_AFTER)
    assert gate.until - 100.0 == pytest.approx(PROBE_AFTER)  # not a day
    t = 100.0 + PROBE_AFTER
    assert gate.check(t) == 0.0  # the probe goes
    assert gate.check(t) > 0.0  # the others wait for its answer
    assert gate.accepted(t)  # it succeeded: lifted
    assert not gate.closed(t)


def test_a_success_sent_before_the_refusal_does_not_lift_the_hold() -> None:
    gate = Gate()
    gate.refused(100.0, 99.9, 86400.0, refusal(86400.0))
    assert not gate.accepted(99.8)
    assert gate.closed(100.1)
    assert gate.accepted(99.95)  # sent after the refused request, accepted: lifted


def test_a_refused_probe_confirms_the_wait() -> None:
    gate = Gate()
    gate.refused(100.0, 99.9, 86400.0, refusal(86400.0))
    t = 100.0 + PROBE_AFTER
    assert gate.check(t) == 0.0
    assert gate.refused(t + 0.01, t, 86400.0, refusal(86400.0))
    assert gate.confirmed
    # A whole-second Retry-After is rounded: the wait may end up to a second sooner.
    assert gate.until == pytest.approx(t + 0.01 + 86400.0 - WHOLE_SECOND)


def test_a_confirmed_wait_probes_for_its_turn_from_its_earliest_end() -> None:
    # A minute's window answers "Retry-After: 60" when 59.3 s are left. The pool waits
    # 59 s, then probes every TURN_PROBE until the window admits: not a second late, and
    # not the whole pool at once into a window that may not have turned yet.
    gate = Gate()
    gate.refused(100.0, 99.9, 60.0, refusal(60.0))
    t = 100.0 + PROBE_AFTER
    assert gate.check(t) == 0.0
    assert gate.refused(t + 0.01, t, 60.0, refusal(60.0))  # confirmed
    end = t + 0.01 + 59.0
    assert gate.check(end - 0.5) == pytest.approx(0.5)
    assert gate.check(end) == 0.0  # the probe goes
    assert gate.check(end) > 0.0  # the others wait for its answer
    assert gate.refused(end + 0.005, end, 1.0, refusal(1.0))  # not yet: probe again soon
    assert gate.until == pytest.approx(end + 0.005 + TURN_PROBE)
    t2 = end + 0.005 + TURN_PROBE
    assert gate.check(t2) == 0.0
    assert gate.accepted(t2)  # the window turned: lifted
    assert not gate.closed(t2)


def test_a_wait_given_in_fractions_of_a_second_is_taken_as_it_is() -> None:
    gate = Gate()
    gate.refused(100.0, 99.9, 30.5, refusal(30.5))
    t = 100.0 + PROBE_AFTER
    gate.check(t)
    assert gate.refused(t + 0.01, t, 30.5, refusal(30.5))
    assert gate.until == pytest.approx(t + 0.01 + 30.5)


def test_a_probe_that_fails_otherwise_holds_again() -> None:
    gate = Gate()
    gate.refused(100.0, 99.9, 30.0, refusal(30.0))
    t = 100.0 + PROBE_AFTER
    assert gate.check(t) == 0.0
    assert gate.failed(t + 0.5, t)
    assert gate.closed(t + 0.5)
    assert not gate.confirmed
    assert gate.check(t + 0.5 + PROBE_AFTER) == 0.0  # the next probe


def test_a_short_retry_after_is_the_item_s_own() -> None:
    gate = Gate()
    assert not gate.refused(100.0, 99.9, 1.0, refusal(1.0))
    assert not gate.closed(100.0)


# ------------------------------------------------------------------------ the budget


def test_budget_stops_retries_and_refills_on_success() -> None:
    budget = RetryBudget(12)
    assert budget.spend(timeout=False)
    assert budget.spend(timeout=False)
    assert not budget.spend(timeout=False)
    assert budget.tokens == 2
    budget.succeeded(retries=2)
    assert budget.tokens == 12
    assert not RetryBudget(9).spend(timeout=True)
    assert RetryBudget(None).spend(timeout=True)


# ------------------------------------------------------------------------ composed


def simulate(
    flow: FlowControl,
    clock: FakeClock,
    *,
    quota: float,
    burst: float,
    seconds: float,
    limit: float | None = None,
    refuse_in: float = 0.0,
) -> tuple[list[float], int]:
    """Drive ``flow`` against an edge that refuses at once (nginx ``limit_req nodelay``;
    with ``X-RateLimit-Limit: limit`` if given; the refusals answered ``refuse_in`` s
    later) and answers the accepted after 5 ms; every slot re-sends as soon as it may
    (a pool of items always ready). Returns the accepted answers' times and the
    refusals."""
    excess, last = 0.0, clock.now
    in_flight: list[tuple[float, float]] = []  # (answer time, send time)
    refusals: list[tuple[float, float]] = []
    accepted: list[float] = []
    refused = 0
    end = clock.now + seconds
    while clock.now < end:
        now = clock.now
        for answer in [f for f in refusals if f[0] <= now]:
            refusals.remove(answer)
            flow.release(answer[1], refusal(limit=limit), FailureKind.REFUSED)
        for answer in [f for f in in_flight if f[0] <= now]:
            in_flight.remove(answer)
            flow.release(answer[1], None, None)
            accepted.append(now)
        while (started := flow.try_acquire()) is not None:
            excess = max(0.0, excess - (started - last) * quota)
            last = started
            if excess + 1 > burst + 1:
                refused += 1
                if refuse_in:
                    refusals.append((started + refuse_in, started))
                else:
                    flow.release(started, refusal(limit=limit), FailureKind.REFUSED)
            else:
                excess += 1
                in_flight.append((started + 0.005, started))
        clock.now += 0.0005
    return accepted, refused


@pytest.mark.parametrize("quota", [50.0, 300.0])
def test_an_edge_that_refuses_at_once_is_met_not_collapsed_to(quota: float) -> None:
    clock = FakeClock()
    flow = FlowControl(64, clock=clock)
    start = clock.now
    accepted, refused = simulate(flow, clock, quota=quota, burst=30, seconds=12.0)
    settled = [t for t in accepted if t >= start + 5.0]
    rate = len(settled) / (clock.now - (start + 5.0))
    assert rate >= 0.85 * quota
    assert rate <= 1.05 * quota + 30 / 7
    assert refused <= 0.05 * (len(accepted) + refused) + 64  # the opening burst aside


def test_the_pool_opens_with_ten_requests_and_widens_as_answers_come() -> None:
    # Slow start: ten on the wire before any answer, then the window widens with the
    # answers that are not refusals, and a refusal takes its slot with it.
    clock = FakeClock()
    flow = FlowControl(64, clock=clock)
    sent = []
    while (started := flow.try_acquire()) is not None:
        sent.append(started)
    assert len(sent) == 10
    clock.now += 0.005
    flow.release(sent.pop(), refusal(), FailureKind.REFUSED)
    assert flow.try_acquire() is None  # the refused request's slot is not handed on
    on_wire = len(sent)
    for _ in range(400):  # every answer accepted: the pool reaches its width
        flow.release(sent.pop(), None, None)
        while (started := flow.try_acquire()) is not None:
            sent.append(started)
        clock.now += 0.001
    assert on_wire == 9
    assert len(sent) == 64


async def test_requests_waiting_in_the_opening_go_in_order_one_per_slot_freed() -> None:
    # Twenty requests wait behind the opening's ten; each answer lets exactly as many go
    # as the window has room for, first come first served, never more than the window.
    clock = FakeClock()
    flow = FlowControl(64, clock=clock)
    held = []
    while (started := flow.try_acquire()) is not None:
        held.append(started)
    waiting = [asyncio.ensure_future(flow.acquire(None)) for _ in range(20)]
    await asyncio.sleep(0)
    gone: list[int] = []
    for _ in range(8):  # eight answers: the window grows from 10 to 12
        flow.release(held.pop(), None, None)
        for _ in range(3):
            await asyncio.sleep(0)
        gone = [i for i, w in enumerate(waiting) if w.done()]
        assert flow.in_flight == len(held) + len(gone) <= 12
    assert gone == list(range(10))  # 8 freed slots, 2 more from the wider window
    for w in waiting:
        w.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)


async def test_a_request_cancelled_as_its_slot_came_hands_the_slot_on() -> None:
    # The slot a waiting request was given is not lost if the request is cancelled
    # before it runs: the next one in line gets it (else the run would shrink, or stall).
    clock = FakeClock()
    flow = FlowControl(64, clock=clock)
    held = []
    while (started := flow.try_acquire()) is not None:
        held.append(started)
    first = asyncio.ensure_future(flow.acquire(None))
    second = asyncio.ensure_future(flow.acquire(None))
    await asyncio.sleep(0)
    flow.release(held.pop(), None, None)  # one slot frees: it is the first one's
    first.cancel()  # before it could run
    await asyncio.wait_for(second, 5)  # a safety net: it goes at once
    assert first.cancelled()
    assert flow.in_flight == len(held) + 1 == 10


@pytest.mark.parametrize("shape", ["edge", "bucket-with-headers"])
def test_a_quota_of_50_per_second_is_not_burst_by_the_first_flight(shape: str) -> None:
    # A bucket of 5 at 50/s: the first flight of 64 would have 59 refused, a tenth of
    # what a 12 s run sends. The opening and its slow start keep the whole run's
    # refusals under 5 %, and it still holds the quota.
    clock = FakeClock()
    flow = FlowControl(64, clock=clock)
    limit = 50.0 if shape == "bucket-with-headers" else None
    accepted, refused = simulate(
        flow, clock, quota=50.0, burst=5, seconds=12.0, limit=limit, refuse_in=0.0005
    )
    assert refused <= 0.05 * (len(accepted) + refused)
    assert len(accepted) >= 0.9 * 50.0 * 12.0


def test_a_rate_limit_header_is_a_ceiling() -> None:
    clock = FakeClock()
    flow = FlowControl(64, clock=clock)
    started = flow.try_acquire()
    assert started is not None
    for _ in range(25):
        flow.release(started, refusal(limit=40.0), FailureKind.REFUSED)
        started = flow.try_acquire() or started
        clock.now += 0.01
    clock.now += 100.0  # long after: CUBIC would have grown far above
    rate = flow.current_rate(clock.now)
    assert rate is not None
    assert rate <= 40.0
    assert math.isfinite(rate)


def test_refusals_that_do_not_depend_on_the_rate_do_not_slow_it_to_a_crawl() -> None:
    # Two in five requests refused whatever the rate (a flaky upstream, not a quota):
    # slowing down once shows it does not help, so the rate is not cut again and again.
    clock = FakeClock()
    flow = FlowControl(64, clock=clock)
    in_flight: list[tuple[float, float]] = []
    accepted, sent = 0, 0
    end = clock.now + 12.0
    while clock.now < end:
        now = clock.now
        for answer in [f for f in in_flight if f[0] <= now]:
            in_flight.remove(answer)
            flow.release(answer[1], None, None)
            accepted += 1
        while len(in_flight) < 16 and (started := flow.try_acquire()) is not None:
            sent += 1
            if sent % 5 < 2:
                flow.release(started, refusal(), FailureKind.REFUSED)
            else:
                in_flight.append((started + 0.005, started))
        clock.now += 0.0005
    rate = flow.current_rate(clock.now)
    assert rate is not None  # it did slow down, once
    assert rate >= 100.0  # and it came back: not the 0.5/s floor
    assert accepted >= 12.0 * 50.0  # at the 0.5/s floor it would be a few


def test_a_spent_quota_holds_the_pool_and_is_probed_every_tenth_of_a_second() -> None:
    gate = Gate()
    assert gate.spent(100.0, 99.99, 1.0, refusal(1.0))
    assert gate.closed(100.0)
    assert gate.until == pytest.approx(100.0 + SPENT_PROBE)  # not the whole second
    t = 100.0 + SPENT_PROBE
    assert gate.check(t) == 0.0  # the probe goes
    assert gate.check(t) == pytest.approx(SPENT_PROBE)  # the others wait for its answer
    assert gate.refused(t + 0.005, t, 1.0, refusal(1.0))  # still spent: hold again
    assert gate.until == pytest.approx(t + 0.005 + SPENT_PROBE)
    assert not gate.confirmed
    t2 = t + 0.005 + SPENT_PROBE
    assert gate.check(t2) == 0.0
    assert gate.accepted(t2)  # the window turned: lifted
    assert not gate.closed(t2)


def test_an_item_refused_while_a_spent_window_is_held_waits_at_the_gate_not_its_second() -> None:
    # A window's whole-second Retry-After is an upper bound: the pool's probe finds the
    # turn within a tenth of a second, and the items refused meanwhile go with it (a run
    # whose last items each slept their own second would end a second late).
    clock = FakeClock()
    flow = FlowControl(64, clock=clock)
    sent = []
    while (started := flow.try_acquire()) is not None:
        sent.append(started)
    clock.now += 0.005
    for started in sent[:5]:
        flow.release(started, refusal(1.0), FailureKind.REFUSED)  # five in a row: spent
    assert flow.gate_until > 0
    assert flow.own_wait(refusal(1.0), 1.0) == 0.0


def test_a_spent_quota_is_held_once_and_a_long_retry_after_still_confirms() -> None:
    gate = Gate()
    assert gate.spent(100.0, 99.99, 1.0, refusal(1.0))
    assert not gate.spent(100.01, 100.0, 1.0, refusal(1.0))  # held already
    t = 100.0 + SPENT_PROBE
    assert gate.check(t) == 0.0
    assert gate.refused(t + 0.01, t, 60.0, refusal(60.0))  # the probe: a minute's window
    assert gate.confirmed
    assert gate.until == pytest.approx(t + 0.01 + 60.0 - WHOLE_SECOND)


async def test_the_probes_for_a_window_s_turn_do_not_move_the_rate() -> None:
    # A minute's window, confirmed: at the wait's earliest end the pool probes for the
    # turn, and the window refuses the probes until it turns. Those refusals are the
    # gate's: the run then goes on at full speed, not at the crawl forty refusals in a
    # second would read as.
    clock = FakeClock()
    flow = FlowControl(64, clock=clock)
    first = flow.try_acquire()
    assert first is not None
    clock.now += 0.005
    flow.release(first, refusal(60.0), FailureKind.REFUSED)  # the pool holds
    clock.now += PROBE_AFTER
    probe = await asyncio.wait_for(flow.acquire(None), 5)  # a safety net
    clock.now += 0.005
    flow.release(probe, refusal(60.0), FailureKind.REFUSED)  # the probe confirms it
    clock.now = flow.gate_until
    for _ in range(40):  # the window's last second: every probe refused
        probe = await asyncio.wait_for(flow.acquire(None), 5)  # a safety net
        clock.now += 0.005
        flow.release(probe, refusal(1.0), FailureKind.REFUSED)
        clock.now = max(clock.now, flow.gate_until)
    assert flow.current_rate(clock.now) is None
    probe = await asyncio.wait_for(flow.acquire(None), 5)  # a safety net
    clock.now += 0.005
    flow.release(probe, None, None)  # the window turned
    assert flow.gate_until == 0.0
    assert flow.current_rate(clock.now) is None  # nothing paces the new window's run


def test_what_was_accepted_lately_is_per_second_of_the_time_counted() -> None:
    # Read just after a bucket began, the newest second of buckets spans 0.9 s of sends:
    # 300/s must read 300/s, not a tenth less (a spent window reopened that low).
    est = AcceptedRate()
    end = edge_traffic(est, start=1024.0, seconds=3.0015, send=300.0, accept=300.0, latency=0.005)
    assert est.accepted_lately(end) == pytest.approx(300.0, rel=0.03)


def test_a_refused_probe_above_the_known_rate_returns_under_it_at_once() -> None:
    # The quota was measured at 300/s; CUBIC's plateau has passed and it probes above.
    # One refusal of a request sent up there (a window that counts refusals admits
    # nothing more while the rate stays above it) brings the rate back under 300/s at
    # once: not after a share refused, by when such a window is spent.
    ctl = RateController()
    t = 1024.0
    ctl.cubic.reduce(t, 300.0)
    end = edge_traffic(ctl.accepted, start=t, seconds=5.0, send=300.0, accept=300.0, latency=0.005)
    probing = ctl.cubic.rate(end)
    assert probing is not None
    assert probing > 300.0
    assert ctl.refused(end, end - 0.001, 1.0)
    after = ctl.cubic.rate(end)
    assert after is not None
    assert 0.9 * 300.0 <= after < 300.0
    # And the pool pauses for a few requests' time, so a full window lets some go.
    assert end < ctl.pause_until <= end + 0.05


# ------------------------------------------------------------------------ waiting at the gate


async def test_requests_held_at_the_gate_go_when_the_probe_s_answer_wakes_them() -> None:
    clock = FakeClock()
    gate = Gate()
    holding = GateWait(gate, clock, changed=lambda: None, ended=lambda: None)
    gate.refused(clock.now, clock.now - 0.01, 60.0, refusal(60.0))  # one long refusal: hold
    clock.now += PROBE_AFTER
    assert await holding.wait(None)  # the first to ask goes, as the probe
    other = asyncio.ensure_future(holding.wait(None))
    await asyncio.sleep(0)
    assert not other.done()  # the others wait for the probe's answer
    assert holding.sleeping == 1
    assert gate.accepted(clock.now)  # the probe was admitted: the hold lifts
    holding.wake()
    assert await asyncio.wait_for(other, 5) is False  # a safety net: it goes at once
    assert holding.sleeping == 0


async def test_a_confirmed_wait_fails_a_request_it_outlasts_and_ends_with_a_probe() -> None:
    clock = FakeClock()
    gate = Gate()
    ended: list[float] = []
    holding = GateWait(gate, clock, changed=lambda: None, ended=lambda: ended.append(clock.now))
    gate.refused(clock.now, clock.now - 0.01, 60.0, refusal(60.0))
    clock.now += PROBE_AFTER
    assert await holding.wait(None)
    assert gate.refused(clock.now + 0.01, clock.now, 60.0, refusal(60.0))  # confirmed
    with pytest.raises(GateClosed):
        await holding.wait(clock.now + 30.0)
    clock.now = gate.until  # its earliest end: 59 s of the 60 said
    assert await holding.wait(clock.now + 60.0)  # a probe, not the whole pool
    assert ended == [clock.now]  # the rate starts afresh


# ------------------------------------------------------------------------ a shared quota


class FleetQuota:
    """A shared quota's side that :class:`FleetPace` talks to, recording what it is told."""

    def __init__(self, rate: float | None = 100.0, hold: float = 0.0) -> None:
        self.rate = rate
        self.mode = "shared"
        self.hold = hold
        self.refusals: list[tuple[float | None, float | None]] = []
        self.limits: list[float] = []

    async def acquire(self) -> float:
        return 0.0

    def on_refusal(self, retry_after: float | None = None, *, sent_at: float | None = None) -> None:
        self.refusals.append((retry_after, sent_at))

    def on_accepted(self) -> None:
        pass

    def on_limit_header(self, limit: float) -> None:
        self.limits.append(limit)


def test_only_a_confirmed_long_retry_after_holds_the_fleet() -> None:
    quota = FleetQuota()
    fleet = FleetPace(quota, FakeClock())
    fleet.refused(1.0, 1.0, 40.0, confirmed=False)  # a quota's whole-second "1"
    fleet.refused(2.0, 60.0, None, confirmed=False)  # one long one among successes
    fleet.refused(3.0, 60.0, None, confirmed=True)
    assert quota.refusals == [(None, 1.0), (None, 2.0), (60.0, 3.0)]
    assert quota.limits == [40.0]


async def test_a_fleet_wide_wait_past_the_deadline_fails_the_request_at_once() -> None:
    clock = FakeClock()
    fleet = FleetPace(FleetQuota(hold=30.0), clock)
    with pytest.raises(GateClosed):
        await fleet.turn(clock.now + 5.0)
    assert not await fleet.turn(clock.now + 60.0)  # the hold ends first: its turn
    quota = FleetQuota(rate=None)
    quota.mode = "local"
    assert not FleetPace(quota, clock).paces  # cut off, no rate known: the local pacer
