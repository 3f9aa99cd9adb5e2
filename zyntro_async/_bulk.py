"""Bulk runs: a fixed pool of workers over a lazily consumed input, one result per item.

Semantics (the contract, in aiometer's manner):

* **Order**: results arrive in completion order, not input order; ``BulkResult.request``
  (and ``.key``) say which item each one is.
* **Laziness**: ``concurrency`` workers each pull one item when they are free, so the input
  is never materialised nor read ahead of the workers; results wait in a queue of at most
  ``concurrency``, so a slow consumer slows the workers instead of growing memory.
* **Errors**: an item's failure is a failed ``BulkResult``, never an exception out of the
  run. What does raise: an exception from the caller's input iterator (after the items in
  flight finish), and cancellation.
* **Stopping**: ``on_failure="continue"`` (default) runs everything; ``"fail_fast"`` stops
  taking input at the first failure; ``ErrorRate(0.2)`` stops once more than 20 % of the
  finished items failed. Items already taken always finish and are reported.
* **Cancellation** (Ctrl-C, task cancel, ``aclose()``): input stops, in-flight requests are
  cancelled (a journal keeps them as "sent", so a re-run reconciles them) and the journal
  is flushed before the run ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Generator, Iterable
from typing import Any, Generic, Literal, TypeVar

import attrs

from ._exceptions import ZyntroError
from ._models import payload_summary
from ._throttle import Throttle

log = logging.getLogger("zyntro_async")

T = TypeVar("T")

_END: Any = object()


@attrs.frozen
class ProfileRequest:
    """One profile to add. ``key`` is your correlation id: echoed in the result and, with a
    journal, used as the item's identity instead of (contact_id, source, payload)."""

    contact_id: str
    payload: dict[str, Any] | list[Any] = attrs.field(repr=payload_summary)
    source: str
    key: str | None = None
    member_id: str | None = None


@attrs.frozen
class BulkResult(Generic[T]):
    """The outcome of one item.

    ``skipped``: nothing was sent because an earlier run (or an earlier copy of the item in
    this run) already did it, or there was nothing to do. ``recovered``: the request's
    answer was lost, and reconciliation found the record the server had created.
    """

    request: Any
    ok: bool
    value: T | None = None
    error: ZyntroError | None = None
    attempts: int = 0
    skipped: bool = False
    recovered: bool = False

    @property
    def key(self) -> str | None:
        """The caller's correlation key, if the request carried one."""
        key = getattr(self.request, "key", None)
        return key if isinstance(key, str) else None


@attrs.frozen
class BulkReport:
    """The account of a run: ``succeeded + failed + skipped == total`` (items taken).

    ``failures`` keeps the first ``keep_failures`` failed results (all by default: 10,000).
    ``stopped`` says why a run ended early (``None`` when it consumed all its input).
    """

    total: int
    succeeded: int
    failed: int
    skipped: int
    retries: int
    elapsed: float
    failures: list[BulkResult[Any]] = attrs.field(repr=False)
    recovered: int = 0
    stopped: str | None = None

    @property
    def rate(self) -> float:
        """Items per second."""
        return self.total / self.elapsed if self.elapsed > 0 else 0.0


@attrs.frozen
class Progress:
    """A snapshot for ``on_progress`` callbacks. ``eta`` needs a known total."""

    done: int
    ok: int
    failed: int
    skipped: int
    in_flight: int
    throttled: bool
    rate: float
    elapsed: float
    total: int | None
    eta: float | None


@attrs.frozen
class ErrorRate:
    """Stop a run once more than ``threshold`` of its finished items failed (checked after
    ``min_items`` items, so one early failure does not stop it)."""

    threshold: float = attrs.field(validator=[attrs.validators.gt(0), attrs.validators.le(1)])
    min_items: int = attrs.field(default=50, validator=attrs.validators.ge(1))


FailurePolicy = Literal["continue", "fail_fast"] | ErrorRate


def _iterate(items: Iterable[Any] | AsyncIterable[Any]) -> Callable[[], Awaitable[Any]]:
    """A pull function over a sync or async iterable, returning ``_END`` when exhausted."""
    if isinstance(items, AsyncIterable):
        ait = aiter(items)

        async def pull_async() -> Any:
            try:
                return await anext(ait)
            except StopAsyncIteration:
                return _END

        return pull_async
    it = iter(items)

    async def pull_sync() -> Any:
        return next(it, _END)

    return pull_sync


