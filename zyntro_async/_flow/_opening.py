"""The opening of a run, sans I/O: slow start, before anything says whether a quota binds.

A pool of 64 that sends its first flight at once meets a quota of 50/s with 64
requests inside a millisecond: a token bucket or nginx's ``limit_req`` with a burst of a
few admits those few and refuses the rest, a tenth of the run's requests at that rate.
So the pool opens as TCP does (RFC 5681, section 3.1, slow start; RFC 6928's initial
window of 10): :data:`INITIAL_WINDOW` requests on the wire, and each answer that is not a
refusal widens the window by :data:`GROWTH` (TCP's 1 doubles it every round trip; a
quarter of that, 1.25 times per round trip, has fewer requests on the wire past a window
quota's allowance when its first refusal comes back)
until it reaches the pool's width; each refusal takes its slot with it, so the opening
never has more on the wire than its admitted answers allow. Once the window is the
pool's width the opening is over and changes nothing: a run with no quota pays a few
round trips.

When the opening's refusals show a quota (:data:`MIN_REFUSALS`, and
:data:`REFUSAL_RATIO` of its answers: a stray refusal is no evidence), the opening
ends, and pacing starts from the rate it has shown the quota admits: its requests not
refused so far (answered, or still on their way: an edge that refuses at once answers
its refusals before the admitted requests' answers come back) per second. That reads a
burst as one second of the quota's rate, as gateways commonly size it (nginx's
``burst``, a token bucket's capacity, a 1 s window's allowance), so the start is near
or under the rate; from there the rate doubles every round of pacing
(:meth:`._cubic.Cubic.start`, BBR's Startup in rate terms) until a round is refused
while the slower ones were not, and the accepted-rate estimate of that round sets it
(:mod:`._rate`). A rate-limit header's limit, when a refusal carries one, is the start
instead.

Google SRE's client-side throttling (SRE book, "Handling Overload") would instead
refuse locally in proportion to the refusals seen; here nothing is refused locally, the
requests wait for the window or the pace.
"""

from __future__ import annotations

import attrs

#: Requests on the wire before the first answer (RFC 6928's initial window).
INITIAL_WINDOW = 10
#: How far each answer that is not a refusal widens the window (1: doubling per round
#: trip, as TCP; less, a gentler climb that sends less past a quota's first window).
GROWTH = 0.25
#: The opening's admitted requests are read as this many seconds of the quota's rate.
BURST_SECONDS = 1.0
#: The share of the opening's answers refused that shows a quota, and the fewest
#: refusals that do: a stray refusal or two is no evidence of one.
REFUSAL_RATIO = 0.2
MIN_REFUSALS = 3


@attrs.define
class Opening:
    """The slow-start window of a pool ``width`` wide (open while it binds)."""

    width: int
    window: float = INITIAL_WINDOW
    open: bool = attrs.field(init=False)
    sent: int = 0  # requests sent while open
    answered_n: int = 0  # answers to them
    refused: int = 0  # of which refusals

    def __attrs_post_init__(self) -> None:
        self.open = self.width > self.window

    @property
    def limit(self) -> int:
        """Requests that may be on the wire now."""
        return min(self.width, int(self.window)) if self.open else self.width

    def answered(self, refused: bool) -> None:
        """An answer to a request came in: one that is not a refusal lets one more go
        (the window grows), a refusal takes its slot with it (the window shrinks), so the
        opening never sends more than its admitted answers allow."""
        if not self.open:
            return
        self.answered_n += 1
        if refused:
            self.refused += 1
            self.window = max(1, self.window - 1)
            return
        self.window += GROWTH
        if self.window >= self.width:
            self.open = False

    def verdict(self) -> float | None:
        """When the opening's refusals show a quota (at least :data:`MIN_REFUSALS`, and
        :data:`REFUSAL_RATIO` of its answers), the opening ends: the rate (per second) the
        quota has shown it admits; None otherwise."""
        if not self.open:
            return None
        if self.refused < MIN_REFUSALS or self.refused < REFUSAL_RATIO * self.answered_n:
            return None
        self.open = False
        return max(1, self.sent - self.refused) / BURST_SECONDS

    def close(self) -> None:
        """End the opening (the rate paces the pool from now on)."""
        self.open = False
