"""The sandbox's per-key quota (``Faults.quota_rps`` > 0), in the shapes gateways enforce.

Each shape is a limiter per API key (the ``api_key`` the body presents, valid or not;
one limiter for both endpoints), sans I/O with an injectable clock: ``take(key)`` at each
request's arrival, before the fault dice and before any state change, returns a
:class:`QuotaDecision`. A refused add stores nothing.

``token_bucket`` (:class:`Quota`, what API gateways run)
    Refills ``rate`` tokens per second up to ``burst`` (default: 10 % of ``rate``, at
    least 1) and starts full; a request that finds a whole token takes it, otherwise it
    is refused. Refusals take nothing.
``leaky_bucket`` (:class:`LeakyBucket`, nginx's ``limit_req ... nodelay``)
    nginx's ``excess`` arithmetic (``ngx_http_limit_req_module``): a request raises the
    key's excess by one and the excess drains at ``rate`` per second; a request that
    would take it above ``burst`` is refused and leaves it unchanged. ``burst`` is
    nginx's (``burst=30``: 31 requests at once, then ``rate`` per second; 0 allowed).
``sliding_window`` (:class:`SlidingWindow`)
    At most ``rate * window`` requests in any ``window`` seconds, counting every request
    that arrived, refused ones included: a client that keeps knocking stays refused.
``fixed_window`` (:class:`FixedWindow`, the ``limits`` package's fixed window)
    A window opens at a key's first request and lasts ``window`` seconds; it admits
    ``rate * window`` requests (every request counts, as ``limits``' counter increments
    on each hit); refusals are told to come back when the window ends.

The decision carries the values of the headers such limiters send: ``Retry-After`` (whole
seconds, rounded up, at least 1: gateways send no fractions) on a refusal, and
``X-RateLimit-Limit`` (the rate per second, or the window's allowance for the windows),
``X-RateLimit-Remaining`` (requests still admitted now) and ``X-RateLimit-Reset`` (whole
seconds until one more request would be admitted; 0 while one is left). Which of them an
answer carries is the injector's business (``Faults.quota_headers``).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from typing import Final, Protocol

import attrs

#: The quota shapes, by their ``Faults.quota_shape`` name.
QUOTA_SHAPES: Final[tuple[str, ...]] = (
    "token_bucket",
    "leaky_bucket",
    "sliding_window",
    "fixed_window",
)


@attrs.frozen
class QuotaDecision:
    """What the quota said about one request, and the headers that say so."""

    admitted: bool
    #: The quota, as the integer ``X-RateLimit-Limit`` sends.
    limit: int
    #: Requests still admitted now, after this one (0 on a refusal).
    remaining: int
    #: Whole seconds (rounded up) until one more request would be admitted; 0 while one is.
    reset: int
    #: The ``Retry-After`` of a refusal (``reset``, at least 1); None when admitted.
    retry_after: int | None

    @property
    def headers(self) -> dict[str, str]:
        """``X-RateLimit-Limit/-Remaining/-Reset``, plus ``Retry-After`` on a refusal."""
        out = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }
        if self.retry_after is not None:
            out["Retry-After"] = str(self.retry_after)
        return out


class Limiter(Protocol):
    """A per-key quota: admit or refuse one request presented with ``key``."""

    def take(self, key: str) -> QuotaDecision: ...


def _decision(admitted: bool, limit: int, remaining: int, wait: float) -> QuotaDecision:
    reset = max(0, math.ceil(wait)) if remaining <= 0 or not admitted else 0
    return QuotaDecision(
        admitted=admitted,
        limit=limit,
        remaining=remaining if admitted else 0,
        reset=reset,
        retry_after=None if admitted else max(1, reset),
    )


def _check_rate(rate: float) -> None:
    if not 0.0 < rate < math.inf:
        raise ValueError(f"rate must be a finite number > 0, got {rate!r}")


class Quota:
    """Token buckets per key, sans I/O: ``take(key)`` at each request's arrival.

    Each key's bucket starts full (``burst`` tokens) and refills ``rate`` tokens per
    second of ``clock()`` up to ``burst``; a request is admitted if it finds a whole
    token, which it takes. ``clock`` defaults to :func:`time.monotonic`.
    """

    def __init__(
        self, rate: float, burst: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        _check_rate(rate)
        if not 1.0 <= burst < math.inf:
            raise ValueError(f"burst must be a finite number >= 1, got {burst!r}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._limit = max(1, round(rate))
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def tokens(self, key: str) -> float:
        """Tokens ``key``'s bucket holds now (``burst`` for a key never seen)."""
        tokens, at = self._buckets.get(key, (self.burst, None))
        if at is None:
            return tokens
        return min(self.burst, tokens + (self._clock() - at) * self.rate)

    def take(self, key: str) -> QuotaDecision:
        """Admit (and take a token) or refuse one request presented with ``key``."""
        now = self._clock()
        tokens = self.tokens(key)
        admitted = tokens >= 1.0
        if admitted:
            tokens -= 1.0
        self._buckets[key] = (tokens, now)
        return _decision(admitted, self._limit, int(tokens), (1.0 - tokens) / self.rate)


