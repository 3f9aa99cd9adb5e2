"""Concurrency slots: at most ``limit`` requests held at once, waiters served in order."""

from __future__ import annotations

import asyncio
from collections import deque


class Slots:
    """``try_take()`` or ``await take()`` before a request, ``release()`` after it."""

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
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self.waiters.append(waiter)
        try:
            while True:
                await waiter
                if self.held < self.limit:
                    self.held += 1
                    return
                waiter = loop.create_future()
                self.waiters.appendleft(waiter)
        except BaseException:
            if waiter in self.waiters:
                self.waiters.remove(waiter)
            elif waiter.done() and not waiter.cancelled():
                self._wake()  # pass on a wake-up we cannot use
            raise

    def widen(self, limit: int) -> None:
        """Let ``limit`` requests be held from now on (waiters served up to it)."""
        self.limit = limit
        for _ in range(limit - self.held):
            if not self.waiters:
                break
            self._wake()

    def release(self) -> None:
        self.held -= 1
        if self.waiters:
            self._wake()

    def _wake(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
