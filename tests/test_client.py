"""ZyntroClient against the sandbox: what it sends, what it returns, how network failures
surface, and how it manages its session. Two failures the sandbox cannot produce (a pool
timeout, a truncated body) are mocked with aioresponses."""

from __future__ import annotations

import asyncio
import gc
import json
import platform
import warnings
from collections.abc import AsyncIterator
from http import HTTPStatus
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses

from tests.helpers import BASE, CREDS
from zyntro_async import (
    ContactDetails,
    Limits,
    NotFoundError,
    ServerError,
    Timeout,
    ValidationError,
    ZyntroClient,
    __version__,
)
from zyntro_async.errors import (
    ClientClosedError,
    ConnectError,
    ConnectTimeout,
    DisconnectedError,
    ReadTimeout,
)
from zyntro_async.testing import Fault, Faults, ZyntroSandbox


@pytest.fixture
async def sb() -> AsyncIterator[ZyntroSandbox]:
    async with ZyntroSandbox() as sandbox:
        yield sandbox


def client_for(sb: ZyntroSandbox, **kwargs: Any) -> ZyntroClient:
    kwargs.setdefault("retry", None)
    return ZyntroClient(**sb.credentials, base_url=sb.base_url, **kwargs)


@pytest.fixture
async def client(sb: ZyntroSandbox) -> AsyncIterator[ZyntroClient]:
    async with client_for(sb) as c:
        yield c


async def test_fetch_contact_returns_typed_details(sb: ZyntroSandbox, client: ZyntroClient) -> None:
    cid = sb.add_contact(first_name="Jane", auto_engage=True, entity={"name": "Acme Corp"})
    details = await client.fetch_contact(cid, include_notes=True, include_entity=True)
    assert isinstance(details, ContactDetails)
    assert details.contact.id == cid
    assert details.contact.first_name == "Jane"
    assert details.contact.auto_engage is True
    assert details.entity is not None
    assert details.entity.name == "Acme Corp"
    assert details.notes == []


async def test_requests_are_json_posts_with_int_flags_and_a_user_agent(
    sb: ZyntroSandbox, client: ZyntroClient
) -> None:
    cid = sb.add_contact()
    other = sb.add_credentials()["member_id"]
    await client.fetch_contact(cid, include_profile=True, member_id=other)
    (sent,) = sb.requests
    assert sent.endpoint == "fetchContact"
    assert sent.body == {
        **sb.credentials,
        "api_key": "***",  # the sandbox's log redacts what it received
        "developer_secret": "***",
        "member_id": other,
        "contact_id": cid,
        "include_notes": 0,
        "include_profile": 1,
        "include_signals": 0,
        "include_entity": 0,
    }
    assert sent.headers["Content-Type"] == "application/json"
    ua = sent.headers["User-Agent"]
    assert f"zyntro-async/{__version__}" in ua
    assert f"Python/{platform.python_version()}" in ua
    assert f"aiohttp/{aiohttp.__version__}" in ua


async def test_add_profile_returns_the_created_profile(
    sb: ZyntroSandbox, client: ZyntroClient
) -> None:
    cid = sb.add_contact()
    profile = await client.add_profile_to_contact(cid, {"job_title": "VP"}, "LinkedIn Scraper")
    (stored,) = sb.profiles(cid)
    assert profile.id == stored["profile_id"]
    assert (profile.source, profile.payload) == ("LinkedIn Scraper", {"job_title": "VP"})
    assert stored["profile_payload"] == {"job_title": "VP"}


async def test_api_error_is_raised_typed(client: ZyntroClient) -> None:
    with pytest.raises(NotFoundError) as info:
        await client.fetch_contact("nope")
    assert info.value.code == "NOT_FOUND"
    assert info.value.contact_id == "nope"


async def test_invalid_input_never_reaches_the_network(
    sb: ZyntroSandbox, client: ZyntroClient
) -> None:
    with pytest.raises(ValidationError):
        await client.add_profile_to_contact("c", {"x": {1, 2}}, "s")  # type: ignore[dict-item]
    with pytest.raises(ValidationError):
        await client.fetch_contact("")
    assert sb.stats.requests == 0


# -- network failures, each as the server really causes it ---------------------------------


async def test_a_refused_connection_is_connect_error() -> None:
    sandbox = ZyntroSandbox()
    await sandbox.start()
    await sandbox.stop()  # the port is closed now
    async with client_for(sandbox) as client:
        with pytest.raises(ConnectError) as info:
            await client.fetch_contact("c-9")
    assert info.value.endpoint == "fetchContact"
    assert sandbox.credentials["api_key"] not in str(info.value)


