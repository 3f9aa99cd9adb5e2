"""Pool-wide pacing for a bulk run: one shared reaction to "slow down".

* **AIMD concurrency**: at most ``limit`` attempts in flight. A 429/503 halves ``limit``;
  each success adds ``1/limit`` (about +1 per round trip), back up to ``concurrency``.
* **Not-before gate**: a 429/503 on any item holds back every new attempt for its
  ``Retry-After`` (1 s if it names none).
* **One reaction per window** (as TCP does): a refusal only counts if its request was
  sent after the last reaction. Answers to requests already in flight when the pool
  slowed down are old news; letting them extend the gate or halve again would collapse
  the pool on one burst.
* **Retry budget** (botocore's "standard" quota): a retry costs tokens (5, or 10 after a
  timeout); a first-try success earns 1 back and a successful retry refunds its cost. When
  the bucket is empty, retries stop and items fail fast with their last error, so a
  degraded API cannot turn 10,000 items into a retry storm.
* **Rate**: ``max_per_second`` through ``aiolimiter``'s leaky bucket.

It implements the retry loop's ``AttemptHooks``.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque

from aiolimiter import AsyncLimiter

from ._exceptions import ReadTimeout
from ._retry import FailureKind, is_testing

RETRY_COST = 5
TIMEOUT_RETRY_COST = 10
NO_RETRY_INCREMENT = 1
DEFAULT_BUDGET = 500
DEFAULT_PAUSE = 1.0  # seconds held back after a 429/503 that names no Retry-After


class Throttle:
    """Shared by every item of one run; not thread-safe (one event loop)."""

    def __init__(
        self,
        concurrency: int,
        *,
        max_per_second: float | None = None,
        retry_budget: int | None = DEFAULT_BUDGET,
    ) -> None:
        self.max_limit = float(concurrency)
        self.limit = float(concurrency)
        self.in_flight = 0
        self.not_before = 0.0
        self.budget = retry_budget
        self.capacity = retry_budget
        self.throttle_events = 0
        self._last_reaction = -math.inf
        self._limiter = AsyncLimiter(max_per_second, 1.0) if max_per_second else None
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def throttled(self) -> bool:
        """Whether the run is currently held back below its configured pace."""
        return self.limit < self.max_limit or time.monotonic() < self.not_before

    def _free_slots(self) -> int:
        return max(1, int(self.limit)) - self.in_flight

    async def before_attempt(self) -> float:
        """Wait for the gate and a slot; return the attempt's start time (its token)."""
        while True:
            pause = self.not_before - time.monotonic()
            if pause > 0 and not is_testing():
                await asyncio.sleep(pause)
                continue
            if self._free_slots() > 0:
                break
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                # Pass a wake-up we received but cannot use on to the next waiter.
                if waiter.done() and not waiter.cancelled():
                    self._wake()
                raise
        self.in_flight += 1
        if self._limiter is not None:
            try:
                await self._limiter.acquire()
            except BaseException:
                self.in_flight -= 1
                self._wake()
                raise
        return time.monotonic()

    def after_attempt(
        self, started: float, error: BaseException | None, kind: FailureKind | None
    ) -> None:
        self.in_flight -= 1
        if error is None:
            self.limit = min(self.max_limit, self.limit + 1.0 / self.limit)
        elif kind is FailureKind.REFUSED and started > self._last_reaction:
            self._slow_down(error)
        self._wake()

    def _wake(self) -> None:
        free = self._free_slots()
        while free > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1

    def _slow_down(self, error: BaseException) -> None:
        now = time.monotonic()
        retry_after = getattr(error, "retry_after", None)
        pause = float(retry_after) if isinstance(retry_after, (int, float)) else DEFAULT_PAUSE
        self.not_before = max(self.not_before, now + pause)
        self.limit = max(1.0, self.limit / 2)
        self.throttle_events += 1
        # Requests that start from now on see the slowed pool; older ones are stale.
        self._last_reaction = now

    def allow_retry(self, error: BaseException, kind: FailureKind) -> bool:
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
