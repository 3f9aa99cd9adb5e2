"""The rate controller, sans I/O: when and how far a refusal moves the adaptive rate.

It owns the two parts the decision reads and moves: the accepted-rate estimator
(:mod:`._estimator`) and the CUBIC rate (:mod:`._cubic`). A refusal of a request sent at
the current rate, once the answers to that rate are in (:meth:`RateController.refused`):

* with an estimate of the accepted rate, the rate moves to it -- unless the server took
  nearly all we sent (sporadic refusals), or the last reduction is still being judged,
  or an earlier reduction was shown not to help (refusals that do not depend on our
  rate, which slowing down further would only make a crawl);
* with none yet but a rate-limit header's limit, the rate starts under the limit;
* with neither, it backs off from the send rate when the refusal ratio says overload.
"""

from __future__ import annotations

import math

import attrs

from ._cubic import FALLBACK_BETA, FALLBACK_FLOOR, Cubic
from ._estimator import AcceptedRate
from ._gate import POOL_WAIT_FROM

#: The refusal ratio over the last second's sends that counts as overload, and the
#: answers it needs.
REFUSAL_RATIO = 0.2
MIN_SAMPLES = 20
#: An estimate whose accepted share is above ``1 - SPORADIC`` moves nothing: the server
#: took nearly all we sent, and slowing down would not make its stray refusals go away.
SPORADIC = 0.05
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

    def answered(self, now: float) -> None:
        """An answer came in at ``now``: judge the last reduction once it is due."""
        if now >= self.verify_at:
            self._verify(now)

    def refused(self, now: float, started: float, retry_after: float | None) -> bool:
        """A request sent at ``started`` was refused; True when the rate moved."""
        last = self.cubic.last_reduction
        wait = max(REACT_EVERY, 2 * self.accepted.latency, self.react_after)
        if started > last and now - last >= wait and self._react(now):
            # A refusal of a request sent at the current rate, whose answers are in (and,
            # after a Retry-After, once the server's window has had time to turn).
            self.react_after = min(retry_after or 0.0, POOL_WAIT_FROM)
            return True
        return False

    def set(self, now: float, rate: float) -> None:
        """Pace under ``rate``, which the server has shown it takes."""
        self.cubic.reduce(now, rate)
        self.rate_blind = False
        self.verify_at = math.inf

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

    def _ratio_says_overload(self, now: float) -> bool:
        refused, answered = self.accepted.refusal_ratio(now)
        return answered >= MIN_SAMPLES and refused >= REFUSAL_RATIO * answered

    def _react(self, now: float) -> bool:
        """Move the adaptive rate on a refusal (see the module); True when it moved."""
        accepted, cubic = self.accepted, self.cubic
        # Once paced, only what was sent paced: the unpaced opening burst is no measure.
        estimate = accepted.estimate(now, since=cubic.engaged_at)
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
            cubic.reduce(now, estimate.rate)
            self.verify_share = estimate.share
            self.verify_at = now + 2 * max(REACT_EVERY, 2 * accepted.latency)
        elif cubic.ceiling < math.inf:
            # Nothing yet to estimate from, but the server said its limit: start under it.
            cubic.reduce(now, cubic.ceiling)
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
