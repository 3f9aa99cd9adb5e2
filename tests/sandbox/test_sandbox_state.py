"""Sandbox state: contacts, profiles, include flags, seeding, counters, request log, lifecycle."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from zyntro_async.testing import (
    Fault,
    Faults,
    RecordedRequest,
    ZyntroSandbox,
    seeded_contact_ids,
    serve,
)
from zyntro_async.testing.__main__ import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def sb() -> AsyncIterator[ZyntroSandbox]:
    async with ZyntroSandbox() as sandbox:
        yield sandbox


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(http: aiohttp.ClientSession, sb: ZyntroSandbox, endpoint: str, **fields: Any) -> Any:
    body = {**sb.credentials, **fields}
    async with http.post(sb.base_url + endpoint, json=body) as resp:
        assert resp.status == 200
        return await resp.json()


async def add_profile(
    http: aiohttp.ClientSession, sb: ZyntroSandbox, contact_id: str, payload: Any, source: str
) -> Any:
    answer = await call(
        http,
        sb,
        "addProfileToContact",
        contact_id=contact_id,
        profile_payload=payload,
        profile_source=source,
    )
    assert answer["status"] == "success", answer
    return answer["data"]


# -------------------------------------------------------------------------------- profiles


async def test_profiles_are_additive_with_increasing_ids(
    sb: ZyntroSandbox, http: aiohttp.ClientSession
) -> None:
    a, b = sb.add_contact(), sb.add_contact()
    answers = [
        await add_profile(http, sb, a, {"z": 1, "a": 2}, "LinkedIn"),
        await add_profile(http, sb, b, ["x", "y"], "Clearbit"),
        await add_profile(http, sb, a, {"z": 1, "a": 2}, "LinkedIn"),
    ]
    assert [d["profile_id"] for d in answers] == [1, 2, 3]
    assert list(answers[0]["profile_payload"]) == ["a", "z"]  # echoed in MySQL order
    stored = sb.profiles(a)
    assert stored == [
        {"profile_id": 1, "profile_source": "LinkedIn", "profile_payload": {"z": 1, "a": 2}},
        {"profile_id": 3, "profile_source": "LinkedIn", "profile_payload": {"z": 1, "a": 2}},
    ]
    assert list(stored[0]["profile_payload"]) == ["z", "a"]  # stored as received
    assert sb.profiles(b)[0]["profile_payload"] == ["x", "y"]
    assert sb.profiles(str(uuid.uuid4())) == []
    stored[0]["profile_payload"]["z"] = 99  # a copy: the sandbox state is untouched
    assert sb.profiles(a)[0]["profile_payload"]["z"] == 1


async def test_numeric_profile_source_is_stored_as_string(
    sb: ZyntroSandbox, http: aiohttp.ClientSession
) -> None:
    contact_id = sb.add_contact()
    answer = await call(
        http,
        sb,
        "addProfileToContact",
        contact_id=contact_id,
        profile_payload={"k": "v"},
        profile_source=7,
    )
    assert answer["data"]["profile_source"] == "7"


# --------------------------------------------------------------------------- include flags


@pytest.mark.parametrize("on", [1, "1", True])
async def test_include_flags_on(sb: ZyntroSandbox, http: aiohttp.ClientSession, on: Any) -> None:
    contact_id = sb.add_contact(notes=["Called, left a voicemail."], entity={"name": "Acme"})
    profile = await add_profile(http, sb, contact_id, {"b": 1, "aa": 2}, "OSINT")
    answer = await call(
        http,
        sb,
        "fetchContact",
        contact_id=contact_id,
        include_notes=on,
        include_entity=on,
        include_signals=on,
        include_profile=on,
    )
    data = answer["data"]
    assert [n["note_content"] for n in data["notes"]] == ["Called, left a voicemail."]
    assert data["notes"][0]["note_maker"] == sb.credentials["member_id"]
    assert data["entity"]["entity_name"] == "Acme"
    assert all(isinstance(v, str) for v in data["entity"].values())
    assert data["contact_profile"] == [profile]
    assert list(data["contact_profile"][0]) == ["profile_id", "profile_source", "profile_payload"]
    assert data["signals"]
    for signal_ in data["signals"]:
        assert list(signal_) == ["signal_type", "signal_label", "signal_date_created"]
        assert all(isinstance(v, str) for v in signal_.values())


@pytest.mark.parametrize("off", [0, "0", False, None, 2, "yes", "true"])
async def test_include_flags_off(sb: ZyntroSandbox, http: aiohttp.ClientSession, off: Any) -> None:
    contact_id = sb.add_contact(notes=["n"], entity={"name": "Acme"})
    answer = await call(
        http,
        sb,
        "fetchContact",
        contact_id=contact_id,
        include_notes=off,
        include_entity=off,
        include_signals=off,
        include_profile=off,
    )
    data = answer["data"]
    assert list(data) == ["notes", "entity", "contact", "signals", "contact_profile"]
    assert data["notes"] is data["entity"] is data["signals"] is data["contact_profile"] is None


async def test_included_but_absent_data(sb: ZyntroSandbox, http: aiohttp.ClientSession) -> None:
    contact_id = sb.add_contact(signals=[])
    flags = {f"include_{k}": 1 for k in ("notes", "entity", "signals", "profile")}
    data = (await call(http, sb, "fetchContact", contact_id=contact_id, **flags))["data"]
    assert data["notes"] == []
    assert data["entity"] is None
    assert data["signals"] == []
    assert data["contact_profile"] == []


# ----------------------------------------------------------------------------- add_contact


def test_add_contact_converts_to_wire_format() -> None:
    sandbox = ZyntroSandbox()
    contact_id = sandbox.add_contact(
        first_name="Ada",
        last_name="Lovelace",
        dnc=True,
        email_verified=False,
        tags=["a", "b"],
        custom_fields={"plan": "pro"},
        date_created=datetime(2024, 2, 3, 4, 5, 6),
        date_updated=date(2024, 3, 1),
        stage_id="stage-1",
        zip=94105,
        phone=None,
        favourite_color="green",
        contact_is_test=1,
    )
    contact = sandbox.contact(contact_id)
    assert contact["contact_name"] == "Ada Lovelace"
    assert contact["contact_email"] == "ada.lovelace@example.com"
    assert contact["contact_dnc"] == "1"
    assert contact["contact_email_verified"] == "0"
    assert contact["contact_tags"] == '["a", "b"]'
    assert contact["contact_custom_fields"] == '{"plan": "pro"}'
    assert contact["contact_date_created"] == "2024-02-03 04:05:06"
    assert contact["contact_date_updated"] == "2024-03-01 00:00:00"
    assert contact["contact_stageid"] == "stage-1"
    assert "contact_stage_id" not in contact
    assert contact["contact_zip"] == "94105"
    assert contact["contact_phone"] == ""
    assert contact["contact_favourite_color"] == "green"
    assert contact["contact_is_test"] == 1  # raw contact_* override, served verbatim
    assert contact["contact_owner"] == sandbox.credentials["member_id"]
    assert str(uuid.UUID(contact_id)) == contact_id


def test_add_contact_defaults_cover_every_documented_field() -> None:
    sandbox = ZyntroSandbox()
    contact = sandbox.contact(sandbox.add_contact())
    documented = json.loads(
        (REPO / "tests/fixtures/docs/fetchContact_response_success.json").read_text()
    )["data"]["contact"]
    assert list(contact) == list(documented)
    assert all(isinstance(v, str) for v in contact.values())
    assert re.match(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$", contact["contact_date_created"])


def test_add_contact_rejects_duplicates_and_non_json_values() -> None:
    sandbox = ZyntroSandbox()
    contact_id = sandbox.add_contact(id="c-1")
    assert contact_id == "c-1"
    with pytest.raises(ValueError, match="c-1"):
        sandbox.add_contact(id="c-1")
    with pytest.raises(TypeError):
        sandbox.add_contact(mystery=object())


async def test_orgs_are_isolated(sb: ZyntroSandbox, http: aiohttp.ClientSession) -> None:
    other_org = str(uuid.uuid4())
    other = sb.add_credentials(org_id=other_org)
    theirs = sb.add_contact(org_id=other_org, owner=other["member_id"])
    ours = sb.add_contact()
    answer = await call(http, sb, "fetchContact", contact_id=theirs)
    assert answer["data"] == ["No such contact"]
    async with http.post(
        sb.base_url + "fetchContact", json={**other, "contact_id": theirs}
    ) as resp:
        assert (await resp.json())["status"] == "success"
    async with http.post(sb.base_url + "fetchContact", json={**other, "contact_id": ours}) as resp:
        assert (await resp.json())["data"] == ["No such contact"]


async def test_second_member_of_same_org_can_read_but_not_add(
    sb: ZyntroSandbox, http: aiohttp.ClientSession
) -> None:
    colleague = sb.add_credentials()
    assert colleague["org_id"] == sb.credentials["org_id"]
    assert colleague["member_id"] != sb.credentials["member_id"]
    contact_id = sb.add_contact()
    body: dict[str, Any] = {**colleague, "contact_id": contact_id}
    async with http.post(sb.base_url + "fetchContact", json=body) as resp:
        assert (await resp.json())["status"] == "success"
    body = {**body, "profile_payload": {"k": 1}, "profile_source": "s"}
    async with http.post(sb.base_url + "addProfileToContact", json=body) as resp:
        assert (await resp.json())["data"] == [
            "The API only supports notes being added by the member that owns the contact."
        ]


# --------------------------------------------------------------------------------- seeding


def test_seed_is_deterministic_and_continues_across_calls() -> None:
    one, two, other = ZyntroSandbox(seed=3), ZyntroSandbox(seed=3), ZyntroSandbox(seed=4)
    ids = one.seed(5)
    assert two.seed(2) + two.seed(3) == ids == seeded_contact_ids(3, 5)
    assert other.seed(5) != ids
    assert len(set(ids)) == 5

    def content(sandbox: ZyntroSandbox, contact_id: str) -> dict[str, Any]:
        contact = sandbox.contact(contact_id)
        del contact["contact_owner"]  # the sandboxes have different members
        return contact

    # Content does not depend on the order contacts are first read in.
    assert [content(one, c) for c in ids] == [content(two, c) for c in reversed(ids)][::-1]


async def test_seeded_contacts_are_realistic(
    sb: ZyntroSandbox, http: aiohttp.ClientSession
) -> None:
    ids = sb.seed(200)
    flags = {f"include_{k}": 1 for k in ("notes", "entity", "signals", "profile")}
    with_notes = with_entity = 0
    for contact_id in ids[:60]:
        answer = await call(http, sb, "fetchContact", contact_id=contact_id, **flags)
        data = answer["data"]
        contact = data["contact"]
        assert contact["contact_id"] == contact_id
        assert all(isinstance(v, str) for v in contact.values())
        assert contact["contact_name"] == (
            f"{contact['contact_first_name']} {contact['contact_last_name']}"
        )
        assert "@" in contact["contact_email"]
        assert isinstance(json.loads(contact["contact_tags"]), list)
        assert contact["contact_date_updated"] >= contact["contact_date_created"]
        with_notes += bool(data["notes"])
        with_entity += data["entity"] is not None
    assert 0 < with_notes < 60
    assert 0 < with_entity < 60
    profile = await add_profile(http, sb, ids[0], {"k": "v"}, "s")
    assert profile["profile_id"] == 1


def test_seed_many_contacts() -> None:
    sandbox = ZyntroSandbox(seed=1)
    started = time.perf_counter()
    ids = sandbox.seed(100_000)
    elapsed = time.perf_counter() - started
    assert len(set(ids)) == 100_000
    assert sandbox.contact(ids[-1])["contact_id"] == ids[-1]
    assert elapsed < 10  # typically well under a second; generous for loaded CI machines


# ------------------------------------------------------------------- counters and request log


async def test_stats_count_requests_successes_and_errors(
    sb: ZyntroSandbox, http: aiohttp.ClientSession
) -> None:
    contact_id = sb.add_contact()
    await call(http, sb, "fetchContact", contact_id=contact_id)
    await call(http, sb, "fetchContact", contact_id=str(uuid.uuid4()))
    await call(http, sb, "fetchContact")
    await add_profile(http, sb, contact_id, {"k": 1}, "s")
    fetch, add = sb.stats["fetchContact"], sb.stats["addProfileToContact"]
    assert (fetch.requests, fetch.successes) == (3, 1)
    assert fetch.errors == {"NOT_FOUND": 1, "MISSING_CONTACT_ID": 1}
    assert (add.requests, add.successes, add.errors) == (1, 1, {})
    assert sb.stats.requests == 4
    with pytest.raises(KeyError):
        sb.stats["deleteContact"]


async def test_request_log_redacts_secrets(sb: ZyntroSandbox, http: aiohttp.ClientSession) -> None:
    contact_id = sb.add_contact()
    creds = sb.credentials
    async with http.post(
        sb.base_url + "fetchContact",
        json={**creds, "contact_id": contact_id, "include_notes": 1},
        headers={"User-Agent": "zyntro-async-test/1.0", "Authorization": "Bearer secret"},
    ) as resp:
        await resp.read()
    await call(http, sb, "addProfileToContact", api_key="", developer_secret=None)
    first, second = sb.requests
    assert isinstance(first, RecordedRequest)
    assert first.endpoint == "fetchContact"
    assert first.body == {
        **creds,
        "api_key": "***",
        "developer_secret": "***",
        "contact_id": contact_id,
        "include_notes": 1,
    }
    assert first.headers["User-Agent"] == "zyntro-async-test/1.0"
    assert first.headers["Authorization"] == "***"
    assert first.remote == "127.0.0.1"
    assert second.endpoint == "addProfileToContact"
    assert (second.body["api_key"], second.body["developer_secret"]) == ("", None)
    logged = repr(list(sb.requests))
    assert creds["api_key"] not in logged
    assert creds["developer_secret"] not in logged
    assert "Bearer secret" not in logged


async def test_request_log_is_bounded(http: aiohttp.ClientSession) -> None:
    async with ZyntroSandbox(record_requests=2) as sandbox:
        for n in range(4):
            await call(http, sandbox, "fetchContact", contact_id=f"c{n}")
        assert [r.body["contact_id"] for r in sandbox.requests] == ["c2", "c3"]
    async with ZyntroSandbox(record_requests=0) as sandbox:
        await call(http, sandbox, "fetchContact")
        assert list(sandbox.requests) == []
        assert sandbox.stats.requests == 1


# -------------------------------------------------------------------------------- waiting


async def test_waiting_for_the_server_instead_of_sleeping(http: aiohttp.ClientSession) -> None:
    sandbox = ZyntroSandbox(faults=Faults(hang_seconds=30))
    await sandbox.start()
    contact_id = sandbox.add_contact()
    # Three fetches that commit, then hang until the sandbox stops: in flight, for sure.
    sandbox.script("fetchContact", *[Fault.TIMEOUT_AFTER_COMMIT] * 3)
    pending = [
        asyncio.ensure_future(call(http, sandbox, "fetchContact", contact_id=contact_id))
        for _ in range(3)
    ]
    await sandbox.wait_for_requests(3, "fetchContact")
    assert sandbox.stats.requests == 3
    await sandbox.wait_until(lambda s: s.fetch_contact.successes == 3)
    assert (sandbox.stats.in_flight, sandbox.stats.peak_in_flight) == (3, 3)
    await sandbox.wait_for_requests(3)  # already true: returns at once
    with pytest.raises(asyncio.TimeoutError, match="did not reach"):
        await sandbox.wait_for_requests(1, "addProfileToContact", timeout=0.05)
    with pytest.raises(KeyError):
        await sandbox.wait_for_requests(1, "deleteContact")
    await sandbox.stop()  # releases the hanging answers
    for outcome in await asyncio.gather(*pending, return_exceptions=True):
        assert isinstance(outcome, aiohttp.ServerDisconnectedError)
    assert (sandbox.stats.in_flight, sandbox.stats.peak_in_flight) == (0, 3)


async def test_a_condition_that_raises_fails_its_waiter_not_the_server(
    sb: ZyntroSandbox, http: aiohttp.ClientSession
) -> None:
    waiting = asyncio.ensure_future(sb.wait_until(lambda s: 1 / (s.requests - 1) > 0))
    assert (await call(http, sb, "fetchContact"))["status"] == "error"
    with pytest.raises(ZeroDivisionError):
        await waiting
    assert (await call(http, sb, "fetchContact"))["status"] == "error"  # still serving


# -------------------------------------------------------------------------------- lifecycle


async def test_lifecycle_and_urls(http: aiohttp.ClientSession) -> None:
    sandbox = ZyntroSandbox()
    with pytest.raises(RuntimeError):
        _ = sandbox.base_url
    await sandbox.start()
    try:
        with pytest.raises(RuntimeError):
            await sandbox.start()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/apis/v2/public/crm/", sandbox.base_url)
        assert sandbox.port > 0
        creds = sandbox.credentials
        assert re.fullmatch(r"zk_test_[0-9a-f]{32}", creds["api_key"])
        assert re.fullmatch(r"zdk_[0-9a-f]{40}", creds["developer_secret"])
        assert str(uuid.UUID(creds["org_id"])) == creds["org_id"]
        assert str(uuid.UUID(creds["member_id"])) == creds["member_id"]
        assert creds != ZyntroSandbox().credentials
        assert (await call(http, sandbox, "fetchContact"))["status"] == "error"
    finally:
        await sandbox.stop()
    await sandbox.stop()  # idempotent
    with pytest.raises(aiohttp.ClientConnectionError):
        await call(http, sandbox, "fetchContact")


# ------------------------------------------------------------------------------ dev server


async def test_serve_prints_exports_and_serves_until_cancelled(
    http: aiohttp.ClientSession,
) -> None:
    class Out(io.StringIO):
        """Says when serve() has flushed its lines: it is serving by then."""

        def __init__(self) -> None:
            super().__init__()
            self.flushed = asyncio.Event()

        def flush(self) -> None:
            super().flush()
            self.flushed.set()

    out = Out()
    task = asyncio.create_task(serve(contacts=3, seed=5, out=out))
    await asyncio.wait_for(out.flushed.wait(), 10)
    env = dict(re.findall(r"^export (ZYNTRO_\w+)=(\S+)$", out.getvalue(), re.M))
    assert set(env) == {
        "ZYNTRO_BASE_URL",
        "ZYNTRO_API_KEY",
        "ZYNTRO_DEVELOPER_SECRET",
        "ZYNTRO_ORG_ID",
        "ZYNTRO_MEMBER_ID",
    }
    body = {
        "api_key": env["ZYNTRO_API_KEY"],
        "developer_secret": env["ZYNTRO_DEVELOPER_SECRET"],
        "org_id": env["ZYNTRO_ORG_ID"],
        "member_id": env["ZYNTRO_MEMBER_ID"],
        "contact_id": seeded_contact_ids(5, 3)[2],
    }
    async with http.post(env["ZYNTRO_BASE_URL"] + "fetchContact", json=body) as resp:
        assert (await resp.json())["status"] == "success"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_cli_rejects_bad_faults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--faults", "rate_limt=0.1"])
    assert exc.value.code == 2
    assert "rate_limt" in capsys.readouterr().err


def test_python_m_runs_a_server_that_stops_on_sigterm() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "zyntro_async.testing", "--contacts", "2"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as proc:
        try:
            assert proc.stdout is not None
            lines = [proc.stdout.readline() for _ in range(6)]
            assert lines[0].startswith("# Zyntro sandbox at http://127.0.0.1:")
            assert lines[1].startswith("export ZYNTRO_BASE_URL=http://127.0.0.1:")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
