"""A quota shared with other processes, as one process's flow control uses it.

The fleet's limiter (a :class:`~._shared.Quota`, injected) paces this process at the
fleet's rate, which every process's refusals, ``Retry-After`` and rate-limit headers
move; :class:`FleetPace` is this process's side of it: whether it paces now (always,
but while it is cut off from the fleet with no rate known), a request's turn in it, and
what a refusal here tells the fleet. The clock is injected.
"""

from __future__ import annotations

from collections.abc import Callable

from ._gate import POOL_WAIT_FROM
from ._holding import GateClosed
from ._shared import Quota


class FleetPace:
    __slots__ = ("_clock", "quota")

    def __init__(self, quota: Quota, clock: Callable[[], float]) -> None:
        self.quota = quota
        self._clock = clock

    @property
    def paces(self) -> bool:
        """Whether the shared quota paces this process: always, but while it is cut off
        from the fleet with no rate known (then the local pacer does, as without it)."""
        quota = self.quota
        return quota.mode == "shared" or quota.rate is not None

    @property
    def rate(self) -> float | None:
        """The rate the fleet paces this process by (None: none known)."""
        return self.quota.rate

    async def turn(self, deadline_at: float | None) -> bool:
        """Wait for this request's turn in the fleet's pace; True when it had to wait. A
        ``Retry-After`` reported anywhere in the fleet that outlasts the deadline fails
        it at once (:class:`~._holding.GateClosed`)."""
        quota = self.quota
        hold = quota.hold
        if hold > 0 and deadline_at is not None and self._clock() + hold > deadline_at:
            raise GateClosed(hold)
        return await quota.acquire() > 0

    def accepted(self) -> None:
        self.quota.on_accepted()

    def refused(
        self, started: float, retry_after: float | None, limit: object, *, confirmed: bool
    ) -> None:
        """Pass a refusal of a request sent at ``started`` on to the fleet. Its
        ``Retry-After`` holds every process only once this process's gate has
        ``confirmed`` it: a short one delays only its own item, here as without a shared
        quota (a quota's whole-second "1" after one refused request would otherwise stop
        the fleet for a second), and one long one among successes is no proof."""
        if retry_after is not None and (retry_after < POOL_WAIT_FROM or not confirmed):
            retry_after = None
        quota = self.quota
        quota.on_refusal(retry_after, sent_at=started)
        if isinstance(limit, (int, float)) and not isinstance(limit, bool) and limit > 0:
            quota.on_limit_header(float(limit))
