"""Injected faults, as a raw aiohttp client sees them."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import attrs
import pytest

from zyntro_async.testing import Fault, Faults, ZyntroSandbox


@pytest.fixture
async def sb() -> AsyncIterator[ZyntroSandbox]:
    async with ZyntroSandbox() as sandbox:
        yield sandbox


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def add_body(sb: ZyntroSandbox, contact_id: str, n: int = 0) -> dict[str, Any]:
    return {
        **sb.credentials,
        "contact_id": contact_id,
        "profile_source": "test",
        "profile_payload": {"n": n},
    }


async def status_of(
    http: aiohttp.ClientSession, sb: ZyntroSandbox, endpoint: str, body: dict[str, Any]
) -> int:
    async with http.post(sb.base_url + endpoint, json=body) as resp:
        await resp.read()
        return resp.status


# ------------------------------------------------------------------------- status faults


async def test_rate_limit_is_429_with_retry_after(
    sb: ZyntroSandbox, http: aiohttp.ClientSession
) -> None:
    sb.script("fetchContact", Fault.RATE_LIMIT)
    async with http.post(sb.base_url + "fetchContact", json={}) as resp:
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "1"
    sb.faults = Faults(retry_after=2.5)
    sb.script("fetchContact", Fault.RATE_LIMIT)
    async with http.post(sb.base_url + "fetchContact", json={}) as resp:
        assert resp.headers["Retry-After"] == "2.5"


async def test_server_error_alternates_json_and_text(
    sb: ZyntroSandbox, http: aiohttp.ClientSession
) -> None:
    sb.script("fetchContact", Fault.SERVER_ERROR, Fault.SERVER_ERROR)
    async with http.post(sb.base_url + "fetchContact", json={}) as resp:
        assert (resp.status, resp.content_type) == (500, "application/json")
        assert (await resp.json())["status"] == "error"
    async with http.post(sb.base_url + "fetchContact", json={}) as resp:
        assert (resp.status, resp.content_type) == (500, "text/plain")
    sb.faults = Faults(server_error_body="text")
    sb.script("fetchContact", Fault.SERVER_ERROR)
    async with http.post(sb.base_url + "fetchContact", json={}) as resp:
        assert resp.content_type == "text/plain"


async def test_bad_gateway_is_nginx_html(sb: ZyntroSandbox, http: aiohttp.ClientSession) -> None:
    sb.script("addProfileToContact", Fault.BAD_GATEWAY_HTML)
    async with http.post(sb.base_url + "addProfileToContact", json={}) as resp:
        assert (resp.status, resp.content_type) == (502, "text/html")
        text = await resp.text()
    assert "<title>502 Bad Gateway</title>" in text
    assert "nginx" in text


async def test_unavailable_is_503_with_optional_retry_after(
    sb: ZyntroSandbox, http: aiohttp.ClientSession
) -> None:
    sb.script("fetchContact", Fault.UNAVAILABLE)
    async with http.post(sb.base_url + "fetchContact", json={}) as resp:
        assert resp.status == 503
        assert resp.headers["Retry-After"] == "1"
    sb.faults = Faults(unavailable_retry_after=False)
    sb.script("fetchContact", Fault.UNAVAILABLE)
    async with http.post(sb.base_url + "fetchContact", json={}) as resp:
        assert resp.status == 503
        assert "Retry-After" not in resp.headers


@pytest.mark.parametrize(
    "fault", [Fault.RATE_LIMIT, Fault.SERVER_ERROR, Fault.BAD_GATEWAY_HTML, Fault.UNAVAILABLE]
)
async def test_status_faults_happen_before_any_state_change(
    sb: ZyntroSandbox, http: aiohttp.ClientSession, fault: Fault
) -> None:
    contact_id = sb.add_contact()
    sb.script("addProfileToContact", fault)
    assert await status_of(http, sb, "addProfileToContact", add_body(sb, contact_id)) >= 429
    assert sb.profiles(contact_id) == []
    assert await status_of(http, sb, "addProfileToContact", add_body(sb, contact_id)) == 200
    assert [p["profile_id"] for p in sb.profiles(contact_id)] == [1]
    stats = sb.stats.add_profile_to_contact
    assert (stats.requests, stats.successes, stats.faults) == (2, 1, {fault: 1})


# ------------------------------------------------------------------- after-commit faults


async def test_drop_after_commit_disconnects_and_stores(
    sb: ZyntroSandbox, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    contact_id = sb.add_contact()
    sb.script("addProfileToContact", Fault.DROP_AFTER_COMMIT)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await status_of(http, sb, "addProfileToContact", add_body(sb, contact_id, 1))
    assert sb.profiles(contact_id) == [
        {"profile_id": 1, "profile_source": "test", "profile_payload": {"n": 1}}
    ]
    # The same session keeps working afterwards.
    assert await status_of(http, sb, "addProfileToContact", add_body(sb, contact_id, 2)) == 200
    assert [p["profile_id"] for p in sb.profiles(contact_id)] == [1, 2]
    sb.script("fetchContact", Fault.DROP_AFTER_COMMIT)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await status_of(http, sb, "fetchContact", {**sb.credentials, "contact_id": contact_id})
    assert sb.stats.faults == {Fault.DROP_AFTER_COMMIT: 2}
    assert caplog.records == []


async def test_timeout_after_commit_outlasts_client_timeout_and_stores(
    sb: ZyntroSandbox, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    contact_id = sb.add_contact()
    sb.faults = Faults(hang_seconds=30)
    sb.script("addProfileToContact", Fault.TIMEOUT_AFTER_COMMIT)
    started = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        async with http.post(
            sb.base_url + "addProfileToContact",
            json=add_body(sb, contact_id),
            timeout=aiohttp.ClientTimeout(total=0.2),
        ):
            pass
    assert time.monotonic() - started < 2
    assert [p["profile_id"] for p in sb.profiles(contact_id)] == [1]
    assert caplog.records == []


async def test_timeout_after_commit_closes_after_hang(
    sb: ZyntroSandbox, http: aiohttp.ClientSession
) -> None:
    contact_id = sb.add_contact()
    sb.faults = Faults(hang_seconds=0.1)
    sb.script("addProfileToContact", Fault.TIMEOUT_AFTER_COMMIT)
    started = time.monotonic()
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await status_of(http, sb, "addProfileToContact", add_body(sb, contact_id))
    assert 0.1 <= time.monotonic() - started < 2
    assert len(sb.profiles(contact_id)) == 1


async def test_stop_releases_a_hanging_answer_at_once(http: aiohttp.ClientSession) -> None:
    sandbox = ZyntroSandbox(faults=Faults(hang_seconds=30))
    await sandbox.start()
    sandbox.script("fetchContact", Fault.TIMEOUT_AFTER_COMMIT)
    pending = asyncio.ensure_future(status_of(http, sandbox, "fetchContact", {}))
    # Answered (an error: the body is empty), and now hanging on to the connection.
    await sandbox.wait_until(lambda s: s.fetch_contact.errors.total() == 1 and s.in_flight == 1)
    started = time.monotonic()
    await sandbox.stop()
    assert time.monotonic() - started < 2
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await pending


# ------------------------------------------------------------------- scripts and dice


async def test_script_is_consumed_in_order_per_endpoint(
    sb: ZyntroSandbox, http: aiohttp.ClientSession
) -> None:
    contact_id = sb.add_contact()
    fetch = {**sb.credentials, "contact_id": contact_id}
    sb.script("fetchContact", Fault.RATE_LIMIT, None, Fault.SERVER_ERROR)
    sb.script("fetchContact", Fault.UNAVAILABLE)
    assert await status_of(http, sb, "addProfileToContact", add_body(sb, contact_id)) == 200
    statuses = [await status_of(http, sb, "fetchContact", fetch) for _ in range(5)]
    assert statuses == [429, 200, 500, 503, 200]


def test_script_rejects_unknown_endpoint_and_non_faults() -> None:
    sandbox = ZyntroSandbox()
    with pytest.raises(ValueError, match="fetchContacts"):
        sandbox.script("fetchContacts", Fault.RATE_LIMIT)
    with pytest.raises(TypeError):
        sandbox.script("fetchContact", "rate_limit")  # type: ignore[arg-type]


async def fault_sequence(seed: int, n: int = 40) -> list[int]:
    faults = Faults(rate_limit=0.2, server_error=0.2, unavailable=0.2, jitter=0.001)
    async with ZyntroSandbox(seed=seed, faults=faults) as sandbox, aiohttp.ClientSession() as s:
        return [await status_of(s, sandbox, "fetchContact", {}) for _ in range(n)]


async def test_same_seed_same_fault_sequence() -> None:
    first, again, other = await fault_sequence(7), await fault_sequence(7), await fault_sequence(8)
    assert first == again
    assert first != other
    assert {429, 500, 503, 200} <= set(first)


async def test_probabilities_respect_endpoints_and_runtime_changes(
    sb: ZyntroSandbox, http: aiohttp.ClientSession
) -> None:
    sb.faults = Faults(rate_limit=1.0, endpoints={"addProfileToContact"})
    assert await status_of(http, sb, "fetchContact", {}) == 200
    assert await status_of(http, sb, "addProfileToContact", {}) == 429
    sb.faults = Faults(server_error=1.0, endpoints="fetchContact")
    assert await status_of(http, sb, "fetchContact", {}) == 500
    assert await status_of(http, sb, "addProfileToContact", {}) == 200
    sb.faults = Faults()
    assert await status_of(http, sb, "fetchContact", {}) == 200
    assert sb.stats.fetch_contact.faults == {Fault.SERVER_ERROR: 1}
    assert sb.stats.add_profile_to_contact.faults == {Fault.RATE_LIMIT: 1}


async def test_latency_and_jitter_delay_every_answer(
    sb: ZyntroSandbox, http: aiohttp.ClientSession
) -> None:
    sb.faults = Faults(latency=0.05, jitter=0.05, endpoints={"addProfileToContact"})
    for _ in range(3):
        started = time.monotonic()
        await status_of(http, sb, "fetchContact", {})
        assert 0.05 <= time.monotonic() - started < 1.0


# --------------------------------------------------------------------------- Faults value


def test_parse_cli_string() -> None:
    faults = Faults.parse(
        "rate_limit=0.05, server_error=0.02,latency=0.01,endpoints=fetchContact,"
        "unavailable_retry_after=no,hang-seconds=2"
    )
    assert faults == Faults(
        rate_limit=0.05,
        server_error=0.02,
        latency=0.01,
        endpoints={"fetchContact"},
        unavailable_retry_after=False,
        hang_seconds=2,
    )
    assert Faults.parse("") == Faults()
    both = Faults.parse("endpoints=fetchContact|addProfileToContact")
    assert both.endpoints == frozenset({"fetchContact", "addProfileToContact"})


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("rate_limt=0.1", "rate_limt"),
        ("latency=fast", "latency"),
        ("server_error", "server_error"),
        ("rate_limit=1.5", "rate_limit"),
        ("rate_limit=0.6,server_error=0.6", "sum"),
        ("endpoints=deleteContact", "deleteContact"),
        ("unavailable_retry_after=maybe", "unavailable_retry_after"),
        ("server_error_body=xml", "server_error_body"),
    ],
)
def test_parse_names_the_bad_option(spec: str, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        Faults.parse(spec)


def test_faults_is_frozen_and_validated() -> None:
    faults = Faults()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        faults.latency = 1.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="latency"):
        Faults(latency=-1)
    dice = [f for f in Fault if f is not Fault.QUOTA]  # the quota's bucket decides QUOTA
    assert [kind for kind, _ in faults.probabilities] == dice
    assert all(hasattr(faults, f.value) for f in dice)
