"""The client variants a worker runs: the same work through each client, one runner each.

Each variant is an async context manager (set up its client, close it after) yielding a
runner: ``await runner(items)`` sends every item and returns the :class:`Counts`. The
numbers in the docstrings are the variants' order in the README's table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import aiohttp

from ._common import SOURCE

VARIANTS = ("raw", "sdk", "sdk_journal", "aiometer", "httpx", "sequential")
_HEADERS = {"Content-Type": "application/json"}


class Counts:
    """What came back: items done, successes, failures by reason; the SDK's report adds
    retries, items skipped, reconciled and why the run stopped early. With
    ``completion_times``, each success's ``time.perf_counter()`` as it completes (one list
    append per ok item, the same in every variant)."""

    def __init__(self, completion_times: bool = False) -> None:
        self.ok_times: list[float] | None = [] if completion_times else None
        self.done = 0
        self.ok = 0
        self.failed = 0
        self.skipped = 0
        self.retries = 0
        self.recovered = 0
        self.stopped: str | None = None
        self.errors: Counter[str] = Counter()

    def success(self) -> None:
        self.done += 1
        self.ok += 1
        if self.ok_times is not None:
            self.ok_times.append(time.perf_counter())

    def failure(self, reason: str) -> None:
        self.done += 1
        self.failed += 1
        self.errors[reason] += 1

    def check(self, status: int, body: bytes) -> None:
        """Parse the answer with the stdlib's json and check ``status == "success"``."""
        if status != 200:
            self.failure(f"HTTP {status}")
            return
        try:
            envelope = json.loads(body)
        except ValueError:
            self.failure("not JSON")
            return
        if isinstance(envelope, dict) and envelope.get("status") == "success":
            self.success()
        else:
            self.failure("status error")


class Settings:
    """Credentials and URL from the environment; the JSON body of one item."""

    def __init__(self) -> None:
        env = os.environ
        self.base_url = env["ZYNTRO_BASE_URL"]
        self.url = self.base_url + "addProfileToContact"
        self.creds = {
            "api_key": env["ZYNTRO_API_KEY"],
            "developer_secret": env["ZYNTRO_DEVELOPER_SECRET"],
            "org_id": env["ZYNTRO_ORG_ID"],
            "member_id": env["ZYNTRO_MEMBER_ID"],
        }

    def body(self, contact_id: str, payload: dict[str, Any]) -> bytes:
        """The documented request body, compact JSON (stdlib), as the SDK sends it."""
        body = {
            **self.creds,
            "contact_id": contact_id,
            "profile_payload": payload,
            "profile_source": SOURCE,
        }
        return json.dumps(body, separators=(",", ":")).encode()


def _timed(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "completion_times", False))


Items = Iterator[tuple[str, dict[str, Any]]]
Runner = Callable[[Items], Awaitable[Counts]]


def _aiohttp_session(concurrency: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency),
        timeout=aiohttp.ClientTimeout(total=60),
    )


def _aiohttp_one(
    session: aiohttp.ClientSession, settings: Settings, counts: Counts
) -> Callable[[str, dict[str, Any]], Awaitable[None]]:
    async def one(contact_id: str, payload: dict[str, Any]) -> None:
        try:
            async with session.post(
                settings.url, data=settings.body(contact_id, payload), headers=_HEADERS
            ) as resp:
                body = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            counts.failure(type(exc).__name__)
            return
        counts.check(status, body)

    return one


async def _bounded(
    items: Items, concurrency: int, one: Callable[[str, dict[str, Any]], Awaitable[None]]
) -> None:
    """The semaphore pattern, lazily: at most ``concurrency`` tasks exist at a time."""
    sem = asyncio.Semaphore(concurrency)
    tasks: set[asyncio.Task[None]] = set()

    async def run(contact_id: str, payload: dict[str, Any]) -> None:
        try:
            await one(contact_id, payload)
        finally:
            sem.release()

    for contact_id, payload in items:
        await sem.acquire()
        task = asyncio.create_task(run(contact_id, payload))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    while tasks:
        await asyncio.wait(tasks)


@contextlib.asynccontextmanager
async def raw(settings: Settings, args: argparse.Namespace) -> AsyncIterator[Runner]:
    """1. aiohttp ClientSession (TCPConnector(limit=64)) + asyncio.Semaphore(64), stdlib json."""
    async with _aiohttp_session(args.concurrency) as session:

        async def runner(items: Items) -> Counts:
            counts = Counts(_timed(args))
            await _bounded(items, args.concurrency, _aiohttp_one(session, settings, counts))
            return counts

        yield runner


