"""Hostile or broken answers give a typed ZyntroError (or a lenient success), never a
KeyError/TypeError/AttributeError/MemoryError; redirects are never followed."""

from __future__ import annotations

import asyncio
import gzip
import json
import math
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from zyntro_async import (
    ContactDetails,
    Limits,
    NotFoundError,
    Profile,
    RateLimitError,
    RetryPolicy,
    ServerError,
    Timeout,
    ZyntroClient,
    ZyntroError,
)
from zyntro_async._answers import interpret
from zyntro_async._config import Credentials
from zyntro_async._protocol import RawResponse, add_profile_call, fetch_contact_call
from zyntro_async.errors import ReadTimeout, TLSError

CREDS = Credentials(api_key="k", developer_secret="s", org_id="o", member_id="m")
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=12), c, max_size=6),
    max_leaves=25,
)
CONTACT_KEYS = st.sampled_from(
    ["contact_id", "contact_tags", "contact_dnc", "contact_date_created", "contact_custom_fields"]
)
SHAPED = st.fixed_dictionaries(
    {},
    optional={
        "contact": st.dictionaries(CONTACT_KEYS | st.text(max_size=8), JSON, max_size=6),
        "notes": JSON,
        "entity": JSON,
        "contact_profile": JSON,
        "signals": JSON,
        "profile_id": JSON,
        "profile_source": JSON,
        "profile_payload": JSON,
    },
)
BODIES = (
    st.binary(max_size=200)
    | st.builds(lambda d: json.dumps(d).encode(), JSON)
    | st.builds(
        lambda status, data: json.dumps({"status": status, "data": data}).encode(),
        st.sampled_from(["success", "error", "ok", 1, None]),
        JSON | SHAPED,
    )
    | st.builds(lambda b: b[: len(b) // 2], st.builds(lambda d: json.dumps(d).encode(), SHAPED))
)


RATE_HEADERS = st.dictionaries(
    st.sampled_from(
        [
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
            "RateLimit-Limit",
            "RateLimit-Remaining",
            "RateLimit-Reset",
            "Retry-After",
        ]
    ),
    st.text(max_size=24)
    | st.integers(min_value=-(10**15), max_value=10**15).map(str)
    | st.floats().map(str),
)


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(
    status=st.sampled_from([200, 200, 200, 201, 301, 404, 429, 500, 502, 503]),
    body=BODIES,
    rate=RATE_HEADERS,
)
def test_any_answer_is_a_model_or_a_typed_error(
    status: int, body: bytes, rate: dict[str, str]
) -> None:
    headers = {"Content-Type": "text/html", "Retry-After": "x", **rate}
    for call in (
        fetch_contact_call(
            CREDS,
            "c",
            include_notes=True,
            include_entity=True,
            include_profile=True,
            include_signals=True,
        ),
        add_profile_call(CREDS, "c", {"a": 1}, "s"),
    ):
        try:
            value = interpret(call, RawResponse(status=status, headers=headers, body=body))  # type: ignore[arg-type]
        except (RateLimitError, ServerError) as exc:
            evidence = (exc.limit, exc.remaining, exc.reset, exc.retry_after)
            assert all(v is None or (math.isfinite(v) and v >= 0) for v in evidence)
            continue
        except ZyntroError:
            continue
        assert isinstance(value, (ContactDetails, Profile))


# -- a raw server with crafted answers ------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def crafted() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    runners: list[web.AppRunner] = []
    hits: dict[str, int] = {}

    async def start(handler: Handler) -> str:
        app = web.Application()

        async def counting(request: web.Request) -> web.StreamResponse:
            hits[request.path] = hits.get(request.path, 0) + 1
            return await handler(request)

        app.router.add_route("*", "/{tail:.*}", counting)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}/crm/"

    start.hits = hits  # type: ignore[attr-defined]
    yield start
    for runner in runners:
        await runner.cleanup()


def client(base: str, **kwargs: Any) -> ZyntroClient:
    kwargs.setdefault("retry", RetryPolicy(max_attempts=2))
    return ZyntroClient(
        api_key="k", developer_secret="s", org_id="o", member_id="m", base_url=base, **kwargs
    )


async def test_a_gzip_bomb_is_capped(crafted: Any) -> None:
    bomb = gzip.compress(b"{" + b" " * (64 * 1024 * 1024) + b"}")  # 64 MiB of JSON, ~64 KiB sent

    async def handler(_: web.Request) -> web.Response:
        return web.Response(
            body=bomb, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )

    base = await crafted(handler)
    async with client(base, limits=Limits(max_response_bytes=1024 * 1024)) as c:
        with pytest.raises(ServerError, match="max_response_bytes"):
            await c.fetch_contact("x")


async def test_a_body_over_the_cap_is_refused_before_reading(crafted: Any) -> None:
    async def handler(_: web.Request) -> web.Response:
        return web.Response(body=b"x" * 3_000_000, content_type="application/json")

    base = await crafted(handler)
    async with client(base, limits=Limits(max_response_bytes=1_000_000)) as c:
        with pytest.raises(ServerError, match="exceeds"):
            await c.fetch_contact("x")


async def test_a_server_that_never_answers_times_out(crafted: Any) -> None:
    async def handler(_: web.Request) -> web.Response:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    base = await crafted(handler)
    async with client(base, timeout=Timeout(read=0.2, total=1)) as c:
        with pytest.raises(ReadTimeout):
            await c.fetch_contact("x")


async def test_redirects_are_not_followed_with_the_credentials(crafted: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        if request.path.endswith("fetchContact"):
            raise web.HTTPTemporaryRedirect("/elsewhere/steal")
        return web.json_response({"status": "success", "data": {}})

    base = await crafted(handler)
    async with client(base) as c:
        with pytest.raises(ServerError) as info:
            await c.fetch_contact("x")
    assert info.value.status == 307
    assert crafted.hits.get("/elsewhere/steal", 0) == 0
    assert crafted.hits["/crm/fetchContact"] == 1  # 3xx is fatal: not retried either


async def test_html_from_a_proxy_on_every_attempt(crafted: Any) -> None:
    async def handler(_: web.Request) -> web.Response:
        return web.Response(text="<html><body>Cloudflare</body></html>", content_type="text/html")

    base = await crafted(handler)
    async with client(base) as c:
        with pytest.raises(ServerError, match="envelope"):
            await c.fetch_contact("x")


TLS = Path(__file__).resolve().parent.parent / "fixtures" / "tls"


async def test_tls_verification_is_on_by_default() -> None:
    # A server with a self-signed certificate (tests/fixtures/tls, made for these tests):
    # nothing the system trusts vouches for it, so a default client must refuse it.
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(TLS / "self-signed.pem", TLS / "self-signed-key.pem")
    app = web.Application()

    async def answer(_: web.Request) -> web.Response:
        return web.json_response({"status": "error", "data": ["No such contact"]})

    app.router.add_post("/crm/fetchContact", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_side)
        await site.start()
        base = f"https://127.0.0.1:{runner.addresses[0][1]}/crm/"
        async with client(base) as c:
            with pytest.raises(TLSError):
                await c.fetch_contact("x")
        # The same server is reachable when the caller says not to verify: the refusal
        # above was the certificate check, not a broken server.
        unverified = ssl.create_default_context()
        unverified.check_hostname = False
        unverified.verify_mode = ssl.CERT_NONE
        async with client(base, ssl_context=unverified) as c:
            with pytest.raises(NotFoundError):
                await c.fetch_contact("x")
    finally:
        await runner.cleanup()


async def test_rate_limit_headers_reach_the_caller(crafted: Any) -> None:
    async def handler(_: web.Request) -> web.Response:
        headers = {"Retry-After": "0", "X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "0"}
        return web.Response(
            status=429, text="slow down", headers={**headers, "RateLimit-Reset": "9"}
        )

    base = await crafted(handler)
    async with client(base, retry=None) as c:
        with pytest.raises(RateLimitError) as info:
            await c.fetch_contact("x")
    assert (info.value.limit, info.value.remaining, info.value.reset) == (60, 0, 9)
