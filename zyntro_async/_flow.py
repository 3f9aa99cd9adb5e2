"""Pool-wide flow control for a bulk run: how many requests, how fast, and when to stop.

What a server tells us, and what reacts to it:

=====================================  =============================================
signal                                 reaction
=====================================  =============================================
one 500/502/504, timeout, drop, or a   that item's own jittered backoff (in ``_retry``);
429/503 with no or zero Retry-After    nothing pool-wide: the pool keeps its width
refusals (429/503) >= 20 % of the      the adaptive rate engages or drops (below)
attempts of the last second, a 429/503
with ``Retry-After`` > 0, or
``X-RateLimit-Remaining: 0``
``Retry-After`` >= 2 s                 a pool-wide gate: no request starts before it
                                       ends; an item whose deadline ends first fails
                                       at once (``RateLimitError``), and the run stops
                                       taking input when no item could outlive it
=====================================  =============================================

**The adaptive rate: botocore's CUBIC on a measured *accepted* rate.** We follow botocore's
"adaptive" retry mode (``botocore/retries/adaptive.py``: CUBIC, C = 0.4, a client-side
token bucket that is off until the first throttle) with one change. botocore sets W_max to
the measured *send* rate; against a quota that rate includes every refused request, so
it takes several halvings to get near the quota, and with beta = 0.7 the rate then spends
seconds far below it. We set W_max to the rate the server *accepted* over the last second
(while it refuses, that is the quota) and back off to beta = 0.9 of it, so the rate starts
just under the quota and CUBIC probes back up through it (K = cbrt(W_max * 0.1 / 0.4),
about 5 s at 500/s): the run settles near the quota instead of oscillating far below it,
and a refusal ratio of a few percent -- one second's growth above the quota -- is what
probing costs. One reaction per window (as TCP does): a refusal of a request sent before
the last reduction is old news.

Why not the others (``shared/notes/flow-control-anchors.md``): Google SRE's client-side
throttling rejects locally with a probability, which turns a quota into local failures we
would then have to retry; gRPC's retry throttling only stops retries (we keep that as the
retry budget below); Netflix's Gradient2/Vegas adapt *concurrency* to latency, but a quota
is a rate, and at zero latency concurrency says nothing about it. Isolated failures are
ignored because the ratio threshold is far above what transient faults produce (SRE's
K = 2 ignores up to 50 %; we engage at 20 % so a quota without Retry-After is met early).

**Pacing** is virtual scheduling (GCRA): each request gets a send time ``1/rate`` after
the previous one, with a burst tolerance of about 20 ms of traffic. ``max_per_second`` is
a fixed ceiling on top, through ``aiolimiter`` with the same small burst
(``AsyncLimiter(burst, burst / rate)``: the limiter's burst is its ``max_rate``, so
``AsyncLimiter(500, 1)`` would let 500 through at once). The adaptive rate cannot use
aiolimiter: its rate is fixed when the limiter is built.

**Retry budget** (botocore's "standard" quota): a retry costs 5 tokens (10 after a timeout),
a first-try success earns 1, a successful retry refunds its cost; an empty bucket stops
retries, so a degraded API cannot turn 10,000 items into a retry storm.

``set_testing(True)`` zeroes item backoff sleeps only (``_retry``): the pacing, the gate
and the deadline checks here run in tests exactly as in production.

Size: over 400 lines because half of it is the design note above; the code is ~200.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque

from aiolimiter import AsyncLimiter

from ._exceptions import ConfigurationError, ReadTimeout
from ._retry import FailureKind

RETRY_COST = 5
TIMEOUT_RETRY_COST = 10
NO_RETRY_INCREMENT = 1
DEFAULT_BUDGET = 500

#: A ``Retry-After`` at least this long closes the pool-wide gate (shorter ones delay
#: only their own item and feed the adaptive rate).
POOL_WAIT_FROM = 2.0
#: The refusal ratio over the window that counts as overload, and the attempts it needs.
REFUSAL_RATIO = 0.2
MIN_SAMPLES = 20
#: Evidence is acted on only when more than this share of what we sent was refused:
#: below it refusals are sporadic (a healthy server's random 429s), and slowing down
#: would not make them go away.
SPORADIC = 0.05
#: CUBIC constants: botocore's C; our beta (see the module docstring).
CUBIC_C = 0.4
BETA = 0.9
MIN_RATE = 0.5  # requests/s: botocore's floor
EPISODE_GAP = 1.0  # seconds without evidence that end an overload episode
#: Seconds of an episode before its own accepted rate is trusted. In its first tens of
#: milliseconds an episode's requests reach a bucket that the run's unpaced opening burst
#: emptied and still competes for (requests the server has yet to take off its queue):
#: measured, 0.05 s gave estimates of half the quota (a 1,000/s run then crawled at
#: 0.5-0.7x of it: CUBIC needs ~6 s to regain a W_max that low); 0.25 s settles within
#: 5 % of it. Until then the last second's accepted rate stands in.
MIN_EPISODE = 0.25
#: Burst tolerance of the pacers, in seconds of traffic (at least one request).
BURST_SECONDS = 0.02
MAX_BURST = 10.0

_BUCKET = 0.1  # seconds per window bucket
_BUCKETS = 10  # the window: one second


class _Window:
    """Accepted and refused attempts over the last second, in 100 ms buckets."""

    __slots__ = ("_first", "_ok", "_refused", "_slot")

    def __init__(self) -> None:
        self._ok = [0] * _BUCKETS
        self._refused = [0] * _BUCKETS
        self._slot = 0
        self._first = -1.0

    def _advance(self, now: float) -> int:
        slot = int(now / _BUCKET)
        gap = slot - self._slot
        if gap:
            for i in range(1, min(gap, _BUCKETS) + 1):
                j = (self._slot + i) % _BUCKETS
                self._ok[j] = self._refused[j] = 0
            self._slot = slot
        if self._first < 0:
            self._first = now
        return slot % _BUCKETS

    def accepted(self, now: float) -> None:
        self._ok[self._advance(now)] += 1

    def refused(self, now: float) -> None:
        self._refused[self._advance(now)] += 1

    def counts(self, now: float) -> tuple[int, int]:
        self._advance(now)
        return sum(self._ok), sum(self._refused)

    def accepted_rate(self, now: float) -> float:
        ok, _ = self.counts(now)
        span = min(_BUCKET * _BUCKETS, max(_BUCKET, now - self._first))
        return ok / span


class _Pacer:
    """Virtual scheduling (GCRA) at a rate that may change at any time."""

    __slots__ = ("_tat",)

    def __init__(self) -> None:
        self._tat = 0.0  # theoretical arrival time of the next request

    def delay(self, now: float, rate: float) -> float:
        """Reserve the next send time; return how long to wait for it."""
        interval = 1.0 / rate
        tolerance = max(0.0, min(MAX_BURST, rate * BURST_SECONDS) - 1.0) * interval
        tat = max(self._tat, now)
        self._tat = tat + interval
        return max(0.0, tat - tolerance - now)


def _burst(rate: float) -> float:
    return max(1.0, min(MAX_BURST, rate * BURST_SECONDS))


class FlowControl:
    """Shared by every request of one run; one event loop, not thread-safe.

    ``acquire(deadline_at)`` before each request (waits for the gate, a slot and the pace),
    ``release(started, error, kind)`` after it; ``allow_retry`` and ``item_succeeded`` run
    the retry budget; ``pause(seconds)`` is an item's backoff sleep (it holds no slot).
    """

    def __init__(
        self,
        concurrency: int,
        *,
        max_per_second: float | None = None,
        retry_budget: int | None = DEFAULT_BUDGET,
    ) -> None:
        if max_per_second is not None and (
            isinstance(max_per_second, bool)
            or not isinstance(max_per_second, (int, float))
            or not (max_per_second > 0 and math.isfinite(max_per_second))
        ):
            raise ConfigurationError(
                f"max_per_second must be a number > 0 (got {max_per_second!r})"
            )
        if retry_budget is not None and (
            isinstance(retry_budget, bool) or not isinstance(retry_budget, int) or retry_budget < 0
        ):
            raise ConfigurationError(
                f"retry_budget must be an integer >= 0 or None, not {retry_budget!r}"
            )
        self.concurrency = concurrency
        self.in_flight = 0  # slots held (a request paced or on the wire)
        self.sending = 0  # requests on the wire
        self.sleeping = 0  # items in a backoff sleep
        self.gate_until = 0.0
        self.gate_reason: BaseException | None = None
        self.rate: float | None = None  # the adaptive rate; None until overload is seen
        self.budget = retry_budget
        self.capacity = retry_budget
        self.max_per_second = max_per_second
        self._limiter = (
            AsyncLimiter(_burst(max_per_second), _burst(max_per_second) / max_per_second)
            if max_per_second
            else None
        )
        self._window = _Window()
        self._pacer = _Pacer()
        self._w_max = 0.0
        self._k = 0.0
        self._last_reduction = -math.inf
        self._sent = 0  # requests sent, ever
        self._last_evidence = -math.inf
        self._episode_start = math.inf
        self._episode_sent = 0
        self._episode_ok = 0
        self._episode_refused = 0
        self._last_paced = -math.inf
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.on_change: asyncio.Event | None = None  # set when slots or sleepers change

    # -- state, read by progress and the run --------------------------------------------------

    @property
    def throttled(self) -> bool:
        """Whether the pool is held below its configured pace right now."""
        now = time.monotonic()
        return now < self.gate_until or now - self._last_paced < 1.0

    def current_rate(self, now: float) -> float | None:
        """The adaptive rate now: CUBIC growth since the last reduction."""
        if self.rate is None:
            return None
        t = now - self._last_reduction
        rate = CUBIC_C * (t - self._k) ** 3 + self._w_max
        return max(MIN_RATE, rate)

    # -- per request ----------------------------------------------------------------------------

    def try_acquire(self) -> float | None:
        """:meth:`acquire` when nothing is to wait for (no gate, a free slot, no pacing):
        the request's start time at once, without a coroutine; None otherwise."""
        if (
            self.rate is None
            and self._limiter is None
            and self.in_flight < self.concurrency
            and not self._waiters
        ):
            now = time.monotonic()
            if now >= self.gate_until:
                self.in_flight += 1
                return self._on_wire(now)
        return None

    async def acquire(self, deadline_at: float | None) -> float:
        """Wait for the gate, a slot and the pace; return the request's start time."""
        now = time.monotonic()
        if now < self.gate_until:
            await self._wait_gate(now, deadline_at)
        if self.in_flight >= self.concurrency or self._waiters:
            await self._wait_slot()
        self.in_flight += 1
        try:
            if self.rate is not None:
                now = time.monotonic()
                rate = self.current_rate(now)
                assert rate is not None
                delay = self._pacer.delay(now, rate)
                if delay > 0:
                    self._last_paced = now
                    await asyncio.sleep(delay)
            if self._limiter is not None:
                # The user's own ceiling: waiting for it is the configured pace, not throttling.
                await self._limiter.acquire()
        except BaseException:
            self._release_slot()
            raise
        return self._on_wire(time.monotonic())

    def _on_wire(self, now: float) -> float:
        """A request holding its slot goes on the wire at ``now`` (its start time)."""
        self.sending += 1
        self._sent += 1
        return now

    async def _wait_gate(self, now: float, deadline_at: float | None) -> None:
        while now < self.gate_until:
            if deadline_at is not None and self.gate_until > deadline_at:
                raise GateClosed(self.gate_until - now)
            await self.pause(self.gate_until - now)
            now = time.monotonic()

    async def _wait_slot(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            while True:
                await waiter
                if self.in_flight < self.concurrency:
                    return
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.appendleft(waiter)
        except BaseException:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            elif waiter.done() and not waiter.cancelled():
                self._wake()  # pass on a wake-up we cannot use
            raise

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _release_slot(self) -> None:
        self.in_flight -= 1
        if self._waiters:
            self._wake()
        if self.on_change is not None:
            self.on_change.set()

    def release(
        self, started: float, error: BaseException | None, kind: FailureKind | None
    ) -> None:
        """Report a request's outcome (``kind`` classifies ``error``)."""
        self.sending -= 1
        self._release_slot()
        now = time.monotonic()
        if error is None:
            self._window.accepted(now)
            if started >= self._episode_start:
                self._episode_ok += 1
            return
        if kind is not FailureKind.REFUSED:
            return  # an isolated 5xx/timeout/drop is its item's business
        self._window.refused(now)
        if started >= self._episode_start:
            self._episode_refused += 1
        retry_after = getattr(error, "retry_after", None)
        if isinstance(retry_after, (int, float)) and retry_after >= POOL_WAIT_FROM:
            until = now + retry_after
            if until > self.gate_until:
                self.gate_until = until
                self.gate_reason = error
        if started > self._last_reduction and self._overloaded(now, error, retry_after):
            self._reduce(now)

    def _overloaded(self, now: float, error: BaseException, retry_after: object) -> bool:
        if isinstance(retry_after, (int, float)) and retry_after > 0:
            return True
        if getattr(error, "remaining", None) == 0:
            return True
        ok, refused = self._window.counts(now)
        total = ok + refused
        return total >= MIN_SAMPLES and refused >= REFUSAL_RATIO * total

    def _estimate(self, now: float) -> tuple[float, float]:
        """What the server accepts per second, measured while it refuses.

        Within an overload episode (evidence no more than a second apart), of the requests
        *sent since it began* the server accepted a share; that share times our send rate
        is its capacity. Counting by send time keeps out the answers to requests sent
        before the episode (at a run's start, the server's burst and our pipeline), which
        would inflate a plain count of accepted answers. Until an episode has enough
        answers, the last second's accepted rate stands in. Returns (capacity, the share
        of requests accepted).
        """
        if now - self._last_evidence > EPISODE_GAP:
            self._episode_start = now
            self._episode_sent = self._sent
            self._episode_ok = self._episode_refused = 0
        self._last_evidence = now
        span = now - self._episode_start
        answered = self._episode_ok + self._episode_refused
        if span >= MIN_EPISODE and answered >= MIN_SAMPLES:
            send_rate = (self._sent - self._episode_sent) / span
            share = self._episode_ok / answered
            return send_rate * share, share
        ok, refused = self._window.counts(now)
        if ok + refused < MIN_SAMPLES:
            return 0.0, 1.0  # too few answers to tell a limit from bad luck: no reaction
        return self._window.accepted_rate(now), ok / (ok + refused)

    def _reduce(self, now: float) -> None:
        """CUBIC's multiplicative decrease, from the measured accepted rate (not compounded
        on our own rate, so repeated evidence of one overload never ratchets it down)."""
        estimate, share = self._estimate(now)
        if share >= 1 - SPORADIC:
            return  # the server took nearly all we sent: sporadic refusals, not a limit
        w_max = max(MIN_RATE, estimate)
        current = self.current_rate(now)
        if current is not None and BETA * w_max >= current:
            return  # already below what the server accepts: let CUBIC probe on
        self._w_max = w_max
        self._k = (w_max * (1 - BETA) / CUBIC_C) ** (1 / 3)
        self.rate = w_max * BETA
        self._last_reduction = now

    # -- items -----------------------------------------------------------------------------------

    async def pause(self, seconds: float) -> None:
        """An item's sleep (backoff, Retry-After, the gate): it holds no slot meanwhile."""
        self.sleeping += 1
        if self.on_change is not None:
            self.on_change.set()
        try:
            await asyncio.sleep(seconds)
        finally:
            self.sleeping -= 1

    def allow_retry(self, error: BaseException, kind: FailureKind) -> bool:
        """Take a retry's cost from the budget; False when it is spent."""
        if self.budget is None:
            return True
        cost = TIMEOUT_RETRY_COST if isinstance(error, ReadTimeout) else RETRY_COST
        if self.budget < cost:
            return False
        self.budget -= cost
        return True

    def item_succeeded(self, retries: int) -> None:
        """Credit the budget: a clean success earns a token, a retried one refunds."""
        if self.budget is None or self.capacity is None:
            return
        refund = RETRY_COST * retries if retries else NO_RETRY_INCREMENT
        self.budget = min(self.capacity, self.budget + refund)


class GateClosed(Exception):
    """Internal: the pool-wide wait ends past the request's deadline (``wait`` seconds)."""

    def __init__(self, wait: float) -> None:
        super().__init__(wait)
        self.wait = wait
