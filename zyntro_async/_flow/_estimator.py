"""What the server accepts per second, measured by *send* time, sans I/O.

Requests are counted in the 100 ms bucket of the instant they were sent; their answers
(accepted, refused, or anything else) go to that same bucket. The accepted rate is the
send rate over a stretch of buckets times the share of their answers that were accepted.

Counting by send time is what keeps the estimate honest in front of a gateway that
refuses at the edge: a refusal comes back in well under a millisecond while an accepted
answer takes the backend's latency, so a window counted by *answer* time opens with
refusals alone and reads "the server accepts nothing". Here the newest buckets, whose
accepted answers may still be on their way, are left out until they are fully answered
or older than twice the accepted answers' latency; and no estimate is made from a
stretch that holds no accepted answer or is shorter than that latency.
"""

from __future__ import annotations

import math

import attrs

BUCKET = 0.1  # seconds of send time per bucket
_PER_SECOND = 1 / BUCKET  # buckets per second (a multiplication is cheaper than ``//``)
HISTORY = 64  # buckets kept: 6.4 s of send time
#: The shortest stretch of send time an estimate is made from, and the longest used.
MIN_SPAN = 0.1
MAX_SPAN = 1.0
#: The fewest answers an estimate is made from: at low rates the stretch grows (as far
#: as the history goes) until it holds this many, so a few lucky answers move nothing.
MIN_ANSWERS = 10
#: Weight of a new accepted answer's latency in the running average.
LATENCY_WEIGHT = 0.2


@attrs.frozen
class Estimate:
    """The server's accepted rate over ``span`` seconds of send time, and the share of
    answered requests it accepted."""

    rate: float
    share: float
    span: float
    answers: int = 0  # accepted and refused answers it counts


def _zeros() -> list[int]:
    return [0] * HISTORY


@attrs.define
class AcceptedRate:
    """Counts by send time in a ring of :data:`HISTORY` buckets of :data:`BUCKET` s."""

    n_sent: list[int] = attrs.field(factory=_zeros)
    n_answered: list[int] = attrs.field(factory=_zeros)
    n_ok: list[int] = attrs.field(factory=_zeros)
    n_refused: list[int] = attrs.field(factory=_zeros)
    slot: int = 0  # the newest bucket's absolute index
    first: float = math.inf  # the first send
    latency: float = 0.0  # running average of accepted answers' latency (0: none yet)

    def _advance(self, now: float) -> int:
        """Move the ring to ``now``'s bucket (clearing the ones it passes); its slot."""
        slot = int(now * _PER_SECOND)
        if slot > self.slot:
            for i in range(1, min(slot - self.slot, HISTORY) + 1):
                j = (self.slot + i) % HISTORY
                self.n_sent[j] = self.n_answered[j] = self.n_ok[j] = self.n_refused[j] = 0
            self.slot = slot
        return slot

    def sent(self, now: float) -> None:
        """A request went on the wire at ``now``."""
        slot = self._advance(now) if now * _PER_SECOND >= self.slot + 1 else self.slot
        if now < self.first:
            self.first = now
        self.n_sent[slot % HISTORY] += 1

    def answered(self, started: float, now: float, accepted: bool, refused: bool) -> None:
        """The request sent at ``started`` ended at ``now``: accepted, refused (a quota's
        429/503), or neither (any other failure).

        The ring is not moved to ``now`` here: an answer counts in the bucket its request
        was sent in, which the ring holds for as long as it is among the newest
        :data:`HISTORY` buckets it has moved to (every reading moves it first)."""
        if accepted:
            latency = now - started if now > started else 0.0
            if self.latency:
                self.latency += LATENCY_WEIGHT * (latency - self.latency)
            else:
                self.latency = latency
        slot = int(started * _PER_SECOND)
        newest = self.slot
        if slot > newest or newest - slot >= HISTORY:
            return  # not sent through this ring, or before its history: not counted
        i = slot % HISTORY
        self.n_answered[i] += 1
        if accepted:
            self.n_ok[i] += 1
        elif refused:
            self.n_refused[i] += 1

    def refusal_ratio(self, now: float, since: float = -math.inf) -> tuple[int, int]:
        """``(refused, answered)`` among requests sent in the last second (and in
        buckets wholly after ``since``)."""
        self._advance(now)
        refused = answered = 0
        for back in range(round(MAX_SPAN / BUCKET)):
            if (self.slot - back) * BUCKET <= since:
                break
            j = (self.slot - back) % HISTORY
            refused += self.n_refused[j]
            answered += self.n_ok[j] + self.n_refused[j]
        return refused, answered

    def send_rate(self, now: float) -> float:
        """Requests sent per second over the last second (or since the first send)."""
        return self._per_second(self.n_sent, now)

    def accepted_lately(self, now: float) -> float:
        """Requests sent in the last second and accepted so far, per second: what the
        server has shown it takes, whatever its window."""
        return self._per_second(self.n_ok, now)

    def _per_second(self, counts: list[int], now: float) -> float:
        """``counts`` over the newest buckets that span :data:`MAX_SPAN` (the newest one
        in part: it ends at ``now``), per second of the time they cover."""
        self._advance(now)
        buckets = round(MAX_SPAN / BUCKET)
        n = sum(counts[(self.slot - back) % HISTORY] for back in range(buckets))
        covered = now - max((self.slot - buckets + 1) * BUCKET, self.first)
        return n / max(BUCKET, covered)

    def estimate(
        self, now: float, since: float = -math.inf, span: float = MAX_SPAN
    ) -> Estimate | None:
        """The accepted rate from requests sent after ``since`` (the newest ``span``
        seconds of them that hold :data:`MIN_ANSWERS` answers), or None while the
        evidence cannot tell it (see the module)."""
        self._advance(now)
        if not self.latency:
            return None  # no accepted answer yet
        settle = 2 * self.latency
        need = max(MIN_SPAN, self.latency)
        longest = max(need, span)
        sent = ok = refused = 0
        covered = 0.0
        settled = False
        for back in range(HISTORY):
            slot = self.slot - back
            start = slot * BUCKET
            end = min(start + BUCKET, now)
            if end <= self.first or start <= since:
                break  # before the first send, or (in part) before ``since``
            j = slot % HISTORY
            if not settled:
                if now - end < settle and not 0 < self.n_sent[j] <= self.n_answered[j]:
                    continue  # answers may still be on their way
                settled = True
            sent += self.n_sent[j]
            ok += self.n_ok[j]
            refused += self.n_refused[j]
            covered += end - max(start, self.first)
            if covered >= longest and ok + refused >= MIN_ANSWERS:
                break
        if covered < need or ok == 0 or ok + refused < MIN_ANSWERS:
            return None
        share = ok / (ok + refused)
        return Estimate(
            rate=sent / covered * share, share=share, span=covered, answers=ok + refused
        )
