"""Pacing alone while Redis is away, and the way back to the fleet.

A process that cannot reach Redis paces at its share of the fleet's last known rate (a
:class:`~._local.LocalLimiter`), one waiter at a time, and tries Redis again after a
short back-off. Back on the fleet's timeline, it keeps that share as a cap for
:data:`REJOIN` more: the other processes may pace alone until their own next attempt,
and the fleet's timeline does not know what they send.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from ._local import LocalLimiter

#: Back-off between attempts to reach Redis again, doubling from the first to the last.
#: Short: a process back on the fleet's timeline takes the fleet's rate while the
#: others still pace alone, and an attempt costs no request anything (it runs beside them).
RECONNECT_FIRST = 0.1
RECONNECT_MAX = 0.25
#: How long a process back on the fleet's timeline keeps its local share as a cap: the
#: longest back-off plus one bounded Redis call, so every process that was away is back.
REJOIN = RECONNECT_MAX + 0.1


class Fallback:
    """The local pace while away and while rejoining. ``reconnect`` starts an attempt
    to reach Redis and returns at once (its failure comes back as :meth:`leave`)."""

    def __init__(self, reconnect: Callable[[], object]) -> None:
        self._reconnect = reconnect
        self.limiter: LocalLimiter | None = None  # set while away
        self._turn = asyncio.Lock()  # FIFO: the one waiter whose turn is next
        self._retry_at = 0.0
        self._wait = RECONNECT_FIRST
        self._rejoin: LocalLimiter | None = None
        self._rejoin_until = 0.0

    @property
    def away(self) -> bool:
        return self.limiter is not None

    @property
    def rejoining(self) -> bool:
        return self._rejoin is not None

    def leave(self, limiter: LocalLimiter) -> None:
        """Redis is unreachable: pace with ``limiter`` until it answers again."""
        self.limiter = limiter
        self._rejoin = None

    def attempt_failed(self, now: float) -> None:
        """An attempt to reach Redis failed: the next one after the back-off."""
        self._retry_at = now + self._wait
        self._wait = min(RECONNECT_MAX, self._wait * 2)

    def back(self, at: float) -> None:
        """Redis answered at ``at``: the fleet's timeline again, capped while rejoining."""
        limiter, self.limiter = self.limiter, None
        if limiter is not None and limiter.rate is not None:
            self._rejoin, self._rejoin_until = limiter, at + REJOIN
        self._wait = RECONNECT_FIRST

    async def turn(self) -> bool:
        """Wait for a turn at this process's own pace; False: back on the fleet meanwhile.

        One waiter at a time holds the next turn until it is due, so no turn is handed
        out ahead: once the fleet's timeline is back, the waiters behind take it, rather
        than keep local turns that would go on top of it."""
        async with self._turn:
            limiter = self.limiter
            if limiter is None:
                return False
            now = time.monotonic()
            if now >= self._retry_at:
                self._reconnect()  # pace locally until it answers
            due = limiter.due(now)
            if due > now:
                await asyncio.sleep(due - now)
            return True

    async def rejoin_turn(self) -> None:
        """While rejoining, wait for a turn at the local share too (one waiter at a time);
        the caller takes the fleet's token after it, so the process books no more of the
        fleet's timeline than it sends."""
        async with self._turn:
            rejoin = self._rejoin
            now = time.monotonic()
            if rejoin is None or self.limiter is not None:
                return
            if now >= self._rejoin_until:
                self._rejoin = None
                return
            due = rejoin.due(now)
            if due > now:
                await asyncio.sleep(due - now)