@contextlib.asynccontextmanager
async def sequential(settings: Settings, args: argparse.Namespace) -> AsyncIterator[Runner]:
    """5. The naive script: one await after another, same aiohttp session setup."""
    async with _aiohttp_session(args.concurrency) as session:

        async def runner(items: Items) -> Counts:
            counts = Counts(_timed(args))
            one = _aiohttp_one(session, settings, counts)
            for contact_id, payload in items:
                await one(contact_id, payload)
            return counts

        yield runner


@contextlib.asynccontextmanager
async def aiometer_variant(settings: Settings, args: argparse.Namespace) -> AsyncIterator[Runner]:
    """3. aiometer.run_on_each(max_at_once=64) over the lazy input + aiohttp."""
    import aiometer

    async with _aiohttp_session(args.concurrency) as session:

        async def runner(items: Items) -> Counts:
            counts = Counts(_timed(args))
            one = _aiohttp_one(session, settings, counts)

            async def each(item: tuple[str, dict[str, Any]]) -> None:
                await one(*item)

            await aiometer.run_on_each(each, items, max_at_once=args.concurrency)
            return counts

        yield runner


@contextlib.asynccontextmanager
async def httpx_variant(settings: Settings, args: argparse.Namespace) -> AsyncIterator[Runner]:
    """4. httpx.AsyncClient(limits=Limits(max_connections=64)) + Semaphore(64)."""
    import httpx

    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(60.0)) as client:

        async def runner(items: Items) -> Counts:
            counts = Counts(_timed(args))

            async def one(contact_id: str, payload: dict[str, Any]) -> None:
                try:
                    resp = await client.post(
                        settings.url, content=settings.body(contact_id, payload), headers=_HEADERS
                    )
                except httpx.HTTPError as exc:
                    counts.failure(type(exc).__name__)
                    return
                counts.check(resp.status_code, resp.content)

            await _bounded(items, args.concurrency, one)
            return counts

        yield runner


@contextlib.asynccontextmanager
async def sdk(settings: Settings, args: argparse.Namespace) -> AsyncIterator[Runner]:
    """2. ZyntroClient(limits=Limits(max_connections=64)).bulk_add_profiles(concurrency=64).

    ``sdk_journal`` is the same with ``journal=`` a fresh SQLite file in a temp directory.
    """
    from zyntro_async import Limits, ProfileRequest, RetryPolicy, ZyntroClient

    journal_dir = tempfile.TemporaryDirectory(prefix="zyntro-bench-")
    runs = 0
    deadline = getattr(args, "deadline", None)
    max_per_second = getattr(args, "max_per_second", None)
    extra: dict[str, Any] = {}
    if deadline is not None:
        extra["retry"] = RetryPolicy(deadline=deadline)
    async with ZyntroClient(
        base_url=settings.base_url,
        limits=Limits(max_connections=args.concurrency),
        **extra,
        **settings.creds,
    ) as client:

        async def runner(items: Items) -> Counts:
            nonlocal runs
            runs += 1
            journal = None
            if args.variant == "sdk_journal":
                journal = os.path.join(journal_dir.name, f"run{runs}.db")
            requests = (ProfileRequest(cid, payload, SOURCE) for cid, payload in items)
            run = client.bulk_add_profiles(
                requests,
                concurrency=args.concurrency,
                journal=journal,
                max_per_second=max_per_second,
            )
            counts = Counts(_timed(args))
            ok_times = counts.ok_times
            if ok_times is None:
                report = await run
            else:
                # Each result as it completes (the documented ``async for``): its time.
                clock = time.perf_counter
                async with run:
                    async for result in run:
                        if result.ok and not result.skipped:
                            ok_times.append(clock())
                report = run.report
                assert report is not None
            counts.done, counts.ok, counts.failed = report.total, report.succeeded, report.failed
            counts.retries = report.retries
            counts.skipped = getattr(report, "skipped", 0)
            counts.recovered = getattr(report, "recovered", 0)
            stopped = getattr(report, "stopped", None)
            counts.stopped = None if stopped is None else str(stopped)
            counts.errors.update(
                f.error.code if f.error is not None else "UNKNOWN" for f in report.failures
            )
            return counts

        try:
            yield runner
        finally:
            journal_dir.cleanup()


SETUPS: dict[str, Callable[[Settings, argparse.Namespace], Any]] = {
    "raw": raw,
    "sdk": sdk,
    "sdk_journal": sdk,
    "aiometer": aiometer_variant,
    "httpx": httpx_variant,
    "sequential": sequential,
}