class LeakyBucket:
    """nginx ``limit_req`` with ``nodelay``, per key, sans I/O.

    For a request at ``now`` the key's new excess is ``max(0, excess - rate * elapsed +
    1)``; above ``burst`` the request is refused and the excess stays; otherwise it is
    admitted and the excess kept. A key never seen is admitted with excess 0.
    """

    def __init__(
        self, rate: float, burst: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        _check_rate(rate)
        if not 0.0 <= burst < math.inf:
            raise ValueError(f"burst must be a finite number >= 0, got {burst!r}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._limit = max(1, round(rate))
        self._excess: dict[str, tuple[float, float]] = {}  # key -> (excess, at)

    def take(self, key: str) -> QuotaDecision:
        """Admit or refuse one request presented with ``key``."""
        now = self._clock()
        previous, at = self._excess.get(key, (-1.0, now))
        excess = max(0.0, previous - self.rate * (now - at) + 1.0)
        admitted = excess <= self.burst
        if admitted:
            self._excess[key] = (excess, now)
        # Requests admitted now: while excess + n <= burst.
        room = int(self.burst - excess) if admitted else 0
        # Seconds until one more request would fit: the excess must drain below burst.
        wait = (excess + (1.0 if admitted else 0.0) - self.burst) / self.rate
        return _decision(admitted, self._limit, room, wait)


class SlidingWindow:
    """At most ``limit`` requests per ``window`` seconds per key, refusals counted.

    Keeps each key's newest ``limit`` arrival times (refused requests included); a
    request is admitted when fewer than ``limit`` of them fall in the last ``window``
    seconds.
    """

    def __init__(
        self, limit: int, window: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit!r}")
        if not 0.0 < window < math.inf:
            raise ValueError(f"window must be a finite number > 0, got {window!r}")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._arrivals: dict[str, deque[float]] = {}

    def take(self, key: str) -> QuotaDecision:
        """Admit or refuse one request presented with ``key``; either way it counts."""
        now = self._clock()
        arrivals = self._arrivals.get(key)
        if arrivals is None:
            arrivals = self._arrivals[key] = deque(maxlen=self.limit)
        while arrivals and arrivals[0] <= now - self.window:
            arrivals.popleft()
        admitted = len(arrivals) < self.limit
        arrivals.append(now)
        remaining = self.limit - len(arrivals)
        # One more fits when the oldest counted arrival leaves the window.
        wait = arrivals[0] + self.window - now
        return _decision(admitted, self.limit, remaining, wait)


class FixedWindow:
    """``limit`` requests per ``window`` seconds per key, windows opened by a first request.

    Every request counts toward its window, refused or not (``limits``' fixed window
    increments its counter on each hit); a refusal's ``Retry-After`` is the window's end.
    """

    def __init__(
        self, limit: int, window: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit!r}")
        if not 0.0 < window < math.inf:
            raise ValueError(f"window must be a finite number > 0, got {window!r}")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}  # key -> (opened at, hits)

    def take(self, key: str) -> QuotaDecision:
        """Admit or refuse one request presented with ``key``; either way it counts."""
        now = self._clock()
        opened, hits = self._windows.get(key, (now, 0))
        if now >= opened + self.window:
            opened, hits = now, 0
        hits += 1
        self._windows[key] = (opened, hits)
        admitted = hits <= self.limit
        return _decision(admitted, self.limit, self.limit - hits, opened + self.window - now)


def limiter(
    shape: str,
    rate: float,
    burst: float,
    window: float,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> Limiter:
    """The limiter of ``shape`` (one of :data:`QUOTA_SHAPES`) for ``rate`` per second.

    ``burst`` is the token bucket's capacity or nginx's ``burst``; the windows admit
    ``rate * window`` requests (rounded, at least 1) per ``window`` seconds.
    """
    if shape == "token_bucket":
        return Quota(rate, burst, clock=clock)
    if shape == "leaky_bucket":
        return LeakyBucket(rate, burst, clock=clock)
    _check_rate(rate)
    allowance = max(1, round(rate * window))
    if shape == "sliding_window":
        return SlidingWindow(allowance, window, clock=clock)
    if shape == "fixed_window":
        return FixedWindow(allowance, window, clock=clock)
    raise ValueError(f"unknown quota shape {shape!r}; expected one of {QUOTA_SHAPES}")
