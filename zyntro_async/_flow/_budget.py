"""The retry budget: botocore's "standard" retry quota, sans I/O.

A retry costs ``RETRY_COST`` tokens (``TIMEOUT_RETRY_COST`` after a read timeout), a
first-try success earns ``NO_RETRY_INCREMENT``, a successful retry refunds its cost; an
empty bucket stops retries, so a degraded API cannot turn 10,000 items into a retry
storm. ``None`` capacity: no budget (every retry allowed).
"""

from __future__ import annotations

import attrs

from .._config import DEFAULT_RETRY_BUDGET

RETRY_COST = 5
TIMEOUT_RETRY_COST = 10
NO_RETRY_INCREMENT = 1
DEFAULT_BUDGET = DEFAULT_RETRY_BUDGET  # the setting's default, where runs are configured


@attrs.define
class RetryBudget:
    capacity: int | None
    tokens: int | None = attrs.field(default=attrs.Factory(lambda s: s.capacity, takes_self=True))

    def spend(self, timeout: bool) -> bool:
        """Take a retry's cost; False (and nothing taken) when the budget cannot pay it."""
        if self.tokens is None:
            return True
        cost = TIMEOUT_RETRY_COST if timeout else RETRY_COST
        if self.tokens < cost:
            return False
        self.tokens -= cost
        return True

    def succeeded(self, retries: int) -> None:
        """Credit an item that succeeded after ``retries`` retries."""
        if self.tokens is None or self.capacity is None:
            return
        if not retries and self.tokens == self.capacity:
            return  # a full budget gains nothing from a clean success (the common case)
        refund = RETRY_COST * retries if retries else NO_RETRY_INCREMENT
        self.tokens = min(self.capacity, self.tokens + refund)
