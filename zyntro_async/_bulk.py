"""Bulk runs: a lazily consumed input, one task per item taken, one result per item.

Semantics (the contract, in aiometer's manner):

* **Order**: results arrive in completion order; ``BulkResult.request`` (and ``.key``) say
  which item each one is.
* **Bounds**: at most ``concurrency`` requests are in flight (the flow control's slots).
  An item is taken from the input only while fewer than ``1.5 x concurrency`` items are
  being worked on (``concurrency + 1`` when items start with their request: adds without
  a journal, fetches) -- items sleeping in a backoff hold no slot and do not count, so one
  slow item never idles the pool -- and never while ``8 x concurrency`` items are held
  (in flight, sleeping, or finished and not yet read by you). So the input is never
  materialised and memory is O(concurrency), however many items there are.
* **Shards**: with ``shard=(i, n)`` the intake passes over every item whose key (the
  pipeline's ``shard_key``) does not hash to shard ``i`` (see ``_shard``): those items are
  counted as ``other_shards`` and nothing else happens to them.
* **Errors**: an item's failure is a failed ``BulkResult``, never an exception out of the
  run. What ends a run early: the stop rules (``on_failure``, and failures that are clearly
  global: authentication, permission, a base URL that answers 404, the same error code for
  the first items in a row), a pool-wide ``Retry-After`` longer than the call deadline
  and confirmed by a probe,
  an exception from your input iterator, a journal that cannot be written, cancellation.
  Then input stops, ``report.stopped`` says why, and the items not taken are untouched.
* **Lifetime** (structured concurrency): every task a run starts ends when the run ends,
  whichever way it ends. ``break`` out of ``async for`` then ``await run.aclose()`` (or
  ``async with run:``), cancellation, ``ZyntroClient.close()`` and the event loop's shutdown
  all cancel what is in flight (a journal keeps those items "sent", so a re-run reconciles
  them), close the journal and set ``run.report``. No shutdown path waits on a full
  queue: results are kept in a deque bounded by the intake rule above. A run dropped
  unfinished emits a ``ResourceWarning`` and is cancelled, as an unclosed socket is.

The engine that keeps this contract is :mod:`._bulk_engine`; this module is the handle.
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Generator
from typing import Any, Generic, TypeVar

from ._bulk_engine import _Run
from ._results import BulkReport, BulkResult, Progress

__all__ = ["BulkRun", "_Run"]

T = TypeVar("T")


class BulkRun(Generic[T]):
    """A running bulk operation: ``async for result in run`` or ``report = await run``.

    Nothing starts until it is iterated or awaited. After it ends, ``run.report`` holds the
    :class:`BulkReport`. If you stop iterating early, ``await run.aclose()`` (or use
    ``async with run:``) to cancel the rest; ``ZyntroClient.close()`` does it too.
    """

    def __init__(self, run: _Run[T]) -> None:
        self._run = run

    @property
    def report(self) -> BulkReport | None:
        """The account of the run, once it has ended."""
        return self._run.report

    def progress(self) -> Progress:
        """A snapshot of the run so far."""
        return self._run.progress()

    @property
    def finished(self) -> bool:
        return self._run.report is not None

    def __aiter__(self) -> AsyncIterator[BulkResult[T]]:
        return self

    async def __anext__(self) -> BulkResult[T]:
        run = self._run
        if run.supervisor is None:
            run.start()
        try:
            result = await run.next_result()
        except BaseException:
            await run.cancel()
            raise
        if result is not None:
            return result
        await run.wait()
        error, run.error = run.error, None
        if error is not None:
            raise error
        raise StopAsyncIteration

    def __await__(self) -> Generator[Any, None, BulkReport]:
        return self._consume().__await__()

    async def _consume(self) -> BulkReport:
        run = self._run
        if run.supervisor is None:
            # Nobody reads the results one by one: count them without keeping each.
            run.streaming = False
            run.start()
        async for _ in self:
            pass
        assert run.report is not None
        return run.report

    async def __aenter__(self) -> BulkRun[T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop taking input, cancel what is in flight, close the journal. Idempotent."""
        run = self._run
        if run.supervisor is None:
            run.stop("closed before it started")
            run.report = BulkReport(0, 0, 0, 0, 0, 0.0, [], stopped=run.stopped)
            return
        await run.cancel()

    def __del__(self) -> None:
        run = self._run
        if run.supervisor is not None and run.report is None:
            warnings.warn(
                f"bulk run dropped unfinished ({run.done} of {run.taken} items done); "
                "it is cancelled now. Use `async with run:` or `await run.aclose()`.",
                ResourceWarning,
                stacklevel=2,
                source=self,
            )
            run.abandon()
