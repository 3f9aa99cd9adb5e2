"""A window quota found spent, sans I/O: the refusals in a row that show it, and the rate
it has shown it takes when it admits again.

A bucket paced under its rate refills between two requests; a window (fixed, or sliding
and counting refused requests too) refuses everything until it turns. So
:data:`SPENT_STREAK` requests refused in a row, each with a short ``Retry-After``, say
the window is spent: the gate holds the pool and probes until it admits again
(:meth:`._gate.Gate.spent`), and the rate then starts under what the window has shown it
takes (:meth:`SpentWindow.reopened`).
"""

from __future__ import annotations

import math

import attrs

from ._estimator import MAX_SPAN
from ._gate import POOL_WAIT_FROM

#: Requests refused in a row, each with a short ``Retry-After``, that show a quota spent.
SPENT_STREAK = 5
#: The shortest cycle (opening to opening) a window's accepted rate is read from.
MIN_CYCLE = 0.2


@attrs.define
class SpentWindow:
    streak: int = 0  # requests refused since the last accepted answer
    cycle_start: float = -math.inf  # the window's last opening (-inf: the first send)
    cycle_ok: int = 0  # requests sent since then and accepted
    held: bool = False  # the pool is held for it now
    rate_before: float = 0.0  # what it accepted over the second before it was spent

    def accepted(self, started: float) -> None:
        """A request sent at ``started`` was accepted."""
        self.streak = 0
        if started >= self.cycle_start:
            self.cycle_ok += 1

    def refused(self, retry_after: float | None) -> bool:
        """A request was refused; True when the refusals so far show the quota spent."""
        self.streak += 1
        return (
            retry_after is not None
            and 0 < retry_after < POOL_WAIT_FROM
            and self.streak >= SPENT_STREAK
        )

    def spent(self, now: float, first: float, accepted_lately: float) -> None:
        """The pool is held for the window from ``now``. ``accepted_lately`` is what the
        server accepted per second of the last second's sends (``first``: the run's
        first send): what a one-second window holds, if the run was sending all that
        second (not a burst at the start, nor since the last opening)."""
        self.streak = 0
        self.held = True
        sending = now - max(self.cycle_start, first) >= MAX_SPAN
        self.rate_before = accepted_lately if sending else 0.0

    def reopened(self, now: float, first: float, floor: float = 0.0) -> float | None:
        """The window admits again: the rate to pace under, or None to keep the rate.

        After a second of sending, the larger of what it accepted over the second before
        it was spent and per second over the cycle that ends here (the cycle alone would
        ratchet down: it begins under the quota, so its average is below it). At the
        start, the cycle from the first send: a burst, then the wait. A window spent
        again within a second of opening (one that remembers what it refused) says
        nothing new: the rate stays, and the cycle runs on. ``floor`` is a limit the server
        announced (a rate-limit header): its own word beats a count taken at the opening
        (a bucket's burst refilled over the hold says little of its rate)."""
        self.held = False
        start = max(self.cycle_start, first)
        cycle = self.cycle_ok / (now - start) if now - start >= MIN_CYCLE else 0.0
        if self.rate_before:
            rate = max(cycle, self.rate_before)
        elif self.cycle_start == -math.inf:
            rate = cycle  # the first opening
        else:
            return None
        self.cycle_start = now
        self.cycle_ok = 0
        return max(rate, floor) if rate > 0 else None
