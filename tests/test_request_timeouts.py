"""A request's total timeout as a caller sees it, against the sandbox: it fires on time
whatever else is in flight, leaves the caller's task usable, and never turns a cancellation
from outside into a timeout. (The SDK enforces ``Timeout.total`` itself, with one timer for
every request in flight, instead of a timer per request inside aiohttp.)"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

from zyntro_async import Timeout, ZyntroClient
from zyntro_async._deadlines import Deadlines
from zyntro_async.errors import ReadTimeout
from zyntro_async.testing import Faults, ZyntroSandbox

LONG = Timeout(connect=5, read=None, total=5)
SHORT = Timeout(connect=5, read=None, total=0.2)


@pytest.fixture
async def sandbox() -> AsyncIterator[ZyntroSandbox]:
    async with ZyntroSandbox(seed=5) as sb:
        yield sb


@pytest.fixture
def slow_contact(sandbox: ZyntroSandbox) -> str:
    """A contact id, with every answer taking 1 s from now on."""
    cid = sandbox.add_contact(first_name="Jane")
    sandbox.faults = Faults(latency=1.0)
    return cid


def client_for(sb: ZyntroSandbox, **kwargs: Any) -> ZyntroClient:
    kwargs.setdefault("timeout", LONG)
    return ZyntroClient(**sb.credentials, base_url=sb.base_url, **kwargs)


async def test_a_short_timeout_fires_while_a_longer_one_still_waits(
    sandbox: ZyntroSandbox, slow_contact: str
) -> None:
    cid = slow_contact
    async with client_for(sandbox) as client:
        patient = asyncio.create_task(client.fetch_contact(cid))  # total 5 s
        await sandbox.wait_for_requests(1)
        # Started later with an earlier deadline: it must not wait for the first one's.
        with pytest.raises(ReadTimeout):
            await client.fetch_contact(cid, retry=None, timeout=SHORT)
        assert not patient.done()
        assert (await patient).contact.id == cid  # answered after 1 s: not timed out


async def test_every_request_past_its_deadline_times_out(
    sandbox: ZyntroSandbox, slow_contact: str
) -> None:
    cid = slow_contact
    async with client_for(sandbox, timeout=SHORT, retry=None) as client:
        outcomes = await asyncio.gather(
            *(client.fetch_contact(cid) for _ in range(20)), return_exceptions=True
        )
    assert all(isinstance(o, ReadTimeout) for o in outcomes), outcomes
    assert sandbox.stats["fetchContact"].requests == 20


async def test_a_timeout_leaves_the_callers_task_usable(sandbox: ZyntroSandbox) -> None:
    cid = sandbox.add_contact(first_name="Jane")
    async with client_for(sandbox, retry=None) as client:
        sandbox.faults = Faults(latency=1.0)
        with pytest.raises(ReadTimeout):
            await client.fetch_contact(cid, timeout=SHORT)
        if sys.version_info >= (3, 11):
            task = asyncio.current_task()
            assert task is not None
            assert task.cancelling() == 0
        sandbox.faults = Faults()
        await asyncio.sleep(0.3)  # no cancellation left over for the next await
        assert (await client.fetch_contact(cid)).contact.id == cid


async def test_a_cancellation_from_outside_stays_a_cancellation(
    sandbox: ZyntroSandbox, slow_contact: str
) -> None:
    cid = slow_contact
    async with client_for(sandbox) as client:
        call = asyncio.create_task(client.fetch_contact(cid))
        await sandbox.wait_for_requests(1)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call


async def test_an_outer_timeout_shorter_than_the_requests_is_the_callers(
    sandbox: ZyntroSandbox, slow_contact: str
) -> None:
    cid = slow_contact
    async with client_for(sandbox) as client:
        with pytest.raises(asyncio.TimeoutError) as info:
            await asyncio.wait_for(client.fetch_contact(cid), 0.2)
    assert not isinstance(info.value, ReadTimeout)


@pytest.mark.skipif(
    sys.version_info < (3, 11), reason="Task.uncancel() (3.11+) tells the two cancels apart"
)
async def test_a_cancel_arriving_with_the_deadline_is_not_swallowed() -> None:
    # Both in one loop iteration: the deadline's cancel and the caller's. The caller's wins,
    # as with asyncio.timeout. (The module's own contract: no server can time this.)
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(loop)
    outcome: list[str] = []

    async def request() -> None:
        at = loop.time() + 0.05
        watch = deadlines.watch(0.05)
        task = asyncio.current_task()
        assert task is not None
        loop.call_at(at, task.cancel)  # due together with the deadline's own timer
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            outcome.append("timeout" if deadlines.expired(watch) else "cancelled")
            if outcome[-1] == "cancelled":
                raise
        finally:
            deadlines.done(watch)

    task = asyncio.create_task(request())
    with pytest.raises(asyncio.CancelledError):
        await task
    assert outcome == ["cancelled"]
