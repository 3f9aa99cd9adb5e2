"""Pool-wide flow control for a bulk run: the parts below, composed, on one event loop.

=====================================  =============================================
signal                                 reaction
=====================================  =============================================
the run starts; then refusals in the   slow start (:mod:`._opening`): 10 on the wire,
opening (>= 3, 20 % of its answers)    wider with each answer; then the rate doubles
                                       from what it admitted until it is refused
one 500/502/504, timeout, drop, or a   that item's own jittered backoff (in ``_retry``);
sporadic 429/503                       nothing pool-wide: the pool keeps its width
a refusal (429/503, JSON or HTML),     the adaptive rate moves to the accepted rate
where more than 5 % of what was sent   (at most once per reaction interval, and per
at the current rate was refused        short ``Retry-After``)
refusals before any estimate can be    the adaptive rate engages at the header's
made: a rate-limit header, or >= 20 %  limit, or backs off from the send rate
of the last second's sends
``X-RateLimit-Limit``/``RateLimit-*``  a ceiling on the adaptive rate
``Retry-After`` >= 2 s                 the gate: hold the pool, probe; a confirmed
                                       refusal shuts it until a second before then
                                       (whole seconds), then probes; rate afresh
a refusal sent at CUBIC's ``W_max``    back under what was accepted, at once; then
or above                               it climbs more slowly
requests refused in a row, each with   the quota is spent (a window): hold the pool,
a short ``Retry-After``                probe after 0.05 s, then every 0.1 s, until it
                                       admits; pace under what it has shown it takes
=====================================  =============================================

The parts, each sans I/O with its state in plain data (as botocore splits its adaptive
mode into ``adaptive.py``, ``throttling.py`` and ``bucket.py``):

* :mod:`._opening` -- the run's opening: TCP's slow start (RFC 5681, RFC 6928's initial
  window), and the rate it hands on when its refusals show a quota;
* :mod:`._estimator` -- the server's *accepted* rate, counted by send time, never from a
  stretch with no accepted answer or shorter than the answers' latency;
* :mod:`._cubic` -- the adaptive rate: botocore's CUBIC, with ``W_max`` the accepted
  rate (not the send rate), ``beta = 0.9`` and ``C`` scaled to the rate above 50/s;
  a slow start that doubles; a header's limit is its ceiling;
* :mod:`._rate` -- the rate controller: when and how far a refusal moves that rate;
* :mod:`._pacer` -- a token bucket read at the current rate at every decision: waiting
  requests are re-planned whenever the rate moves, none booked ahead, and a late timer
  loses no turn;
* :mod:`._gate` -- a long ``Retry-After``, or a window spent: hold, probe, confirm
  (:mod:`._holding`: where requests wait for it, on the event loop);
* :mod:`._fleet` -- this process's side of a quota shared with others;
* :mod:`._window` -- a window quota found spent, and the rate it has shown it takes;
* :mod:`._budget` -- the retry budget (botocore's "standard" retry quota);
* :mod:`._slots` -- the pool's width (``concurrency``).

The user's ``max_per_second`` is a ceiling the same pacer applies: one bucket for both
rates, so a request never waits twice.

A quota shared with other processes (:meth:`FlowControl.share`, a :class:`~._shared.Quota`)
takes the pacer's place: it paces this process at the fleet's rate, which every
process's refusals, ``Retry-After`` and rate-limit headers move, so the local pacer
stands aside (but while the quota, cut off from the fleet, knows no rate at all); the
gate, the slots and the retry budget stay local. The pool opens at its full width when
the fleet's pace is known (``max_per_second``, or a rate the fleet has found), and in
slow start while it is not, so N processes learning a quota send N openings of 10, not
N pools; once the fleet has a rate, it governs. A spent window is then the fleet's
pace to meet: one process holding itself would only hand its share to the others, and
refusals that several processes' bursts line up are no proof of a window. A request
then always waits in a coroutine: there is no fast path past the quota.

Why not the others: Google SRE's client-side throttling (SRE book, "Handling Overload")
rejects locally with a probability, which turns a quota into local failures to retry;
gRPC's retry throttling only stops retries (kept, as the retry budget); Netflix's
Gradient2/Vegas adapt *concurrency* to latency, but a quota is a rate, and in front of a
gateway that refuses at once latency says nothing about it. Isolated refusals are
ignored: the engage threshold (20 % of a second's sends, at least 20 answers) is far
above what transient faults produce, and an estimate whose share accepted is above 95 %
moves nothing.

``set_testing(True)`` zeroes item backoff sleeps only (``_retry``): the pacing, the gate
and the deadline checks here run in tests exactly as in production.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

from .._retry import FailureKind
from ._budget import DEFAULT_BUDGET, RetryBudget
from ._fleet import FleetPace
from ._gate import Gate
from ._holding import GateClosed, GateWait
from ._items import ItemPolicy, check_options
from ._opening import Opening
from ._pacer import Pacer
from ._rate import RateController
from ._shared import Quota
from ._slots import Slots
from ._window import SpentWindow

__all__ = ["DEFAULT_BUDGET", "FlowControl", "GateClosed"]

#: How far ahead the intake may fill the pacer's queue, in seconds of the current rate.
LOOKAHEAD = 0.05


class FlowControl(ItemPolicy):
    """Shared by every request of one run; one event loop, not thread-safe.

    ``try_acquire()`` or ``acquire(deadline_at)`` before each request (waits for the gate,
    a slot and the pace), ``release(started, error, kind)`` after it; ``allow_retry`` and
    ``item_succeeded`` run the retry budget; ``pause(seconds)`` is an item's backoff sleep
    (it holds no slot). ``sleeping``: items asleep, in a backoff sleep or at the gate.

    The common request (nothing paced, the gate open, the opening over, no shared quota)
    and its success are recorded by ``try_acquire`` and ``release`` alone, allocating
    nothing.
    """

    def __init__(
        self,
        concurrency: int,
        *,
        max_per_second: float | None = None,
        retry_budget: int | None = DEFAULT_BUDGET,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_options(max_per_second, retry_budget)
        self.concurrency = concurrency
        self.max_per_second = max_per_second
        self.sending = 0  # requests on the wire
        self._pausing = 0  # items in a backoff sleep
        self.on_change: asyncio.Event | None = None  # set when sleepers or turns change
        self._clock = clock
        self._opening = Opening(concurrency)
        self._slots = Slots(self._opening.limit)
        self._budget = RetryBudget(retry_budget)
        self._adaptive = RateController()
        self._gate = Gate()
        self._pacer = Pacer(self._pace_rate, clock)
        self._last_throttled = -math.inf
        self._holding = GateWait(self._gate, clock, changed=self._changed, ended=self._restart_rate)
        self._fleet: FleetPace | None = None
        self._window = SpentWindow()

    def share(self, quota: Quota | None) -> None:
        """Pace by ``quota`` (shared with other processes) from now on; None: alone."""
        self._fleet = None if quota is None else FleetPace(quota, self._clock)
        if quota is not None and self._opening.open and quota.rate is not None:
            self._end_opening()  # the fleet's known pace governs from the first request
        self._pacer.replan()

    # -- state, read by progress, telemetry and the run -----------------------------------------

    @property
    def in_flight(self) -> int:
        """Slots held (a request paced or on the wire)."""
        return self._slots.held

    @property
    def budget(self) -> int | None:
        return self._budget.tokens

    @property
    def capacity(self) -> int | None:
        return self._budget.capacity

    @property
    def gate_until(self) -> float:
        """No request starts before this ``time.monotonic()`` instant (0: open)."""
        return self._gate.until

    @property
    def gate_reason(self) -> BaseException | None:
        return self._gate.reason

    @property
    def throttled(self) -> bool:
        """Whether the pool is held below its configured pace right now."""
        now = self._clock()
        return self._gate.closed(now) or now - self._last_throttled < 1.0

    @property
    def rate(self) -> float | None:
        """The adaptive rate now (with a shared quota: the rate it paces this process
        by); None until overload is seen."""
        fleet = self._fleet
        if fleet is not None and fleet.paces:
            return fleet.rate
        return self._adaptive.cubic.rate(self._clock())

    def current_rate(self, now: float) -> float | None:
        """The adaptive rate at ``now``: CUBIC growth since the last reduction."""
        return self._adaptive.cubic.rate(now)

    def backlogged(self) -> bool:
        """Whether a new item would only queue: the gate is shut and requests wait at it,
        or more requests wait for their turn than the pace serves in :data:`LOOKAHEAD`
        seconds."""
        waiting = len(self._pacer.waiters)
        if not (waiting or self._holding.waiters):
            return False  # (the common case, read without the clock)
        now = self._clock()
        if self._holding.waiters and self._gate.closed(now):
            return True
        if not waiting:
            return False
        rate = self._pace_rate(now)
        return rate is not None and waiting >= max(1.0, rate * LOOKAHEAD)

    def _pace_rate(self, now: float) -> float | None:
        fleet = self._fleet
        if fleet is not None and fleet.paces:
            return None  # the shared quota paces, at the fleet's rate
        rate = self._adaptive.cubic.rate(now)
        ceiling = self.max_per_second
        if rate is None:
            return ceiling
        return rate if ceiling is None else min(rate, ceiling)

    def _adaptive_binds(self, now: float) -> bool:
        rate = self._adaptive.cubic.rate(now)
        return rate is not None and (self.max_per_second is None or rate < self.max_per_second)

    # -- per request ----------------------------------------------------------------------------

    def try_acquire(self) -> float | None:
        """:meth:`acquire` when nothing is to wait for (no gate, a free slot, a token):
        the request's start time at once, without a coroutine; None otherwise."""
        slots = self._slots
        if slots.held < slots.limit and not slots.waiters and self._fleet is None:
            now = self._clock()
            gate = self._gate
            if gate.holding or now < gate.until:
                return None
            if (
                self.max_per_second is None and not self._adaptive.cubic.engaged
            ) or self._pacer.try_pass(now):
                slots.held += 1
                return self._on_wire(now)
        return None

    async def acquire(self, deadline_at: float | None) -> float:
        """Wait for a slot, the gate and the pace; return the request's start time.

        The gate is judged with the slot held, and again after the pace, so no request
        that queued before a hold began slips past it (but the hold's probe). The probe
        skips the local pace: it is the one request the hold lets go, and behind the
        requests queued for their turns before the hold it would find the quota's turn
        only after them (a fifth of a second at a few hundred per second)."""
        await self._slots.take()
        try:
            while True:
                probe = await self._holding.wait(deadline_at)
                fleet = self._fleet
                if fleet is not None and await fleet.turn(deadline_at):
                    self._last_throttled = self._clock()
                    self._changed()
                now = self._clock()
                if probe:
                    return self._on_wire(now)
                if not self._pacer.try_pass(now):
                    if self._adaptive_binds(now):
                        self._last_throttled = now
                    await self._pacer.turn()
                    self._changed()
                    now = self._clock()
                if not self._gate.closed(now):
                    return self._on_wire(now)
        except BaseException:
            self._slots.release()
            raise

    def _on_wire(self, now: float) -> float:
        """A request holding its slot goes on the wire at ``now`` (its start time)."""
        self.sending += 1
        if self._opening.open:
            self._opening.sent += 1
        self._adaptive.accepted.sent(now)
        return now

    def _restart_rate(self) -> None:
        """A confirmed wait has ended: the server said when to come back, and what was
        measured before it (a window since closed) says nothing of the new one."""
        self._adaptive.restart()
        self._pacer.replan()

    def release(
        self, started: float, error: BaseException | None, kind: FailureKind | None
    ) -> None:
        """Report a request's outcome (``kind`` classifies ``error``)."""
        self.sending -= 1
        gate = self._gate
        refused = kind is FailureKind.REFUSED
        # The hold's probe, refused, is the gate's business: sent one at a time while the
        # pool waits, it says nothing of the rate, nor of the opening's quota.
        probe = refused and gate.holding and started >= gate.held_at
        opening = self._opening
        fleet = self._fleet
        if opening.open and fleet is not None and fleet.rate is not None:
            self._end_opening()  # the fleet has a pace now (another process found one)
        if opening.open and not probe:
            opening.answered(refused)
            self._slots.limit = opening.limit  # before the slot is freed: it may shrink
            self._slots.release()
            self._slots.widen(opening.limit)
        else:
            self._slots.release()
        now = self._clock()
        adaptive = self._adaptive
        adaptive.answered(now)
        if error is None:
            if fleet is not None:
                fleet.accepted()
            adaptive.accepted.answered(started, now, True, False)
            self._window.accepted(started)
            if gate.holding or gate.confirmed:
                turned = gate.turned(started)
                if gate.accepted(started):
                    if self._window.held:
                        self._reopened(now, turned)
                    self._holding.wake()
            return
        if not probe:
            adaptive.accepted.answered(started, now, False, refused)
        if not refused:
            if self._gate.failed(now, started):
                self._holding.wake()
            return  # an isolated 5xx/timeout/drop is its item's business
        retry_after = getattr(error, "retry_after", None)
        if not isinstance(retry_after, (int, float)):
            retry_after = None
        limit = getattr(error, "limit", None)
        if isinstance(limit, (int, float)) and limit > 0:
            self._adaptive.cubic.cap(float(limit))
        if self._gate.refused(now, started, retry_after or 0.0, error):
            self._holding.wake()
        if self._window.refused(retry_after) and fleet is None:
            assert retry_after is not None
            if self._gate.spent(now, started, retry_after, error):
                accepted = adaptive.accepted
                self._window.spent(now, accepted.first, accepted.accepted_lately(now))
                self._holding.wake()
        if fleet is not None:
            fleet.refused(started, retry_after, limit, confirmed=gate.confirmed)
        if not probe and adaptive.refused(now, started, retry_after):
            self._pacer.replan()
            gate.pause(now, adaptive.pause_until)
        if self._opening.open and not probe:
            self._judge_opening(now)

    def _judge_opening(self, now: float) -> None:
        """A refusal in the opening (:mod:`._opening`): once its refusals show a quota,
        pace from the rate it has shown; once anything paces, the window is the pool's."""
        adaptive = self._adaptive
        rate = self._opening.verdict()
        if rate is not None and not adaptive.cubic.engaged:
            adaptive.start(now, rate)
            self._pacer.replan()
        if adaptive.cubic.engaged:
            self._end_opening()

    def _end_opening(self) -> None:
        self._opening.close()
        self._slots.widen(self.concurrency)

    def _reopened(self, now: float, turned: float) -> None:
        """A spent window admits again (most likely since ``turned``): pace under what it
        has shown it takes (see :mod:`._window`), and probe up from there as after any
        reduction."""
        ceiling = self._adaptive.cubic.ceiling
        floor = ceiling if ceiling < math.inf else 0.0
        rate = self._window.reopened(turned, self._adaptive.accepted.first, floor)
        if rate is not None:
            self._adaptive.set(now, rate, said=rate == floor)
            self._pacer.replan()
        if self._opening.open and self._adaptive.cubic.engaged:
            self._end_opening()
