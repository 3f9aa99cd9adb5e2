"""The rate controller, sans I/O: when and how far a refusal moves the adaptive rate.

It owns the two parts the decision reads and moves: the accepted-rate estimator
(:mod:`._estimator`) and the CUBIC rate (:mod:`._cubic`). A refusal of a request sent at
the current rate, once the answers to that rate are in (:meth:`RateController.refused`):

* with an estimate of the accepted rate, the rate moves to it -- unless the server took
  nearly all we sent (sporadic refusals), or the last reduction is still being judged,
  or an earlier reduction was shown not to help (refusals that do not depend on our
  rate, which slowing down further would only make a crawl);
* with none yet but a rate-limit header's limit, the rate starts at the limit (paced
  a little under it, :data:`._cubic.HEADROOM`);
* with neither, it backs off from the send rate when the refusal ratio says overload.

A run's opening engages the rate in slow start (:meth:`RateController.start`, see
:mod:`._opening`). Slow start ends when the newest round of pacing (:data:`._cubic.
DOUBLING` seconds of sends, at least :data:`._estimator.MIN_ANSWERS` answers) had more
than :data:`REFUSAL_RATIO` of it refused: the rate moves to what that round had
accepted, and later estimates count only what is sent after (the slower rounds before
would read the quota low) -- if the slower rounds before it were nearly all accepted: a
server that refuses a share of requests whatever the rate (a flaky upstream, stray
refusals) is no quota passed, and the doubling goes on (unless a round is refused
three times in four: a burst that read the quota high).
"""

from __future__ import annotations

import math

import attrs

from ._cubic import BETA, DOUBLING, FALLBACK_BETA, FALLBACK_FLOOR, Cubic
from ._estimator import MIN_ANSWERS, AcceptedRate, Estimate
from ._gate import POOL_WAIT_FROM

#: The refusal ratio over the last second's sends that counts as overload, and the
#: answers it needs.
REFUSAL_RATIO = 0.2
MIN_SAMPLES = 20
#: An estimate whose accepted share is above ``1 - SPORADIC`` moves nothing: the server
#: took nearly all we sent, and slowing down would not make its stray refusals go away.
SPORADIC = 0.05
#: A slow-start round with less than this share accepted ends slow start whatever the
#: rounds before it saw (a burst that read the quota high, doubled on).
SLOW_START_FLOOR = 0.25
#: How far a refused probe above ``W_max`` backs off (of the rate it returns to).
PROBE_BETA = 0.97
#: CUBIC's scale after a refused probe: the quota is known within a few per cent, so
#: the next probe comes later and climbs past it more slowly (each costs a window that
#: counts refusals a few of its requests, and a probe that finds it spent, a hold).
PROBE_SCALE = 0.25
#: A refused probe pauses the pool for this many requests' time at ``W_max``.
PROBE_PAUSE = 1.5
#: A rate within this share of ``W_max`` is on CUBIC's plateau (or above it).
PLATEAU = 0.99
#: The least time between two reactions (more if the answers take longer): the answers
#: to what was sent at the new rate must come in before they are judged.
REACT_EVERY = 0.1


