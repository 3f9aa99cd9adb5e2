"""Waiting at the pool-wide gate, on one event loop: the gate's I/O side.

:class:`~._gate.Gate` decides, sans I/O, whether a request may start now, is the
hold's probe, or must ask again later; :class:`GateWait` is where the requests wait
for it. Each waiter sleeps until the gate says to ask again, or until the gate changes
(:meth:`GateWait.wake`: a probe's answer lifted the hold, or held again), whichever
comes first, and then asks again; a confirmed wait that ends past the request's
deadline fails it at once (:class:`GateClosed`). The clock is injected, so the
decisions can be driven on a fake one (only the sleeps are the event loop's).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ._gate import Gate


class GateClosed(Exception):
    """Internal: the pool-wide wait ends past the request's deadline (``wait`` seconds)."""

    def __init__(self, wait: float) -> None:
        super().__init__(wait)
        self.wait = wait


class GateWait:
    """The requests waiting at ``gate``. ``changed`` is called whenever the number of
    sleepers changes or the gate wakes them; ``ended`` when a confirmed wait ends
    (what was measured before it says nothing of what the server admits after)."""

    __slots__ = ("_changed", "_clock", "_ended", "gate", "sleeping", "waiters")

    def __init__(
        self,
        gate: Gate,
        clock: Callable[[], float],
        *,
        changed: Callable[[], None],
        ended: Callable[[], None],
    ) -> None:
        self.gate = gate
        self.sleeping = 0  # requests asleep at the gate now
        self._clock = clock
        self._changed = changed
        self._ended = ended
        self.waiters: set[asyncio.Future[None]] = set()  # the sleepers' wake-ups

    async def wait(self, deadline_at: float | None) -> bool:
        """Wait until the gate lets this request through; True if it goes as the probe.
        Raises :class:`GateClosed` when a confirmed wait ends after ``deadline_at``."""
        gate = self.gate
        while True:
            now = self._clock()
            confirmed = gate.confirmed
            wait = gate.check(now)
            if wait <= 0:
                if confirmed and not gate.confirmed:
                    self._ended()
                return gate.holding and gate.probe_at == now
            if gate.confirmed and deadline_at is not None and gate.until > deadline_at:
                raise GateClosed(gate.until - now)
            await self._sleep(wait)

    async def _sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` or until :meth:`wake`; the sleeper holds no request slot."""
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        handle = loop.call_later(seconds, _resolve, waiter)
        self.waiters.add(waiter)
        self.sleeping += 1
        self._changed()
        try:
            await waiter
        finally:
            self.sleeping -= 1
            handle.cancel()
            self.waiters.discard(waiter)
            self._changed()

    def wake(self) -> None:
        """The gate changed: every sleeper asks it again now."""
        for waiter in self.waiters:
            _resolve(waiter)
        self._changed()


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
