"""The adaptive rate: CUBIC around the server's measured accepted rate, sans I/O.

botocore's adaptive mode (``botocore/retries/adaptive.py``, ``cubic.py``): off until the
first throttle; then ``rate(t) = C * (t - K)**3 + W_max`` with ``K = cbrt(W_max * (1 -
beta) / C)``, ``C = 0.4``, a floor of 0.5/s. Above :data:`C_FROM` per second ``C`` scales
with ``W_max``, so the curve has the same shape relative to the rate at 300/s as at
50/s (K about 2.3 s at both), and a rate set low climbs back in seconds, not tens.
Where botocore sets ``W_max`` to the measured *send* rate (which, against a quota,
includes every refused request) and backs off to 0.7 of it, we set ``W_max`` to the
accepted rate the estimator measured and back off to ``beta = 0.9`` of it: the rate
restarts just under the quota and CUBIC's plateau holds it there before probing above. A
new estimate replaces ``W_max`` whichever way it moves, so a rate set from thin early
evidence is lifted as soon as better evidence comes in, instead of crawling back up the
cubic curve.

When refusals come but no estimate can be made (nothing was accepted over a stretch of
send time at least as long as the answers take), we do what botocore does: ``W_max`` is
the measured send rate and the rate backs off to ``FALLBACK_BETA`` of it (or to the
share of it accepted so far, if less, but not under ``FALLBACK_FLOOR``), once per
reaction interval; repeated, that backs off exponentially until something is accepted,
and CUBIC's concave growth back towards ``W_max`` is quick from far below it.

A run's opening may engage it in slow start instead (:meth:`Cubic.start`): the rate
doubles every :data:`DOUBLING` seconds from what the opening showed the quota admits,
as TCP's slow start doubles its window every round trip (RFC 5681, section 3.1) and
BBR's Startup its pacing rate, until refusals show the quota passed and a reduction
sets it (:mod:`._rate`); a rate started under the quota so reaches it within a few
rounds instead of crawling up the cubic curve.

A rate-limit header (``X-RateLimit-Limit``/``RateLimit-Limit``) is a ceiling on the rate
and on ``W_max``, paced :data:`HEADROOM` under; its window is not sent, so it is read per
second, which can only make the ceiling looser than the truth, never tighter.
"""

from __future__ import annotations

import math

import attrs

CUBIC_C = 0.4
#: Above this rate (requests/s) ``C`` grows in proportion to ``W_max``, so the curve
#: keeps its shape relative to the rate: botocore's 0.4 is sized for a few dozen per
#: second, and at hundreds it would take ten seconds to climb back from 0.7 of a rate.
C_FROM = 50.0
#: A header's limit is paced this share under: at exactly 50/s a fixed window of 50
#: meets a 51st request every few windows, from the pace's own jitter.
HEADROOM = 0.02
BETA = 0.9
FALLBACK_BETA = 0.7
FALLBACK_FLOOR = 0.2
MIN_RATE = 0.5  # requests/s: botocore's floor
#: Seconds per doubling in slow start (the estimator's bucket: one round of pacing).
DOUBLING = 0.1


@attrs.define
class Cubic:
    """The rate state: None until the first reduction engages it."""

    w_max: float = 0.0
    k: float = 0.0
    last_reduction: float = -math.inf
    engaged: bool = False
    engaged_at: float = math.inf  # the first reduction
    ceiling: float = math.inf
    doubling: bool = False  # in slow start: ``w_max`` is the rate it started from
    c: float = CUBIC_C  # the cubic's scale, for this ``w_max``

    def rate(self, now: float) -> float | None:
        """The rate now, or None while not engaged."""
        if not self.engaged:
            return None
        t = now - self.last_reduction
        if self.doubling:
            rate = self.w_max * math.pow(2.0, min(32.0, t / DOUBLING))
        else:
            rate = self.c * (t - self.k) ** 3 + self.w_max
        return min(self.ceiling * (1 - HEADROOM), max(MIN_RATE, rate))

    def reduce(self, now: float, w_max: float, beta: float = BETA, scale: float = 1.0) -> None:
        """Back off to ``beta * w_max`` and probe back up towards ``w_max`` from ``now``
        (``scale`` < 1: more slowly, and longer on the plateau, a quota known closely)."""
        w_max = min(self.ceiling, max(MIN_RATE, w_max))
        self.w_max = w_max
        self.c = CUBIC_C * max(1.0, w_max / C_FROM) * scale
        self.k = (w_max * (1 - beta) / self.c) ** (1 / 3)
        self._moved(now)

    def start(self, now: float, rate: float) -> None:
        """Slow start: pace at ``rate`` from ``now``, doubling every :data:`DOUBLING` s."""
        self.w_max = min(self.ceiling, max(MIN_RATE, rate))
        self.k = 0.0
        self._moved(now)
        self.doubling = True

    def _moved(self, now: float) -> None:
        self.last_reduction = now
        self.doubling = False
        if not self.engaged:
            self.engaged = True
            self.engaged_at = now

    def cap(self, limit: float) -> None:
        """A server-announced limit (requests per second): the rate never goes above it."""
        if limit > 0:
            self.ceiling = max(MIN_RATE, limit)