async def test_a_dropped_connection_is_disconnected_error(
    sb: ZyntroSandbox, client: ZyntroClient
) -> None:
    sb.script("fetchContact", Fault.DROP_AFTER_COMMIT)
    with pytest.raises(DisconnectedError) as info:
        await client.fetch_contact("c-9")
    assert info.value.endpoint == "fetchContact"
    assert sb.credentials["api_key"] not in str(info.value)


@pytest.mark.parametrize(
    "timeout", [Timeout(connect=5, read=0.1, total=5), Timeout(connect=5, read=5, total=0.1)]
)
async def test_an_answer_that_never_comes_is_read_timeout(
    sb: ZyntroSandbox, timeout: Timeout
) -> None:
    sb.faults = Faults(hang_seconds=30)
    sb.script("fetchContact", Fault.TIMEOUT_AFTER_COMMIT)
    async with client_for(sb, timeout=timeout) as client:
        with pytest.raises(ReadTimeout) as info:
            await client.fetch_contact("c-9")
    assert info.value.endpoint == "fetchContact"


async def test_a_body_too_large_for_the_server_has_a_code_of_its_own(
    sb: ZyntroSandbox, client: ZyntroClient
) -> None:
    cid = sb.add_contact(first_name="Jane")
    with pytest.raises(ServerError) as info:  # the sandbox, as aiohttp, takes 16 MiB at most
        await client.add_profile_to_contact(cid, {"notes": "x" * (17 * 1024 * 1024)}, "S")
    assert (info.value.status, info.value.code) == (413, "PAYLOAD_TOO_LARGE")
    assert f"HTTP 413 {HTTPStatus(413).phrase} (text/plain, " in str(info.value)
    assert sb.profiles(cid) == []


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (aiohttp.ConnectionTimeoutError("pool"), ConnectTimeout),
        (aiohttp.ClientPayloadError("truncated"), DisconnectedError),
    ],
)
async def test_failures_the_sandbox_cannot_cause_map_to_the_tree(
    exc: Exception, expected: type[Exception]
) -> None:
    async with ZyntroClient(**CREDS, base_url=BASE, retry=None) as client:
        with aioresponses() as mocked:
            mocked.post(BASE + "fetchContact", exception=exc)
            with pytest.raises(expected) as info:
                await client.fetch_contact("c-9")
    assert info.value.endpoint == "fetchContact"  # type: ignore[attr-defined]
    assert CREDS["api_key"] not in str(info.value)


# -- the session ---------------------------------------------------------------------------


def test_a_client_can_be_made_outside_an_event_loop() -> None:
    # Nothing is opened until the first call, so a client can be built at import time.
    client = ZyntroClient(**CREDS, base_url=BASE)
    assert not client.closed


async def test_close_releases_the_session_and_is_final(sb: ZyntroSandbox) -> None:
    client = client_for(sb)
    await client.fetch_contact(sb.add_contact())
    await client.close()
    assert client.closed
    await client.close()  # idempotent
    with pytest.raises(ClientClosedError):
        await client.fetch_contact("a")
    assert sb.stats.requests == 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del client
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


async def test_a_caller_owned_session_is_used_and_never_closed(sb: ZyntroSandbox) -> None:
    sent: list[str] = []

    async def on_request_start(
        _session: aiohttp.ClientSession, _ctx: SimpleNamespace, params: Any
    ) -> None:
        sent.append(params.url.path)

    tracing = aiohttp.TraceConfig()
    tracing.on_request_start.append(on_request_start)
    async with aiohttp.ClientSession(trace_configs=[tracing]) as own:
        async with client_for(sb, session=own) as client:
            await client.fetch_contact(sb.add_contact())
        assert sent == ["/apis/v2/public/crm/fetchContact"]
        assert not own.closed
        async with own.post(sb.base_url + "fetchContact", json={}) as resp:  # still usable
            assert json.loads(await resp.read())["status"] == "error"


async def test_calls_after_close_raise_client_closed(sb: ZyntroSandbox) -> None:
    client = client_for(sb)
    await client.close()
    with pytest.raises(ClientClosedError):
        await client.fetch_contact("a")
    assert sb.stats.requests == 0


async def test_max_connections_bounds_the_requests_in_flight(sb: ZyntroSandbox) -> None:
    ids = sb.seed(12)
    sb.faults = Faults(latency=0.1)  # each answer holds its connection a while
    async with client_for(sb, limits=Limits(max_connections=3)) as client:
        await asyncio.gather(*(client.fetch_contact(cid) for cid in ids))
    assert sb.stats.fetch_contact.successes == 12
    assert sb.stats.peak_in_flight == 3
