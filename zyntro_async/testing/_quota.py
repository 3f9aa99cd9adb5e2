"""The sandbox's per-key quota, as API gateways enforce one (``Faults.quota_rps`` > 0).

A token bucket per API key (the ``api_key`` the body presents, valid or not; one bucket
for both endpoints) that refills ``quota_rps`` tokens per second up to ``quota_burst``
(default: 10 % of ``quota_rps``, at least 1) and starts full. Every request takes a token
when it arrives, before the fault dice and before any state change: a request that finds
no whole token is refused (a refused add stores nothing) with a 429, the same error
envelope as :attr:`Fault.RATE_LIMIT`, and

* ``Retry-After``: whole seconds until the bucket holds a token again, rounded up and
  at least 1 (gateways do not send fractions);
* ``X-RateLimit-Limit``: the quota per second, rounded to an integer (at least 1);
* ``X-RateLimit-Remaining``: whole tokens left (0 on a refusal);
* ``X-RateLimit-Reset``: whole seconds, rounded up, until the bucket holds a token
  again (0 while one is left).

Admitted requests carry the same three ``X-RateLimit-*`` headers (``Remaining`` counts
what is left after this request); their answer then goes through latency and the fault
dice as usual. Refusals are counted as :attr:`Fault.QUOTA` in the sandbox stats; that
kind is never drawn by the dice nor scripted. Latency applies to refusals too.
:class:`Quota` is the bucket logic alone (sans-I/O, with an injectable clock).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import attrs


@attrs.frozen
class QuotaDecision:
    """What the quota said about one request, and the headers that say so."""

    admitted: bool
    #: The quota per second, as the integer ``X-RateLimit-Limit`` sends.
    limit: int
    #: Whole tokens left after this request (0 on a refusal).
    remaining: int
    #: Whole seconds (rounded up) until the bucket holds a token again; 0 while one is left.
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


class Quota:
    """Token buckets per key, sans I/O: ``take(key)`` at each request's arrival.

    Each key's bucket starts full (``burst`` tokens) and refills ``rate`` tokens per
    second of ``clock()`` up to ``burst``; a request is admitted if it finds a whole
    token, which it takes. ``clock`` defaults to :func:`time.monotonic`.
    """

    def __init__(
        self, rate: float, burst: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not 0.0 < rate < math.inf:
            raise ValueError(f"rate must be a finite number > 0, got {rate!r}")
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
        reset = math.ceil((1.0 - tokens) / self.rate) if tokens < 1.0 else 0
        return QuotaDecision(
            admitted=admitted,
            limit=self._limit,
            remaining=int(tokens),
            reset=reset,
            retry_after=None if admitted else max(1, reset),
        )
