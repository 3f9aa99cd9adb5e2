"""The shared quota's client-side arithmetic, sans I/O: the namespace, the fleet's rate
curve, a booked batch spent locally, and the fallback limiter used while Redis is away.

Every time here is the process's own ``time.monotonic()``; the only times that cross to
Redis are durations Redis measured itself (a wait, an age), so a client clock's offset
changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import math

import attrs

#: The constants the Lua script uses too (``_fleet.lua``); keep them equal.
MIN_RATE = 0.5
CUBIC_C = 0.4
#: Above this rate (requests/s) ``C`` grows in proportion to ``w_max``, as in the flow
#: control's curve: the same shape relative to the rate at 300/s as at 50/s.
C_FROM = 50.0
BETA = 0.9
FALLBACK_BETA = 0.7
#: Slow start: seconds per doubling of the fleet's rate.
DOUBLING = 0.2
#: The least time between two cuts of the fallback's rate.
LOCAL_REACT = 1.0

#: A fixed context for the namespace's HMAC: the same key always maps to the same
#: namespace, and the namespace says nothing about the key.
_CONTEXT = b"zyntro-async shared quota namespace v1"
_NAMESPACE_HEX = 32  # 128 bits of the HMAC: collisions between keys are out of reach


def namespace(api_key: str) -> str:
    """The Redis key prefix for ``api_key``'s quota; the key itself is never stored."""
    digest = hmac.new(_CONTEXT, api_key.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"zyntro:quota:{digest[:_NAMESPACE_HEX]}"


def cubic_rate(w_max: float, age: float, doubling: bool = False) -> float:
    """The fleet's rate ``age`` seconds after its cut point (``_fleet.lua``'s formula):
    CUBIC, ``C * (age - K)**3 + w_max`` with ``K = cbrt(w_max * (1 - BETA) / C)`` and
    ``C = CUBIC_C * max(1, w_max / C_FROM)``; in slow start (``doubling``), ``w_max``
    doubled every :data:`DOUBLING` seconds."""
    if doubling:
        return max(MIN_RATE, w_max * math.pow(2.0, min(32.0, max(0.0, age) / DOUBLING)))
    c = CUBIC_C * max(1.0, w_max / C_FROM)
    k: float = (w_max * (1 - BETA) / c) ** (1 / 3)
    return max(MIN_RATE, c * (age - k) ** 3 + w_max)


@attrs.define
class FleetView:
    """What the last call to Redis said, pinned to this process's clock."""

    at: float  # the local time of the answer
    rate: float  # the fleet's rate then (0: nothing limits it)
    episode: int
    not_before: float  # local time before which no request may start
    w_max: float  # 0: no cut yet
    cut_at: float  # local time of the curve's origin
    limit: float  # 0: no header seen
    live: int
    ceiling: float  # the fleet's max_per_second (0: none)
    doubling: bool = False  # in slow start: w_max is the rate it started from

    def rate_at(self, now: float) -> float | None:
        """The fleet's rate at local time ``now`` (None: nothing limits it)."""
        age = now - self.cut_at
        rate = cubic_rate(self.w_max, age, self.doubling) if self.w_max > 0 else math.inf
        for cap in (self.ceiling, self.limit):
            if cap > 0:
                rate = min(rate, cap)
        return None if math.isinf(rate) else rate


@attrs.define
class Batch:
    """Tokens booked on the fleet's timeline: token ``i`` is due at ``start + i / rate``.

    ``start`` may be before ``issued`` (the fleet's idle credit): those tokens are due
    on arrival. A token is never spent before it is due; tokens not spent by ``grace``
    seconds after the batch's slice of the timeline ends (or it arrived, if later) lapse,
    so a process late to spend its batch puts at most one batch into a short stretch.
    ``rate`` None: a free pass, ``count`` tokens until ``until``.
    """

    issued: float
    start: float
    rate: float | None
    count: int
    until: float
    grace: float
    taken: int = 0

    def take(self, now: float) -> float | None:
        """The next token's due time (maybe in the past: go now); None when spent."""
        if self.rate is None:
            if now >= self.until or self.taken >= self.count:
                return None
            self.taken += 1
            return max(now, self.start)
        if self.taken >= self.count:
            return None
        if now > max(self.start + self.count / self.rate, self.issued) + self.grace:
            self.taken = self.count
            return None
        due = self.start + self.taken / self.rate
        self.taken += 1
        return due


@attrs.define
class LocalLimiter:
    """The fallback: a GCRA on this process's clock at its share of the fleet's rate.

    ``rate`` None: nothing known limits the fleet, so nothing is shared out (the
    process's own flow control still paces it). A refusal of a request sent at least
    :data:`LOCAL_REACT` after the last local cut backs off to ``FALLBACK_BETA`` of the rate.
    """

    rate: float | None
    burst: float
    not_before: float = 0.0
    tat: float = -math.inf
    cut_at: float = -math.inf

    def due(self, now: float) -> float:
        """Book the next request; return when it may start."""
        start = max(now, self.not_before)
        if self.rate is None:
            return start
        start = max(start, self.tat - self.burst)
        self.tat = max(start, self.tat) + 1 / self.rate
        return start

    def refused(self, now: float, sent_at: float | None, retry_after: float | None) -> None:
        if retry_after is not None and retry_after > 0:
            self.not_before = max(self.not_before, now + retry_after)
        # Once per LOCAL_REACT at most: the answers to what was sent at the new rate must
        # come in first, or a burst of refusals in one round trip cuts it to a crawl.
        if self.rate is not None and (sent_at is None or sent_at >= self.cut_at + LOCAL_REACT):
            self.rate = max(MIN_RATE, self.rate * FALLBACK_BETA)
            self.cut_at = now

    def cap(self, limit: float, share: int) -> None:
        rate = max(MIN_RATE, limit / max(1, share))
        self.rate = rate if self.rate is None else min(self.rate, rate)
