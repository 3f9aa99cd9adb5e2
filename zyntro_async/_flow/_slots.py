"""Concurrency slots: at most ``limit`` requests held at once, waiters served in order."""

from __future__ import annotations

import asyncio
from collections import deque


class Slots:
    """``try_take()`` or ``await take()`` before a request, ``release()`` after it.

    A waiter is handed its slot when it is woken (``held`` counts it from then on), so
    each freed slot wakes exactly one waiter, and only while ``held`` is under ``limit``:
    no waiter wakes to find its slot taken and go back to waiting.
    """

    __slots__ = ("held", "limit", "waiters")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self.waiters: deque[asyncio.Future[None]] = deque()

    def try_take(self) -> bool:
        if self.held < self.limit and not self.waiters:
            self.held += 1
            return True
        return False

    async def take(self) -> None:
        if self.try_take():
            return
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot this waiter cannot use: pass it on
            elif waiter in self.waiters:  # else already passed over, being cancelled
                self.waiters.remove(waiter)
            raise

    def widen(self, limit: int) -> None:
        """Let ``limit`` requests be held from now on (waiters served up to it)."""
        self.limit = limit
        self._hand_over()

    def release(self) -> None:
        self.held -= 1
        if self.waiters:
            self._hand_over()

    def _hand_over(self) -> None:
        """Give the free slots to the waiters, first come first served."""
        waiters = self.waiters
        while waiters and self.held < self.limit:
            waiter = waiters.popleft()
            if not waiter.done():  # a cancelled waiter is skipped
                self.held += 1
                waiter.set_result(None)
