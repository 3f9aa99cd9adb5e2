"""What flow control does for an item, between and around its requests: its backoff
sleeps, whether a refused re-send waits in the pace or spends the retry budget, and the
budget's credit for an item that succeeded (see :mod:`._control`)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

from .._exceptions import ConfigurationError, ReadTimeout
from .._retry import FailureKind
from ._budget import RetryBudget
from ._fleet import FleetPace
from ._gate import POOL_WAIT_FROM, Gate
from ._holding import GateWait
from ._rate import RateController

__all__ = ["ItemPolicy", "check_options"]


def check_options(max_per_second: object, retry_budget: object) -> None:
    if max_per_second is not None and (
        isinstance(max_per_second, bool)
        or not isinstance(max_per_second, (int, float))
        or not (max_per_second > 0 and math.isfinite(max_per_second))
    ):
        raise ConfigurationError(f"max_per_second must be a number > 0 (got {max_per_second!r})")
    if retry_budget is not None and (
        isinstance(retry_budget, bool) or not isinstance(retry_budget, int) or retry_budget < 0
    ):
        raise ConfigurationError(
            f"retry_budget must be an integer >= 0 or None, not {retry_budget!r}"
        )


class ItemPolicy:
    """:class:`~._control.FlowControl`'s methods for items (the parts it composes)."""

    on_change: asyncio.Event | None  # set when sleepers or turns change
    _adaptive: RateController
    _budget: RetryBudget
    _clock: Callable[[], float]
    _fleet: FleetPace | None
    _gate: Gate
    _holding: GateWait
    _pausing: int

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change.set()

    @property
    def sleeping(self) -> int:
        """Items asleep: in a backoff sleep, or waiting at the gate."""
        return self._pausing + self._holding.sleeping

    async def pause(self, seconds: float) -> None:
        """An item's sleep (backoff, Retry-After): it holds no slot meanwhile."""
        self._pausing += 1
        self._changed()
        try:
            await asyncio.sleep(seconds)
        finally:
            self._pausing -= 1

    def paces(self, kind: FailureKind) -> bool:
        """Whether a retry of this kind waits for its turn in the pace instead of using up
        the call's attempts and the budget: a refusal while the adaptive rate (or a
        shared quota) paces the pool, or while the gate holds it. The pace, which every
        refusal lowers, or the gate, which lets only its probe go, already bounds what the
        run sends, so the re-send cannot feed a storm, and counting it would fail items
        for a quota's refusals that the pace is there to absorb. The call's deadline
        still bounds it."""
        if kind is not FailureKind.REFUSED:
            return False
        fleet = self._fleet
        return (
            self._adaptive.cubic.engaged
            or (fleet is not None and fleet.paces)
            or self._gate.closed(self._clock())  # only the gate's probe goes meanwhile
        )

    def allow_retry(self, error: BaseException, kind: FailureKind) -> bool:
        """Take a retry's cost from the budget; False when it is spent (a paced refusal's
        re-send costs nothing: :meth:`paces`)."""
        if self.paces(kind):
            return True
        return self._budget.spend(isinstance(error, ReadTimeout))

    def own_wait(self, error: BaseException, seconds: float) -> float:
        """An item refused while the gate holds the pool (for a long ``Retry-After``, or
        for a window found spent, whose short ``Retry-After`` is only an upper bound on
        its turn) or keeps it shut (a confirmed wait) sleeps none of it itself: its next
        attempt waits at the gate, which judges its deadline against the wait's earliest
        end (a whole-second ``Retry-After`` is rounded up) and whose probe finds the turn.
        Nor does one refused with a short ``Retry-After`` while the adaptive rate paces
        the pool: the refusal has moved the pace, and the re-send waits for its turn in
        it like every other request (sleeping its own second too would only end a run a
        second late for its last refused items)."""
        gate = self._gate
        if gate.holding or gate.confirmed:
            return 0.0
        if seconds < POOL_WAIT_FROM and self._adaptive.cubic.engaged and self._fleet is None:
            return 0.0
        return seconds

    def item_succeeded(self, retries: int) -> None:
        """Credit the budget: a clean success earns a token, a retried one refunds."""
        self._budget.succeeded(retries)