class BulkRun(Generic[T]):
    """A running bulk operation: ``async for result in run`` or ``report = await run``.

    Nothing starts until it is iterated or awaited. After it ends, ``run.report`` holds the
    :class:`BulkReport`. If you stop iterating early, ``await run.aclose()`` (or use
    ``async with run:``) to cancel the rest cleanly.
    """

    def __init__(
        self,
        items: Iterable[Any] | AsyncIterable[Any],
        process: Callable[[Any], Awaitable[BulkResult[T]]],
        *,
        concurrency: int,
        throttle: Throttle,
        on_progress: Callable[[Progress], object] | None = None,
        progress_interval: float = 0.5,
        on_failure: FailurePolicy = "continue",
        total: int | None = None,
        keep_failures: int = 10_000,
        setup: Callable[[], Awaitable[None]] | None = None,
        teardown: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        if on_failure not in ("continue", "fail_fast") and not isinstance(on_failure, ErrorRate):
            raise ValueError("on_failure must be 'continue', 'fail_fast' or an ErrorRate")
        self._items = items
        self._process = process
        self._concurrency = concurrency
        self._throttle = throttle
        self._on_progress = on_progress
        self._progress_interval = progress_interval
        self._on_failure = on_failure
        self._total_hint = total if total is not None else _len_or_none(items)
        self._keep_failures = keep_failures
        self._setup = setup
        self._teardown = teardown

        self.report: BulkReport | None = None
        self._results: asyncio.Queue[Any] = asyncio.Queue(maxsize=concurrency)
        self._workers: list[asyncio.Task[None]] = []
        self._supervisor: asyncio.Task[None] | None = None
        self._pull_lock = asyncio.Lock()
        self._pull: Callable[[], Awaitable[Any]] | None = None
        self._pull_is_sync = not isinstance(items, AsyncIterable)
        self._streaming = True  # False when awaited: results are counted, not queued
        self._exhausted = False
        self._stopped: str | None = None
        self._input_error: BaseException | None = None
        self._finished = False
        self._started_at = 0.0
        self._last_progress = 0.0
        self._progress_broken = False
        # counters
        self._taken = 0
        self._done = 0
        self._ok = 0
        self._failed = 0
        self._skipped = 0
        self._retries = 0
        self._recovered = 0
        self._failures: list[BulkResult[Any]] = []

    # -- consuming ----------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[BulkResult[T]]:
        return self

    async def __anext__(self) -> BulkResult[T]:
        if self._finished:
            raise StopAsyncIteration
        try:
            await self._start()
            result = await self._results.get()
        except BaseException:
            await self._abort()
            raise
        if result is _END:
            await self._finish()
            raise StopAsyncIteration
        return result  # type: ignore[no-any-return]

    def __await__(self) -> Generator[Any, None, BulkReport]:
        return self._consume().__await__()

    async def _consume(self) -> BulkReport:
        if self._supervisor is None:
            # Nobody reads the results one by one: count them without queueing each (and
            # waking this task per item). Failures are still kept in the report.
            self._streaming = False
        async for _ in self:
            pass
        assert self.report is not None
        return self.report

    async def __aenter__(self) -> BulkRun[T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop taking input, cancel what is in flight, flush the journal. Idempotent."""
        if not self._finished:
            await self._abort()

    # -- running ------------------------------------------------------------------------------

    async def _start(self) -> None:
        if self._supervisor is not None:
            return
        self._started_at = self._last_progress = time.monotonic()
        if self._setup is not None:
            await self._setup()
        self._pull = _iterate(self._items)
        self._workers = [asyncio.ensure_future(self._worker()) for _ in range(self._concurrency)]
        self._supervisor = asyncio.ensure_future(self._supervise())

    async def _supervise(self) -> None:
        try:
            done, pending = await asyncio.wait(self._workers, return_when=asyncio.FIRST_EXCEPTION)
            if pending:  # a worker died of a bug or a broken journal: stop the others
                self._stopped = self._stopped or "a worker failed"
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
            for task in done:
                task.result()
        finally:
            await self._results.put(_END)

    async def _next_item(self) -> Any:
        if self._pull_is_sync:  # next() cannot interleave with another worker: no lock
            return await self._take()
        async with self._pull_lock:  # an async generator must not be re-entered
            return await self._take()

    async def _take(self) -> Any:
        if self._exhausted or self._stopped is not None:
            return _END
        assert self._pull is not None
        try:
            item = await self._pull()
        except Exception as exc:  # the caller's iterator failed: stop, then re-raise
            self._input_error = exc
            self._exhausted = True
            return _END
        if item is _END:
            self._exhausted = True
        else:
            self._taken += 1
        return item

    async def _worker(self) -> None:
        while True:
            item = await self._next_item()
            if item is _END:
                return
            result = await self._process(item)
            self._record(result)
            if self._streaming:
                await self._results.put(result)

    def _record(self, result: BulkResult[Any]) -> None:
        self._done += 1
        self._retries += max(0, result.attempts - 1)
        if result.recovered:
            self._recovered += 1
        if result.skipped:
            self._skipped += 1
        elif result.ok:
            self._ok += 1
        else:
            self._failed += 1
            if len(self._failures) < self._keep_failures:
                self._failures.append(result)
            self._check_stop(result)
        if self._on_progress is not None:
            now = time.monotonic()
            if now - self._last_progress >= self._progress_interval:
                self._last_progress = now
                self._emit_progress()

    def _check_stop(self, result: BulkResult[Any]) -> None:
        if self._stopped is not None:
            return
        policy = self._on_failure
        code = result.error.code if result.error is not None else "UNKNOWN"
        if policy == "fail_fast":
            self._stopped = f"fail_fast: an item failed ({code})"
        elif isinstance(policy, ErrorRate):
            finished = self._ok + self._failed
            if finished >= policy.min_items and self._failed / finished > policy.threshold:
                self._stopped = (
                    f"error rate {self._failed / finished:.0%} passed {policy.threshold:.0%}"
                )
        if self._stopped is not None:
            log.warning("zyntro_async: bulk run stopping: %s", self._stopped)

    def progress(self) -> Progress:
        """A snapshot of the run so far."""
        elapsed = max(1e-9, time.monotonic() - self._started_at) if self._started_at else 0.0
        rate = self._done / elapsed if elapsed else 0.0
        total = self._total_hint
        eta = (total - self._done) / rate if total is not None and rate > 0 else None
        return Progress(
            done=self._done,
            ok=self._ok,
            failed=self._failed,
            skipped=self._skipped,
            in_flight=self._taken - self._done,
            throttled=self._throttle.throttled,
            rate=rate,
            elapsed=elapsed,
            total=total,
            eta=eta,
        )

    def _emit_progress(self) -> None:
        if self._on_progress is None or self._progress_broken:
            return
        try:
            self._on_progress(self.progress())
        except Exception:
            self._progress_broken = True
            log.exception("zyntro_async: on_progress callback failed; progress reports stop")

    async def _finish(self) -> None:
        if self._supervisor is not None:
            await self._supervisor
        await self._close(stopped=self._stopped)
        if self._input_error is not None:
            raise self._input_error

    async def _abort(self) -> None:
        self._stopped = self._stopped or "cancelled"
        self._exhausted = True
        for task in self._workers:
            task.cancel()
        tasks = [*self._workers, *([self._supervisor] if self._supervisor else [])]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._close(stopped=self._stopped)

    async def _close(self, *, stopped: str | None) -> None:
        if self._finished:
            return
        self._finished = True
        try:
            if self._teardown is not None:
                await self._teardown()
        finally:
            elapsed = time.monotonic() - self._started_at if self._started_at else 0.0
            if self._on_progress is not None:
                self._emit_progress()
            self.report = BulkReport(
                total=self._done,
                succeeded=self._ok,
                failed=self._failed,
                skipped=self._skipped,
                retries=self._retries,
                elapsed=elapsed,
                failures=self._failures,
                recovered=self._recovered,
                stopped=stopped,
            )


def _len_or_none(items: object) -> int | None:
    try:
        return len(items)  # type: ignore[arg-type]
    except TypeError:
        return None
