"""Pacing: a token bucket whose rate is read at every decision, and a queue of waiters.

:class:`Pace` is the arithmetic, sans I/O: tokens refill at the rate *current at the
moment of asking*, up to a small burst, and a request needs one. Nothing is booked
ahead: a request waiting for its turn asks again whenever it is woken, so when the rate
moves (a reduction, a new estimate lifting it, CUBIC's growth), everything still waiting
is re-planned at the new rate -- unlike virtual scheduling (GCRA), which hands each
request a send time when it arrives and keeps it however the rate changes after.

:class:`Pacer` queues the waiting requests in arrival order; only the head has a timer,
set for when the bucket will hold its token at the current rate; :meth:`Pacer.replan`
re-arms it when the rate changes. A timer that fires late hands its token out as of the
instant it was set for (a theoretical arrival time, as GCRA keeps one): at a few dozen
requests per second the event loop's lateness (a millisecond or two a turn) would
otherwise be lost to the small burst's cap at every turn and pace several per cent
under the rate.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Callable

import attrs

#: Burst tolerance, in seconds of traffic (at least one request, at most ``MAX_BURST``).
BURST_SECONDS = 0.02
MAX_BURST = 20.0
#: Rounding slack: a token short by less than this is a whole token.
_EPSILON = 1e-9


def burst(rate: float) -> float:
    """Requests that may go back to back at ``rate`` after a pause."""
    return max(1.0, min(MAX_BURST, rate * BURST_SECONDS))


@attrs.define
class Pace:
    """A token bucket refilled at whatever rate is current when it is asked."""

    tokens: float = 1.0
    at: float = -math.inf

    def wait(self, now: float, rate: float) -> float:
        """Seconds until a request may go at ``rate`` (0: now). Takes nothing."""
        self._refill(now, rate)
        return 0.0 if self.tokens >= 1.0 - _EPSILON else (1.0 - self.tokens) / rate

    def take(self, now: float, rate: float) -> bool:
        """Take a token if there is one now."""
        self._refill(now, rate)
        if self.tokens < 1.0 - _EPSILON:
            return False
        self.tokens -= 1.0
        return True

    def _refill(self, now: float, rate: float) -> None:
        if now > self.at:
            full = burst(rate)
            if self.at == -math.inf:
                self.tokens = max(self.tokens, 1.0)
            else:
                self.tokens = min(full, self.tokens + (now - self.at) * rate)
            self.at = now


class Pacer:
    """Requests wait here, in order, for the rate ``rate_at(now)`` (None: no pacing)."""

    __slots__ = (
        "_clock",
        "_due",
        "_handle",
        "_loop",
        "_pace",
        "_rate_at",
        "last_paced",
        "waiters",
    )

    def __init__(
        self, rate_at: Callable[[float], float | None], clock: Callable[[], float]
    ) -> None:
        self._rate_at = rate_at
        self._clock = clock
        self._pace = Pace()
        self.waiters: deque[asyncio.Future[None]] = deque()  # in arrival order
        self._handle: asyncio.TimerHandle | None = None
        self._due = math.inf  # when the head's timer was set to fire
        self._loop: asyncio.AbstractEventLoop | None = None
        self.last_paced = -math.inf  # when a request last had to wait

    def try_pass(self, now: float) -> bool:
        """Go at once if nobody waits and a token is there (or there is no pacing)."""
        if self.waiters:
            return False
        rate = self._rate_at(now)
        return rate is None or self._pace.take(now, rate)

    async def turn(self) -> None:
        """Wait for this request's turn."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        waiter = loop.create_future()
        self.waiters.append(waiter)
        self.last_paced = self._clock()
        if len(self.waiters) == 1:
            self._tick()
        try:
            await waiter
        except BaseException:
            if waiter in self.waiters:
                head = self.waiters[0] is waiter
                self.waiters.remove(waiter)
                if head:
                    self._tick()
            raise

    def replan(self) -> None:
        """The rate changed: the head asks again now."""
        if self.waiters:
            self._due = math.inf
            self._tick()

    def _tick(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        due, self._due = self._due, math.inf
        waiters = self.waiters
        while waiters:
            head = waiters[0]
            if head.done():  # cancelled, and its cancellation not yet delivered
                waiters.popleft()
                continue
            now = self._clock()
            rate = self._rate_at(now)
            # The first take of a timer that fired late counts from when it was due.
            at = due if due < now else now
            due = math.inf
            if rate is None or self._pace.take(at, rate):
                waiters.popleft()
                head.set_result(None)
                continue
            delay = self._pace.wait(now, rate)
            assert self._loop is not None
            self._due = now + delay
            self._handle = self._loop.call_later(delay, self._tick)
            return
