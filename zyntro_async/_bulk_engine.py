"""The bulk run's engine: one supervisor task takes items from the input while the bounds
allow, runs one task per item, accounts for each result, and winds everything down when
the run ends (the contract a run keeps is in :mod:`._bulk`).

Task group: ``asyncio.TaskGroup`` is 3.11+, and anyio's would bring its own cancel scopes
into every aiohttp call. The engine needs less: item tasks never raise (a per-item failure
is a result), so one supervisor task that owns a set of item tasks, cancels them all on
the way out and waits for them is the whole of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterable, Awaitable, Callable, Coroutine, Iterable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any, Generic, TypeVar

from . import _telemetry
from ._exceptions import ItemError, JournalError
from ._flow import FlowControl
from ._protocol import contact_id_of
from ._results import BulkReport, BulkResult, FailurePolicy, OutcomeNotRecorded, Progress, StopRules
from ._retry import RetryTally
from ._shard import Shard, shard_of

log = logging.getLogger("zyntro_async")

T = TypeVar("T")

_END: Any = object()
#: Items being worked on per request slot, when an item does work of its own before its
#: first request (a journal's claim): those ahead of the slots keep them busy meanwhile.
#: A pipeline whose items start with their request (``works_ahead`` False) is given one
#: item more than the slots: an item taken while every slot is held would only wait for
#: one, its prepared call and its frames held all the while.
ACTIVE_PER_SLOT = 1.5
HELD_PER_SLOT = 8  # items held at most per request slot
PASSED_PER_YIELD = 512  # other shards' items passed over between yields to the event loop


def _item_fields(item: Any) -> dict[str, Any]:
    """Log fields for an item the engine knows nothing of (see ``Operations`` for calls)."""
    key = getattr(item, "key", None)
    return {
        "zyntro_endpoint": None,
        "zyntro_contact_id": contact_id_of(item),
        "zyntro_key": key if isinstance(key, str) else None,
        "zyntro_attempt": None,
        "zyntro_code": ItemError.code,
    }


def _pull_async(items: AsyncIterable[Any]) -> Callable[[], Awaitable[Any]]:
    """A pull function over an async iterable, returning ``_END`` when exhausted."""
    ait = aiter(items)

    async def pull() -> Any:
        try:
            return await anext(ait)
        except StopAsyncIteration:
            return _END

    return pull


class _Run(Generic[T]):
    """The engine: state and the supervisor. It never references the public handle, so a
    dropped handle can be collected (and warn) while the supervisor still runs."""

    def __init__(
        self,
        items: Iterable[Any] | AsyncIterable[Any],
        process: Callable[[Any], Coroutine[Any, Any, BulkResult[T]]],
        *,
        flow: FlowControl,
        on_progress: Callable[[Progress], object] | None,
        progress_interval: float,
        on_failure: FailurePolicy,
        total: int | None,
        keep_failures: int,
        setup: Callable[[], Awaitable[None]] | None,
        teardown: Callable[[], Awaitable[None]] | None,
        max_wait: float | None,
        tally: RetryTally | None = None,
        shard: Shard | None = None,
        shard_key: Callable[[Any], str | None] | None = None,
    ) -> None:
        self.items = items
        # Each item reported (a span, its outcome counted) while OpenTelemetry is on.
        reported = _telemetry.bulk_items(process, flow)
        self.process = process if reported is None else reported
        self.flow = flow
        self.on_progress = on_progress
        self.progress_interval = progress_interval
        self.rules = StopRules(on_failure)
        self.total_hint = total if total is not None else _len_or_none(items)
        self.keep_failures = keep_failures
        self.setup = setup
        self.teardown = teardown
        self.max_wait = max_wait
        self.tally = tally  # every retry logged, cancelled items' too
        self.shard = shard
        self.shard_key = shard_key
        split_by = getattr(process, "split_by", None)
        if split_by is not None:  # a pipeline with a journal, which records the split
            split_by(shard)
        self.other_shards = 0  # items passed over: another shard's
        slots = flow.concurrency
        ahead = getattr(process, "works_ahead", True)
        self.max_active = max(slots + 1, int(slots * ACTIVE_PER_SLOT)) if ahead else slots + 1
        self.max_held = slots * HELD_PER_SLOT
        self.streaming = True  # False when awaited: results are counted, not kept
        self.results: deque[BulkResult[T]] = deque()
        self.room = asyncio.Event()  # an item ended, a result was read, or the flow changed
        self.ready = asyncio.Event()  # a result is ready, or the run ended
        flow.on_change = self.room
        # Each item's task, with the item (what its failure is reported against).
        self.tasks: dict[asyncio.Task[BulkResult[T]], Any] = {}
        self.supervisor: asyncio.Task[None] | None = None
        self.report: BulkReport | None = None
        self.error: BaseException | None = None  # what the consumer gets after the report
        self.stopped: str | None = None
        self.started_at = 0.0
        self.last_progress = 0.0
        self.progress_broken = False
        self.held = 0  # taken and not yet read (or counted)
        self.taken = 0
        self.done = 0
        self.ok = 0
        self.failed = 0
        self.skipped = 0
        self.retries = 0
        self.abandoned = 0
        self.recovered = 0
        self.failures: list[BulkResult[Any]] = []

    # -- the supervisor -------------------------------------------------------------------------

    def start(self) -> None:
        self.started_at = self.last_progress = time.monotonic()
        self.supervisor = asyncio.get_running_loop().create_task(self.supervise())

    async def supervise(self) -> None:
        try:
            if self.setup is not None:
                await self.setup()
            await self.intake()
            while self.tasks:
                self.room.clear()
                await self.room.wait()
        except asyncio.CancelledError:
            self.stop("cancelled")  # unless a reason was given first
            raise
        except BaseException as exc:  # a journal that cannot be opened, or a bug here
            self.stop(f"{type(exc).__name__}: {exc}")
            self.error = self.error or exc
        finally:
            await self.wind_down()

    async def intake(self) -> None:
        items = self.items
        # A plain iterable is read with next(): no coroutine per item.
        pull: Callable[[], Awaitable[Any]] | None = None
        sync: Iterator[Any] | None = None
        if isinstance(items, AsyncIterable):
            pull = _pull_async(items)
        else:
            sync = iter(items)
        flow = self.flow
        loop = asyncio.get_running_loop()
        shard = self.shard
        item_done = self.item_done
        while self.stopped is None:
            active = self.held - len(self.results) - flow.sleeping
            # The intake takes only what the pace can serve: an item taken while others
            # queue for their turn would only queue too.
            if active >= self.max_active or self.held >= self.max_held or flow.backlogged():
                self.room.clear()
                await self.room.wait()
                continue
            gate_until = flow.gate_until  # 0 while the gate is open
            if (
                gate_until
                and self.max_wait is not None
                and gate_until - time.monotonic() > self.max_wait
            ):
                self.stop(_gate_message(flow, self.max_wait))
                return
            try:
                if sync is not None:
                    item = next(sync, _END)
                else:
                    assert pull is not None
                    item = await pull()
            except Exception as exc:  # the caller's iterator failed: stop, then re-raise
                self.stop(f"the input raised {type(exc).__name__}")
                self.error = exc
                return
            if item is _END:
                return
            if shard is not None and not self.owns(item, shard):
                self.other_shards += 1
                if self.other_shards % PASSED_PER_YIELD == 0:
                    await asyncio.sleep(0)  # a long stretch of others' items: let others run
                continue
            self.taken += 1
            self.held += 1
            # The item's own coroutine is the task (no wrapper frame for every resume);
            # its end is handled in ``item_done``.
            try:
                work = self.process(item)
            except Exception as exc:  # a pipeline that fails before its coroutine exists
                self.finish(self.failure(item, exc))
                continue
            task: asyncio.Task[BulkResult[T]] = loop.create_task(work)
            self.tasks[task] = item
            task.add_done_callback(item_done)

    def owns(self, item: Any, shard: Shard) -> bool:
        """Whether ``item`` belongs to this run's shard."""
        key = None if self.shard_key is None else self.shard_key(item)
        return shard_of(key, shard[1]) == shard[0]

    def item_done(self, task: asyncio.Task[BulkResult[T]]) -> None:
        item = self.tasks.pop(task)
        self.room.set()
        if task.cancelled():
            return  # the run is ending: wind_down reports what was not done
        exc = task.exception()
        if exc is None:
            self.finish(task.result())
        elif isinstance(exc, Exception):
            self.finish(self.failure(item, exc))
        # else a BaseException (SystemExit, KeyboardInterrupt): the loop is going down

    def failure(self, item: Any, exc: Exception) -> BulkResult[T]:
        """The result of an item whose processing raised ``exc`` (pipelines return their
        failures as results; this is for the unexpected)."""
        if isinstance(exc, JournalError):  # the journal cannot be written: the run must end
            self.stop(f"the journal failed: {exc}")
            self.error = self.error or exc
            if isinstance(exc, OutcomeNotRecorded):
                return exc.result  # what happened to the item, though unrecorded
            return BulkResult(request=item, ok=False, error=exc)
        # A bug or a surprise in one item: it fails alone.
        error = ItemError(f"processing this item raised {type(exc).__name__}")
        error.__cause__ = exc
        log.error("bulk item failed unexpectedly", exc_info=exc, extra=_item_fields(item))
        return BulkResult(request=item, ok=False, error=error)

    def finish(self, result: BulkResult[T]) -> None:
        """Count ``result`` in, then keep it for the consumer (or let it go, when awaited)."""
        self.done += 1
        self.retries += result.retries
        self.abandoned += result.retries_abandoned
        if result.recovered:
            self.recovered += 1
        if result.skipped:
            self.skipped += 1
        elif result.ok:
            self.ok += 1
        else:
            self.failed += 1
            if len(self.failures) < self.keep_failures:
                self.failures.append(result)
            if self.stopped is None:
                why = self.rules.failed(result.error, self.ok)
                if why is not None:
                    self.stop(why)
        if self.on_progress is not None:
            now = time.monotonic()
            if now - self.last_progress >= self.progress_interval:
                self.last_progress = now
                self.emit_progress()
        if self.streaming:
            self.results.append(result)
            self.ready.set()
        else:
            self.held -= 1

    def stop(self, why: str) -> None:
        if self.stopped is None:
            self.stopped = why
            log.warning("bulk run stops taking input: %s", why)
        self.room.set()

    async def wind_down(self) -> None:
        """Cancel what is left, close the journal, write the report. Nothing here can block
        for long: cancelled items end at their next await, the journal's close is bounded by
        one commit, and no queue is waited on."""
        cancelled = False
        for task in self.tasks:
            task.cancel()
        while self.tasks:
            try:
                await asyncio.wait(list(self.tasks))
            except asyncio.CancelledError:  # cancelled again: finish the clean-up first
                cancelled = True
        try:
            if self.teardown is not None:
                await asyncio.shield(self.teardown())
        except asyncio.CancelledError:
            cancelled = True
        except BaseException as exc:
            self.error = self.error or exc
        finally:
            if self.on_progress is not None:
                self.emit_progress()
            tally = self.tally
            self.report = BulkReport(
                total=self.done,
                succeeded=self.ok,
                failed=self.failed,
                skipped=self.skipped,
                retries=self.retries if tally is None else tally.scheduled,
                retries_abandoned=self.abandoned if tally is None else tally.abandoned,
                elapsed=time.monotonic() - self.started_at,
                failures=self.failures,
                recovered=self.recovered,
                stopped=self.stopped,
                other_shards=self.other_shards,
            )
            self.ready.set()
        if cancelled:
            raise asyncio.CancelledError

    # -- progress ---------------------------------------------------------------------------------

    def progress(self) -> Progress:
        elapsed = max(1e-9, time.monotonic() - self.started_at) if self.started_at else 0.0
        worked = (self.done - self.skipped) / elapsed if elapsed else 0.0
        total = self.total_hint
        eta = None
        if total is not None and worked > 0:
            eta = self.remaining(total) / worked
        return Progress(
            done=self.done,
            ok=self.ok,
            failed=self.failed,
            skipped=self.skipped,
            in_flight=self.flow.sending,
            throttled=self.flow.throttled,
            rate=worked,
            elapsed=elapsed,
            total=total,
            eta=eta,
            other_shards=self.other_shards,
            shard=self.shard,
        )

    def remaining(self, total: int) -> float:
        """Items of this run still to do, of an input of ``total`` items. A shard's are
        estimated: its items not finished, and its share (as met so far) of those unread."""
        if self.shard is None:
            return max(0, total - self.done)
        read = self.taken + self.other_shards
        share = self.taken / read if read else 1 / self.shard[1]
        return (self.taken - self.done) + max(0, total - read) * share

    def emit_progress(self) -> None:
        if self.on_progress is None or self.progress_broken:
            return
        try:
            self.on_progress(self.progress())
        except Exception:
            self.progress_broken = True
            log.exception("on_progress callback failed; progress reports stop")

    # -- the consumer's side ----------------------------------------------------------------------

    async def next_result(self) -> BulkResult[T] | None:
        while True:
            if self.results:
                result = self.results.popleft()
                self.held -= 1
                self.room.set()
                return result
            if self.report is not None:
                return None
            self.ready.clear()
            await self.ready.wait()

    async def wait(self) -> None:
        supervisor = self.supervisor
        assert supervisor is not None
        if not supervisor.done():
            await asyncio.wait([supervisor])

    async def cancel(self, why: str = "cancelled") -> None:
        supervisor = self.supervisor
        if supervisor is not None and not supervisor.done():
            self.stop(why)
            supervisor.cancel()
            await asyncio.wait([supervisor])  # returns when it ends; never raises its error

    def abandon(self) -> None:
        """The handle was dropped unfinished: cancel without waiting (no await possible)."""
        supervisor = self.supervisor
        if supervisor is not None and not supervisor.done():
            with contextlib.suppress(RuntimeError):  # the loop is closed: nothing runs
                supervisor.cancel()


def _gate_message(flow: FlowControl, max_wait: float) -> str:
    wait = flow.gate_until - time.monotonic()
    until = datetime.now(timezone.utc) + timedelta(seconds=wait)
    reason = flow.gate_reason
    code = getattr(reason, "code", "RATE_LIMITED")
    return (
        f"{code}: the server asked us to wait until {until:%Y-%m-%d %H:%M:%S} UTC "
        f"({wait:.0f} s), longer than the call deadline ({max_wait:g} s); run again after that"
    )


def _len_or_none(items: object) -> int | None:
    try:
        return len(items)  # type: ignore[arg-type]
    except TypeError:
        return None
