"""Proxies as the rest of the ecosystem has them: HTTPS_PROXY/HTTP_PROXY/NO_PROXY honoured by
default, ``proxy=`` and ``trust_env=False``, credentials in a proxy URL shown nowhere.
Through a real forward proxy (tinyproxy, :mod:`tests.tinyproxy`), to a sandbox on
127.0.0.1 over http and over https (a CONNECT tunnel, with the test CA in
``tests/fixtures/tls``). Loopback is not exempt from a proxy unless NO_PROXY says so.
The test process starts with no proxy variable (``tests/conftest.py``)."""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.tinyproxy import Tinyproxy, tinyproxy
from zyntro_async import ConfigurationError, ZyntroClient
from zyntro_async.errors import ConnectError, ProxyError
from zyntro_async.testing import ZyntroSandbox

__all__ = ["tinyproxy"]  # the fixture, imported for this module's tests

TLS = Path(__file__).resolve().parent / "fixtures" / "tls"


def _server_tls() -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(TLS / "self-signed.pem", TLS / "self-signed-key.pem")
    return context


def _trusting() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(TLS / "self-signed.pem"))


@pytest.fixture(params=["http", "https"])
async def sandbox(request: pytest.FixtureRequest) -> AsyncIterator[ZyntroSandbox]:
    tls = _server_tls() if request.param == "https" else None
    async with ZyntroSandbox(seed=5, ssl_context=tls) as sb:
        yield sb


def client_for(sb: ZyntroSandbox, **kwargs: Any) -> ZyntroClient:
    if sb.base_url.startswith("https:"):
        kwargs.setdefault("ssl_context", _trusting())
    return ZyntroClient(**sb.credentials, base_url=sb.base_url, **kwargs)


def proxy_variable(sb: ZyntroSandbox) -> str:
    return "HTTPS_PROXY" if sb.base_url.startswith("https:") else "HTTP_PROXY"


async def _enrich(client: ZyntroClient, ids: list[str]) -> int:
    report = await client.bulk_add_profiles(
        ({"contact_id": cid, "payload": {"n": n}, "source": "S"} for n, cid in enumerate(ids)),
        concurrency=4,
    )
    return report.succeeded


def assert_carried(proxy: Tinyproxy, sb: ZyntroSandbox, requests: int) -> None:
    plain, tunnels = proxy.carried(sb.port)
    if sb.base_url.startswith("https:"):
        assert 1 <= tunnels <= 4, proxy.requests()  # one CONNECT per pooled connection
        assert plain == 0
    else:
        assert (plain, tunnels) == (requests, 0), proxy.requests()
        via = {r.headers.get("Via", "") for r in sb.requests}
        assert all("tinyproxy" in v for v in via), via  # the sandbox heard the proxy


async def test_the_proxy_variable_is_honoured_by_default(
    sandbox: ZyntroSandbox,
    tinyproxy: Tinyproxy,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ids = sandbox.seed(12)
    monkeypatch.setenv(proxy_variable(sandbox), tinyproxy.url)
    with caplog.at_level(logging.DEBUG, logger="zyntro_async"):
        async with client_for(sandbox) as client:
            assert await _enrich(client, ids) == 12
            details = await client.fetch_contact(ids[0], include_profile=True)
            shown = repr(client)
    assert len(details.profiles or []) == 1
    assert_carried(tinyproxy, sandbox, requests=13)
    assert sandbox.stats.add_profile_to_contact.requests == 12
    # The proxy's password (which it checks: it is a real one) is in no output.
    assert f"proxy='http://***@127.0.0.1:{tinyproxy.port}'" in shown
    assert tinyproxy.password not in shown
    assert tinyproxy.password not in caplog.text


async def test_no_proxy_and_trust_env_false_bypass_it(
    sandbox: ZyntroSandbox, tinyproxy: Tinyproxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = sandbox.seed(6)
    monkeypatch.setenv(proxy_variable(sandbox).lower(), tinyproxy.url)
    async with client_for(sandbox, trust_env=False) as client:
        assert await _enrich(client, ids[:3]) == 3
    monkeypatch.setenv("NO_PROXY", "example.org,127.0.0.1")
    async with client_for(sandbox) as client:
        assert await _enrich(client, ids[3:]) == 3
        assert "proxy=" not in repr(client)
    assert tinyproxy.requests() == []
    assert sandbox.stats.add_profile_to_contact.requests == 6


async def test_an_explicit_proxy_wins_without_any_variable(
    sandbox: ZyntroSandbox, tinyproxy: Tinyproxy
) -> None:
    ids = sandbox.seed(5)
    async with client_for(sandbox, proxy=tinyproxy.url) as client:
        assert await _enrich(client, ids) == 5
    assert_carried(tinyproxy, sandbox, requests=5)


async def test_a_proxy_that_cannot_be_reached_is_a_proxy_error(
    sandbox: ZyntroSandbox, tinyproxy: Tinyproxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    (cid,) = sandbox.seed(1)
    tinyproxy.stop()
    monkeypatch.setenv(proxy_variable(sandbox), tinyproxy.url)
    async with client_for(sandbox, retry=None) as client:
        with pytest.raises(ProxyError) as info:
            await client.add_profile_to_contact(cid, {"a": 1}, "S")
    assert isinstance(info.value, ConnectError)  # nothing was sent: safe to send again
    assert "cannot connect to the proxy" in str(info.value)
    assert tinyproxy.password not in str(info.value)
    assert sandbox.stats.add_profile_to_contact.requests == 0  # nothing reached the API


async def test_a_tunnel_the_proxy_refuses_is_a_proxy_error_without_the_password(
    tinyproxy: Tinyproxy,
) -> None:
    async with ZyntroSandbox(seed=5, ssl_context=_server_tls()) as sb:
        (cid,) = sb.seed(1)
        wrong = tinyproxy.url.replace(tinyproxy.password, "not-the-password")
        async with client_for(sb, proxy=wrong, retry=None) as client:
            with pytest.raises(ProxyError) as info:
                await client.add_profile_to_contact(cid, {"a": 1}, "S")
        assert "the proxy refused a tunnel to the API: HTTP 40" in str(info.value)  # 401 or 407
        assert "not-the-password" not in str(info.value)
        assert sb.stats.add_profile_to_contact.requests == 0


def test_a_proxy_url_that_cannot_work_is_a_configuration_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    creds = {"api_key": "k", "developer_secret": "s", "org_id": "o", "member_id": "m"}
    monkeypatch.setenv("HTTPS_PROXY", "socks5://user:hunter2@proxy:1080")
    with pytest.raises(ConfigurationError) as info:
        ZyntroClient(**creds)
    assert "HTTPS_PROXY" in str(info.value)
    assert "hunter2" not in str(info.value)
    assert ZyntroClient(**creds, trust_env=False).base_url  # opting out ignores it
    with pytest.raises(ConfigurationError, match="proxy="):
        ZyntroClient(**creds, proxy="http://user:hunter2@[::1")
