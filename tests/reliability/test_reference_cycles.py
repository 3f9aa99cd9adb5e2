"""A failed or retried call is freed at once: it leaves nothing for the cyclic collector.

An exception's traceback holds the frames it passed through, and their locals: an SDK
object that keeps a failure while a frame that holds the object is in its traceback makes
a reference cycle, which only Python's cyclic garbage collector frees. A service that
retries (a bulk run under transient faults retries thousands of requests) would then pay
for collector runs instead of freeing each call's objects when it ends. Each case runs a
few calls with ``gc.DEBUG_SAVEALL`` and looks at what the collector found: none of it may
be the SDK's (its objects, its exceptions, the frames of its code). The sandbox's own
objects and those of the libraries below (asyncio, aiohttp) are not the SDK's.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import types
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from zyntro_async import RetryPolicy, ZyntroClient, ZyntroError
from zyntro_async.testing import Fault, ZyntroSandbox

SOURCE = "cycles"
CALLS = 5


def _sdk_objects(objects: list[Any]) -> list[str]:
    """The SDK's objects among ``objects``, named (the sandbox is not the SDK)."""
    found = []
    for obj in objects:
        if isinstance(obj, types.FrameType):
            filename = obj.f_code.co_filename.replace("\\", "/")
            if "/zyntro_async/" in filename and "/zyntro_async/testing/" not in filename:
                found.append(f"frame of {obj.f_code.co_name}")
            continue
        module = type(obj).__module__ or ""
        if module.startswith("zyntro_async") and not module.startswith("zyntro_async.testing"):
            found.append(type(obj).__qualname__)
    return found


async def _left_for_the_collector(calls: Callable[[], Awaitable[object]]) -> list[str]:
    """Run ``calls`` CALLS times (an SDK error raised to the caller is dropped, as a
    caller that handles it would) and return the SDK's objects the collector found."""
    gc.collect()
    gc.garbage.clear()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(CALLS):
            with contextlib.suppress(ZyntroError):
                await calls()
        gc.collect()
    finally:
        gc.set_debug(0)
    found = _sdk_objects(gc.garbage)
    gc.garbage.clear()
    return found


@pytest.fixture
async def sb() -> AsyncIterator[ZyntroSandbox]:
    async with ZyntroSandbox() as sandbox:
        yield sandbox


@pytest.fixture
async def client(sb: ZyntroSandbox) -> AsyncIterator[ZyntroClient]:
    async with ZyntroClient(**sb.credentials, base_url=sb.base_url) as client:
        yield client


_SEQ = itertools.count()


def _payload() -> dict[str, Any]:
    return {"job_title": "CTO", "seq": next(_SEQ)}  # a new record each time


# endpoint, the scripted answers of one call
CASES = {
    "a read answered 500, then read": ("fetchContact", [Fault.SERVER_ERROR]),
    "a read answered 500 until the attempts ran out": ("fetchContact", [Fault.SERVER_ERROR] * 3),
    "an add refused with 429, then sent again": ("addProfileToContact", [Fault.RATE_LIMIT]),
    "an add answered 503, then sent again": ("addProfileToContact", [Fault.UNAVAILABLE]),
    "an add answered 500, looked for, sent again": ("addProfileToContact", [Fault.SERVER_ERROR]),
    "an add answered with a proxy's 502 page, looked for, sent again": (
        "addProfileToContact",
        [Fault.BAD_GATEWAY_HTML],
    ),
    "an add applied but its answer lost, found by a look": (
        "addProfileToContact",
        [Fault.DROP_AFTER_COMMIT],
    ),
    "an add answered 500 until the attempts ran out": (
        "addProfileToContact",
        [Fault.SERVER_ERROR] * 3,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_a_failed_or_retried_call_leaves_nothing_for_the_cyclic_collector(
    sb: ZyntroSandbox, client: ZyntroClient, case: str
) -> None:
    endpoint, faults = CASES[case]
    cid = sb.add_contact()
    await client.add_profile_to_contact(cid, _payload(), SOURCE)  # warm every path up

    async def call() -> object:
        sb.script(endpoint, *faults)
        if endpoint == "fetchContact":
            return await client.fetch_contact(cid, include_profile=True)
        return await client.add_profile_to_contact(cid, _payload(), SOURCE)

    assert await _left_for_the_collector(call) == []


async def test_an_add_whose_look_fails_leaves_nothing_for_the_cyclic_collector(
    sb: ZyntroSandbox, client: ZyntroClient
) -> None:
    cid = sb.add_contact()
    await client.add_profile_to_contact(cid, _payload(), SOURCE)

    async def call() -> object:
        sb.script("addProfileToContact", Fault.SERVER_ERROR)
        sb.script("fetchContact", Fault.SERVER_ERROR)  # the first look fails too
        return await client.add_profile_to_contact(cid, _payload(), SOURCE)

    assert await _left_for_the_collector(call) == []


async def test_an_error_raised_to_the_caller_leaves_nothing_for_the_cyclic_collector(
    sb: ZyntroSandbox, client: ZyntroClient
) -> None:
    async def call() -> object:
        # Not found: the API's own error, never retried, raised to the caller.
        return await client.fetch_contact("no-such-contact")

    assert await _left_for_the_collector(call) == []
    once = client.with_options(retry=RetryPolicy(max_attempts=1))
    sb.script("addProfileToContact", *[Fault.SERVER_ERROR] * CALLS)
    cid = sb.add_contact()

    async def add() -> object:
        return await once.add_profile_to_contact(cid, _payload(), SOURCE)

    assert await _left_for_the_collector(add) == []
