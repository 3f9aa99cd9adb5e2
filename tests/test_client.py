"""ZyntroClient over a mocked network (aioresponses): what it sends, what it returns, and
how it manages its session."""

from __future__ import annotations

import asyncio
import json
import platform
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses

from tests.helpers import BASE, CREDS, doc_json
from zyntro_async import (
    ClientClosedError,
    ConnectError,
    ConnectTimeout,
    ContactDetails,
    DisconnectedError,
    NotFoundError,
    ReadTimeout,
    ValidationError,
    ZyntroClient,
    __version__,
)

FETCH = BASE + "fetchContact"
ADD = BASE + "addProfileToContact"


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    with aioresponses() as m:
        yield m


@pytest.fixture
async def client() -> AsyncIterator[ZyntroClient]:
    async with ZyntroClient(**CREDS, base_url=BASE, retry=None) as c:
        yield c


def sent(mocked: aioresponses, url: str) -> list[dict[str, Any]]:
    calls = [c for (method, u), cs in mocked.requests.items() if str(u) == url for c in cs]
    return [c.kwargs for c in calls]


async def test_fetch_contact_returns_typed_details(
    client: ZyntroClient, mocked: aioresponses
) -> None:
    mocked.post(FETCH, payload=doc_json("fetchContact_response_success.json"))
    details = await client.fetch_contact("a1b2", include_notes=True, include_entity=True)
    assert isinstance(details, ContactDetails)
    assert details.contact.first_name == "Jane"
    assert details.contact.auto_engage is True
    assert details.entity is not None


async def test_requests_are_json_posts_with_int_flags_and_a_user_agent(
    client: ZyntroClient, mocked: aioresponses
) -> None:
    mocked.post(FETCH, payload=doc_json("fetchContact_response_success.json"))
    await client.fetch_contact("a1b2", include_profile=True, member_id="m-other")
    (kwargs,) = sent(mocked, FETCH)
    body = json.loads(kwargs["data"])
    assert body["include_profile"] == 1
    assert body["include_notes"] == 0
    assert body["member_id"] == "m-other"
    assert body["contact_id"] == "a1b2"
    headers = kwargs["headers"]
    assert headers["Content-Type"] == "application/json"
    ua = headers["User-Agent"]
    assert f"zyntro-async/{__version__}" in ua
    assert f"Python/{platform.python_version()}" in ua
    assert f"aiohttp/{aiohttp.__version__}" in ua
    assert kwargs["allow_redirects"] is False


async def test_add_profile_returns_the_created_profile(
    client: ZyntroClient, mocked: aioresponses
) -> None:
    mocked.post(ADD, payload=doc_json("addProfileToContact_response_success.json"))
    profile = await client.add_profile_to_contact("a1b2", {"job_title": "VP"}, "LinkedIn Scraper")
    assert profile.id == 142
    (kwargs,) = sent(mocked, ADD)
    assert json.loads(kwargs["data"])["profile_payload"] == {"job_title": "VP"}


async def test_api_error_is_raised_typed(client: ZyntroClient, mocked: aioresponses) -> None:
    mocked.post(FETCH, payload={"data": ["No such contact"], "status": "error"})
    with pytest.raises(NotFoundError) as info:
        await client.fetch_contact("nope")
    assert info.value.code == "NOT_FOUND"
    assert info.value.contact_id == "nope"


async def test_invalid_input_never_reaches_the_network(
    client: ZyntroClient, mocked: aioresponses
) -> None:
    with pytest.raises(ValidationError):
        await client.add_profile_to_contact("c", {"x": {1, 2}}, "s")  # type: ignore[dict-item]
    with pytest.raises(ValidationError):
        await client.fetch_contact("")
    assert not mocked.requests


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            aiohttp.ClientConnectorError(
                aiohttp.client_reqrep.ConnectionKey("h", 443, True, True, None, None, None),
                OSError(111, "Connection refused"),
            ),
            ConnectError,
        ),
        (aiohttp.ConnectionTimeoutError("pool"), ConnectTimeout),
        (aiohttp.SocketTimeoutError("read"), ReadTimeout),
        (asyncio.TimeoutError(), ReadTimeout),
        (aiohttp.ServerDisconnectedError(), DisconnectedError),
        (aiohttp.ClientPayloadError("truncated"), DisconnectedError),
    ],
)
async def test_network_failures_map_to_the_tree(
    client: ZyntroClient, mocked: aioresponses, exc: Exception, expected: type[Exception]
) -> None:
    mocked.post(FETCH, exception=exc)
    with pytest.raises(expected) as info:
        await client.fetch_contact("c-9")
    assert info.value.endpoint == "fetchContact"  # type: ignore[attr-defined]
    assert CREDS["api_key"] not in str(info.value)


async def test_session_is_created_lazily_and_closed() -> None:
    client = ZyntroClient(**CREDS, base_url=BASE)
    assert client._transport._session is None
    with aioresponses() as m:
        m.post(FETCH, payload=doc_json("fetchContact_response_success.json"))
        await client.fetch_contact("a")
    session = client._transport._session
    assert session is not None
    await client.close()
    assert session.closed
    assert client.closed
    await client.close()  # idempotent


async def test_a_caller_owned_session_is_used_and_never_closed() -> None:
    async with aiohttp.ClientSession() as own:
        async with ZyntroClient(**CREDS, base_url=BASE, session=own) as client:
            with aioresponses() as m:
                m.post(FETCH, payload=doc_json("fetchContact_response_success.json"))
                await client.fetch_contact("a")
            assert client._transport._get_session() is own
        assert not own.closed


async def test_calls_after_close_raise_client_closed(mocked: aioresponses) -> None:
    client = ZyntroClient(**CREDS, base_url=BASE)
    await client.close()
    with pytest.raises(ClientClosedError):
        await client.fetch_contact("a")
    assert not mocked.requests


async def test_connector_limit_comes_from_limits() -> None:
    from zyntro_async import Limits

    async with ZyntroClient(**CREDS, base_url=BASE, limits=Limits(max_connections=7)) as client:
        session = client._transport._get_session()
        assert session.connector is not None
        assert session.connector.limit == 7
