"""Request timeouts without a timer per request: one shared timer for every request in flight.

aiohttp's ``ClientTimeout(total=...)`` arms a timer (a ``TimerHandle`` in the loop's heap and
a context entered around each step) for every request and disarms it when the answer is in,
a measurable share of a request's CPU. Answers come long before the timeout, so nearly all
of that work is thrown away.

:class:`Deadlines` keeps the requests in flight by task and one ``TimerHandle`` for the
earliest of their deadlines. A request adds its task and removes it (a dict insert and a
delete); the timer is moved only for a deadline earlier than the one it waits for, fires
about once per timeout period and only then looks at what is in flight (a scan of at most
the pool's width). A deadline fires on time, as precisely as a timer of its own would. When
a request's deadline passes, its task is cancelled -- as ``asyncio.timeout`` does -- and
:meth:`Deadlines.expired` turns that cancellation back into a timeout, giving the cancel back
(``Task.uncancel``) so an outer ``asyncio.timeout`` or task group is not misled, and a
cancellation from outside is never swallowed. (On 3.10, which has no ``uncancel``, a cancel
landing in the same instant as the deadline reads as the timeout, as with aiohttp's timer.)
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from typing import Any, TypeAlias

Watch: TypeAlias = "asyncio.Task[Any]"
"""A request's deadline is known by its task: a task has one request in flight at a time."""


class Deadlines:
    """The deadlines of the requests in flight on one event loop, with one timer."""

    __slots__ = ("_fired", "_handle", "_loop", "_next", "_now", "_watches")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        # asyncio's own loops keep time with time.monotonic(): read it without a call into
        # the loop; another loop (uvloop) keeps its own.
        stock = getattr(type(loop), "time", None) is asyncio.BaseEventLoop.time
        self._now: Callable[[], float] = time.monotonic if stock else loop.time
        # Each request's task: its deadline, and its count of cancel requests then.
        self._watches: dict[Watch, tuple[float, int]] = {}
        # The tasks a deadline cancelled, with that count (until the request ends).
        self._fired: dict[Watch, int] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._next = float("inf")  # when the timer fires

    def watch(self, seconds: float) -> Watch:
        """Start the current task's deadline: ``seconds`` from now."""
        task = asyncio.current_task(self._loop)
        if task is None:
            raise RuntimeError("a request timeout needs to run inside a task")
        at = self._now() + seconds
        cancelling = 0
        if sys.version_info >= (3, 11):
            cancelling = task.cancelling()
        self._watches[task] = (at, cancelling)
        if at < self._next:
            self._arm(at)
        return task

    def expired(self, watch: Watch) -> bool:
        """Called with a ``CancelledError`` in hand: was it ``watch``'s deadline's doing
        (and not also a cancellation from outside)? If so the cancellation is taken back."""
        cancelling = self._fired.pop(watch, None)
        if cancelling is None:
            return False
        if sys.version_info >= (3, 11):
            return watch.uncancel() <= cancelling
        return True

    def done(self, watch: Watch) -> None:
        """The request ended (answered, failed or timed out)."""
        del self._watches[watch]
        if self._fired:
            self._fired.pop(watch, None)

    def _arm(self, at: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._next = at
        self._handle = self._loop.call_at(at, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._next = float("inf")
        now = self._now()
        earliest = float("inf")
        fired = self._fired
        for task, (at, cancelling) in self._watches.items():
            if task in fired:
                continue
            if at <= now:
                fired[task] = cancelling
                task.cancel()
            elif at < earliest:
                earliest = at
        if earliest != float("inf"):
            self._arm(earliest)
