"""Distinctive secrets and payload values appear in no repr, str, exception, log record
(DEBUG on), journal byte, CLI output or results file, on every error path."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import sys
import types
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.servers import free_port
from zyntro_async import (
    ConfigurationError,
    ProfileRequest,
    RetryPolicy,
    Timeout,
    ZyntroClient,
    ZyntroError,
)
from zyntro_async.testing import Fault, Faults, ZyntroSandbox

API_KEY = "zk_live_SECRETKEY_7f3a9c1e"
DEV_SECRET = "zdk_SECRETDEV_b8d2e4f6"
PAYLOAD_MARK = "PII-jane.doe@private.example"
SECRETS = (API_KEY, DEV_SECRET)


def leaks(text: str) -> list[str]:
    return [s for s in (*SECRETS, PAYLOAD_MARK) if s in text]


def exception_text(exc: BaseException) -> str:
    parts = [repr(exc), str(exc)]
    cause = exc.__cause__ or exc.__context__
    if cause is not None:
        parts.append(exception_text(cause))
    return "\n".join(parts)


@pytest.fixture
async def sandbox() -> AsyncIterator[ZyntroSandbox]:
    """A sandbox whose primary key is replaced by our distinctive secrets."""
    async with ZyntroSandbox(seed=5) as sb:
        yield sb


async def test_every_error_path_keeps_secrets_and_payloads_out(
    sandbox: ZyntroSandbox, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    creds = dict(sandbox.credentials)
    cid = sandbox.add_contact(first_name="Jane")
    payload = {"email": PAYLOAD_MARK, "nested": [PAYLOAD_MARK]}
    texts: list[str] = []
    wrong = {**creds, "api_key": API_KEY, "developer_secret": DEV_SECRET}
    dead = f"http://127.0.0.1:{free_port()}/crm/"
    policy = RetryPolicy(max_attempts=2)
    clients = [
        ZyntroClient(**wrong, base_url=sandbox.base_url, retry=policy),  # INVALID_API_KEY
        ZyntroClient(**wrong, base_url=dead, retry=policy),  # connection refused
    ]
    for client in clients:
        texts.append(repr(client))
        async with client:
            for call in (
                client.fetch_contact(cid, include_profile=True),
                client.add_profile_to_contact(cid, payload, "Src"),
                client.add_profile_to_contact(cid, {"bad": {1, 2}, "e": PAYLOAD_MARK}, "Src"),  # type: ignore[dict-item]
                client.add_profile_to_contact("", payload, "Src"),
            ):
                with pytest.raises(ZyntroError) as info:
                    await call
                texts.append(exception_text(info.value))
            run = client.bulk_add_profiles(
                [ProfileRequest(cid, payload, "Bulk")], journal=tmp_path / "j.db"
            )
            report = await run
            texts.append(repr(report) + repr(report.failures))

    # Faults on the real credentials too: 500, HTML 502, drop-after-commit, timeout.
    async with ZyntroClient(
        **creds, base_url=sandbox.base_url, timeout=Timeout(read=0.2)
    ) as client:
        sandbox.faults = Faults(hang_seconds=1.0)
        sandbox.script(
            "addProfileToContact",
            Fault.SERVER_ERROR,
            Fault.BAD_GATEWAY_HTML,
            Fault.DROP_AFTER_COMMIT,
            Fault.TIMEOUT_AFTER_COMMIT,
        )
        for _ in range(2):
            try:
                await client.add_profile_to_contact(cid, payload, "Faulty")
            except ZyntroError as exc:
                texts.append(exception_text(exc))
        texts.append(repr(client))
        real = (creds["api_key"], creds["developer_secret"])

    with pytest.raises(ConfigurationError) as cfg:
        ZyntroClient(
            api_key=API_KEY,
            developer_secret=DEV_SECRET,
            org_id="o",
            member_id="m",
            base_url="http://crm.example.com/",
        )
    texts.append(exception_text(cfg.value))

    logged = "\n".join(r.getMessage() + repr(r.args) for r in caplog.records)
    assert caplog.records  # DEBUG logging really happened
    assert leaks(logged) == []
    assert not any(s in logged for s in real)
    for text in texts:
        assert leaks(text) == [], text
    journal_bytes = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for secret in (*SECRETS, PAYLOAD_MARK):
        assert secret.encode() not in journal_bytes


@pytest.mark.slow
async def test_cli_output_and_results_file_hold_no_secret(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    cid = sandbox.add_contact(first_name="Jane")
    source = tmp_path / "in.jsonl"
    source.write_text(
        json.dumps({"contact_id": cid, "payload": {"email": PAYLOAD_MARK}})
        + "\n"
        + json.dumps({"contact_id": "nope", "payload": {"email": PAYLOAD_MARK}})
        + "\n"
        + "{broken "
        + PAYLOAD_MARK
        + "\n"
    )
    results = tmp_path / "out.jsonl"
    for n, api_key in enumerate((API_KEY, sandbox.credentials["api_key"])):
        journal = tmp_path / f"j{n}.db"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZYNTRO_")}
        env.update(
            ZYNTRO_BASE_URL=sandbox.base_url,
            ZYNTRO_API_KEY=api_key,
            ZYNTRO_DEVELOPER_SECRET=DEV_SECRET
            if api_key == API_KEY
            else sandbox.credentials["developer_secret"],
            ZYNTRO_ORG_ID=sandbox.credentials["org_id"],
            ZYNTRO_MEMBER_ID=sandbox.credentials["member_id"],
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "zyntro_async",
            "-vv",
            "enrich",
            str(source),
            "--source",
            "CLI",
            "--journal",
            str(journal),
            "--output",
            str(results),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        text = (out + err).decode()
        assert "DEBUG" in text  # -vv really logged
        assert [s for s in SECRETS if s in text] == []
        assert sandbox.credentials["api_key"] not in text
    files = results.read_text() + "".join(
        p.read_bytes().decode("latin-1") for p in tmp_path.glob("j*.db*")
    )
    assert [s for s in SECRETS if s in files] == []
    assert PAYLOAD_MARK not in results.read_text()


def test_reprs_of_public_objects_hide_secrets() -> None:
    client = ZyntroClient(
        api_key=API_KEY,
        developer_secret=DEV_SECRET,
        org_id="o",
        member_id="m",
        base_url="https://crm.example.com/",
    )
    # What a crash reporter or a debugger shows: the client and whatever its attributes
    # hold, a few levels down, whatever they are called.
    objects = [o for o in reachable(client, depth=3) if not isinstance(o, (str, bytes))]
    assert len(objects) > 3
    assert leaks(" ".join(map(repr, objects))) == []
    assert leaks(" ".join(map(str, objects))) == []


def reachable(obj: Any, depth: int) -> Iterator[Any]:
    """``obj`` and what its attributes (``__dict__``, slots) and containers hold, recursively.

    The raw strings (a secret is one) are yielded too; the objects holding them should not
    show them."""
    seen: set[int] = set()

    def walk(value: Any, level: int) -> Iterator[Any]:
        if id(value) in seen:
            return
        seen.add(id(value))
        yield value
        if level == depth or isinstance(value, (type, types.ModuleType, str, bytes)):
            return
        if inspect.isroutine(value):
            return
        if isinstance(value, dict):
            children = list(value.values())
        elif isinstance(value, (list, tuple, set, frozenset)):
            children = list(value)
        else:
            names = list(getattr(value, "__dict__", {}))
            for cls in type(value).__mro__:
                slots = cls.__dict__.get("__slots__", ())
                names += [slots] if isinstance(slots, str) else list(slots)
            children = [getattr(value, n) for n in names if hasattr(value, n)]
        for child in children:
            yield from walk(child, level + 1)

    yield from walk(obj, 0)


# -- a hostile server that echoes the request ---------------------------------------------


@pytest.fixture
async def echo_server() -> AsyncIterator[tuple[str, list[str], list[bytes]]]:
    """A server (loopback only) that puts each request body into its answer, in the form
    named by the next entry of ``modes``: what a debugging proxy or a careless API does."""
    modes: list[str] = []
    seen: list[bytes] = []

    async def handler(request: web.Request) -> web.Response:
        raw = await request.read()
        seen.append(raw)
        echo = raw.decode()
        mode = modes.pop(0) if modes else "message"
        if mode == "message":  # documented message first, so the code is still right
            data: Any = ["Invalid API Key", f"for request {echo}"]
            return web.json_response({"status": "error", "data": data})
        if mode == "php":  # PHP's json_encode escapes "/" as "\/"
            return web.json_response({"status": "error", "data": [echo.replace("/", "\\/")]})
        if mode == "object":  # the parsed body itself as the error data
            return web.json_response({"status": "error", "data": [json.loads(raw)]})
        if mode == "bare":
            return web.json_response({"status": "error", "data": f"bad request {echo}"})
        key = json.loads(raw)["api_key"]
        if mode == "html502":
            return web.Response(status=502, text=echo, headers={"Content-Type": f"text/{key}"})
        if mode == "html200":
            return web.Response(text=echo, headers={"Content-Type": f"text/{key}"})
        assert mode == "429"
        return web.Response(status=429, text=echo, headers={"X-Echo": key})

    app = web.Application()
    app.router.add_post("/crm/{endpoint}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/crm/", modes, seen
    finally:
        await runner.cleanup()


async def test_a_server_echoing_the_request_never_puts_a_secret_in_an_error(
    echo_server: tuple[str, list[str], list[bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    base, modes, seen = echo_server
    errors: list[ZyntroError] = []
    async with ZyntroClient(
        api_key=API_KEY,
        developer_secret=DEV_SECRET,
        org_id="org-1",
        member_id="member-1",
        base_url=base,
        retry=RetryPolicy(max_attempts=2, on_ambiguous="raise"),
    ) as client:
        for mode in ("message", "object", "bare", "html502", "html200", "429"):
            for call in (
                lambda: client.fetch_contact("c-1", include_profile=True),
                lambda: client.add_profile_to_contact("c-1", {"k": "v"}, "Src"),
            ):
                modes[:] = [mode] * 3  # the same answer on a retry, if any
                with pytest.raises(ZyntroError) as info:
                    await call()
                errors.append(info.value)

    # The server really was sent the secrets and really echoed them...
    assert all(API_KEY.encode() in raw and DEV_SECRET.encode() in raw for raw in seen)
    assert len(errors) == 12
    # ...and none of it reached an error or a log record.
    for error in errors:
        texts = [
            exception_text(error),
            repr(error.args),
            repr(getattr(error, "messages", ())),
            repr(vars(error)),
        ]
        assert [s for s in SECRETS if any(s in t for t in texts)] == [], texts
    logged = "\n".join(logging.Formatter().format(r) + repr(r.args) for r in caplog.records)
    assert [s for s in SECRETS if s in logged] == []
    assert errors[0].code == "INVALID_API_KEY"  # classified by the documented message
    assert any("***" in m for m in errors[0].messages)  # type: ignore[attr-defined]


PERSONAL_PAYLOAD = {
    "email": "pii-4711@example.com",
    "phone": 15550199,
    "home": "https://example.com/~janice/",
    "name": "Zoë Ångström",
}
PERSONAL_VALUES = ("pii-4711@example.com", "15550199", "~janice", "Zoë", "Ångström")


async def test_a_server_echoing_the_payload_never_puts_it_in_an_error(
    echo_server: tuple[str, list[str], list[bytes]],
) -> None:
    base, modes, _ = echo_server
    errors: list[ZyntroError] = []
    async with ZyntroClient(
        api_key=API_KEY,
        developer_secret=DEV_SECRET,
        org_id="org-1",
        member_id="member-1",
        base_url=base,
        retry=RetryPolicy(max_attempts=1),
    ) as client:
        for mode in ("message", "object", "bare", "php"):
            modes[:] = [mode]
            with pytest.raises(ZyntroError) as info:
                await client.add_profile_to_contact("c-1", PERSONAL_PAYLOAD, "Src")
            errors.append(info.value)
    for error in errors:
        texts = exception_text(error) + repr(getattr(error, "messages", ()))
        assert [v for v in PERSONAL_VALUES if v in texts] == [], texts
        assert "***" in texts