@attrs.define
class RateController:
    accepted: AcceptedRate = attrs.field(factory=AcceptedRate)
    cubic: Cubic = attrs.field(factory=Cubic)
    react_after: float = 0.0  # the Retry-After (< the gate's) of the last reaction
    # The share accepted that moved the rate last, until what was sent at the new rate
    # says whether slowing down helped (then it was a limit) or not.
    verify_share: float | None = None
    verify_at: float = math.inf
    rate_blind: bool = False  # refusals shown not to depend on our rate
    measure_from: float = -math.inf  # estimates count what was sent after this only
    pause_until: float = -math.inf  # a refused probe asks the pool to pause until then

    def answered(self, now: float) -> None:
        """An answer came in at ``now``: judge the last reduction once it is due."""
        if now >= self.verify_at:
            self._verify(now)

    def refused(self, now: float, started: float, retry_after: float | None) -> bool:
        """A request sent at ``started`` was refused; True when the rate moved."""
        last = self.cubic.last_reduction
        if self.cubic.doubling:
            return started > last and self._end_slow_start(now)
        wait = max(REACT_EVERY, 2 * self.accepted.latency, self.react_after)
        if (
            started > last
            and now - last >= wait
            and (self._probe_refused(now, started) or self._react(now))
        ):
            # A refusal of a request sent at the current rate, whose answers are in (and,
            # after a Retry-After, once the server's window has had time to turn).
            self.react_after = min(retry_after or 0.0, POOL_WAIT_FROM)
            return True
        return False

    def set(self, now: float, rate: float, *, said: bool = False) -> None:
        """Pace under ``rate``, which the server has shown it takes (at it, less the
        headroom, when the server ``said`` so in a rate-limit header; else
        :data:`PROBE_BETA` under it)."""
        self.cubic.reduce(now, rate, beta=1.0 if said else PROBE_BETA)
        self.rate_blind = False
        self.verify_at = math.inf

    def start(self, now: float, rate: float) -> None:
        """The opening ended on a refusal, having shown the quota admits ``rate``: start
        there in slow start, or under a rate-limit header's limit if one was sent."""
        if self.cubic.ceiling < math.inf:
            self.cubic.reduce(now, self.cubic.ceiling, beta=1.0)
        else:
            self.cubic.start(now, rate)

    def restart(self) -> None:
        """Forget the rate (keeping a header's ceiling): what was measured says nothing
        of the window that opens now."""
        self.cubic = Cubic(ceiling=self.cubic.ceiling)

    def _verify(self, now: float) -> None:
        """Did the last reduction help? Judged on what was sent at the new rate only."""
        after = self.accepted.estimate(now, since=self.cubic.last_reduction)
        if after is None:
            self.verify_at = now + REACT_EVERY  # not enough sent at the new rate yet
            return
        assert self.verify_share is not None
        self.rate_blind = after.share <= self.verify_share + SPORADIC
        self.verify_at = math.inf

    def _end_slow_start(self, now: float) -> bool:
        """Slow start went past the quota when its newest round was refused more than
        :data:`REFUSAL_RATIO` of the time and the slower rounds before it were nearly
        all accepted (or when most of the newest round was refused, whatever came
        before): move to what that round accepted."""
        since = self.cubic.engaged_at
        newest = self.accepted.estimate(now, since=since, span=DOUBLING)
        if newest is None or newest.share >= 1 - REFUSAL_RATIO:
            return False
        if newest.share >= SLOW_START_FLOOR:
            before = self.accepted.estimate(now, since=since)
            if before is None:
                return False
            older = before.answers - newest.answers
            if older < MIN_ANSWERS:
                return False  # no slower round to compare with yet
            older_ok = before.share * before.answers - newest.share * newest.answers
            if older_ok < (1 - 2 * SPORADIC) * older:
                return False  # refused as well at the slower rates: not our rate
        self._reduce(now, newest)
        self.measure_from = now
        return True

    def _probe_refused(self, now: float, started: float) -> bool:
        """A request sent while CUBIC probed above ``W_max`` was refused: the quota lies
        between what it took and that rate. Back to just under the larger of ``W_max`` and
        what the server accepted over the last second (no more than the refused rate), at
        once, on this one refusal: a window that counts refusals admits nothing more
        while the rate stays above it, so waiting for a share refused to show first
        costs a spent window. The pool pauses for :data:`PROBE_PAUSE` requests' time at
        that rate, so such a window, full, lets a few go before the next is sent (each
        refused request would count in it too). Refused on CUBIC's plateau (at ``W_max``, within
        :data:`PLATEAU`), ``W_max`` was read high: back to under what was accepted over
        the last second, no more than ``1 - BETA`` below ``W_max``."""
        cubic = self.cubic
        sent_at = cubic.rate(started)
        if sent_at is None or cubic.doubling or sent_at < PLATEAU * cubic.w_max:
            return False
        lately = self.accepted.accepted_lately(now)
        if sent_at > cubic.w_max:  # probing above it: the quota is W_max or more
            w_max = max(cubic.w_max, min(sent_at, lately))
        else:  # refused on the plateau: W_max read the quota high
            w_max = max(BETA * cubic.w_max, min(cubic.w_max, lately))
        cubic.reduce(now, w_max, PROBE_BETA, PROBE_SCALE)
        self.pause_until = now + PROBE_PAUSE / w_max
        self.verify_at = math.inf
        return True

    def _reduce(self, now: float, estimate: Estimate) -> None:
        self.cubic.reduce(now, estimate.rate)
        self.verify_share = estimate.share
        self.verify_at = now + 2 * max(REACT_EVERY, 2 * self.accepted.latency)

    def _ratio_says_overload(self, now: float) -> bool:
        refused, answered = self.accepted.refusal_ratio(now)
        return answered >= MIN_SAMPLES and refused >= REFUSAL_RATIO * answered

    def _react(self, now: float) -> bool:
        """Move the adaptive rate on a refusal (see the module); True when it moved."""
        accepted, cubic = self.accepted, self.cubic
        # Once paced, only what was sent paced: the unpaced opening burst is no measure.
        estimate = accepted.estimate(now, since=max(cubic.engaged_at, self.measure_from))
        if estimate is not None:
            if estimate.share >= 1 - SPORADIC:
                self.rate_blind = False
                return False  # the server took nearly all we sent: not a limit
            if self.verify_at < math.inf:
                return False  # the last reduction is still being judged
            if self.rate_blind and (
                self.verify_share is None or estimate.share >= self.verify_share - 2 * SPORADIC
            ):
                return False  # refused as often whatever our rate: slowing down is no help
            self._reduce(now, estimate)
        elif cubic.ceiling < math.inf:
            # Nothing yet to estimate from, but the server said its limit: pace at it
            # (the ceiling keeps the pace a little under).
            cubic.reduce(now, cubic.ceiling, beta=1.0)
        elif self._ratio_says_overload(now):
            # Refused, and nothing yet to estimate from: back off from what we send, to
            # the share of it accepted (botocore's 0.7 at most, a fifth at least).
            refused, answered = accepted.refusal_ratio(now, cubic.last_reduction)
            if not answered:  # nothing answered yet of what was sent at the last rate
                refused, answered = accepted.refusal_ratio(now)
            sent = accepted.send_rate(now)
            current = cubic.rate(now)
            base = sent if current is None else min(sent, current)
            share = 1 - refused / answered
            start = base * min(FALLBACK_BETA, max(FALLBACK_FLOOR, share))
            # What the server accepted over the last second is a rate it takes (a window
            # that opens with a burst, then refuses): CUBIC probes back up to it, from no
            # lower than a fifth of it.
            w_max = max(base, accepted.accepted_lately(now))
            start = max(start, FALLBACK_FLOOR * w_max)
            cubic.reduce(now, w_max, start / w_max if w_max > 0 else FALLBACK_BETA)
        else:
            return False  # a stray refusal before any estimate: no evidence of a limit
        return True
