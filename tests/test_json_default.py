"""Payloads with values JSON cannot carry: refused with their key path, or sent as the
client's ``json_default`` encodes them -- through the public API, against the sandbox."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from zyntro_async import ConfigurationError, ProfileRequest, ValidationError, ZyntroClient
from zyntro_async.testing import ZyntroSandbox

SEEN = dt.datetime(2026, 11, 24, 9, 30, 0)
ID = uuid.UUID("12345678-1234-5678-1234-567812345678")


def encode(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


@pytest.fixture
async def sandbox() -> AsyncIterator[ZyntroSandbox]:
    async with ZyntroSandbox(seed=3) as sb:
        yield sb


def client_for(sb: ZyntroSandbox, **kwargs: Any) -> ZyntroClient:
    return ZyntroClient(**sb.credentials, base_url=sb.base_url, **kwargs)


async def test_without_a_default_the_error_names_the_key_path(sandbox: ZyntroSandbox) -> None:
    cid = sandbox.add_contact(first_name="Jane")
    async with client_for(sandbox) as client:
        with pytest.raises(ValidationError) as info:
            await client.add_profile_to_contact(cid, {"meta": {"seen": SEEN}}, "Clearbit")
    assert 'payload["meta"]["seen"] holds a datetime, which is not JSON' in str(info.value)
    assert info.value.code == "INVALID_PAYLOAD"
    assert sandbox.profiles(cid) == []


async def test_json_default_encodes_what_json_cannot_carry(sandbox: ZyntroSandbox) -> None:
    cid = sandbox.add_contact(first_name="Jane")
    payload = {
        "meta": {"seen": SEEN, "on": dt.date(2026, 1, 2)},
        "price": decimal.Decimal("1.50"),
        "ids": [ID],
    }
    async with client_for(sandbox, json_default=encode) as client:
        profile = await client.add_profile_to_contact(cid, payload, "Clearbit")
    expected = {
        "meta": {"seen": "2026-11-24T09:30:00", "on": "2026-01-02"},
        "price": "1.50",
        "ids": [str(ID)],
    }
    assert profile.payload == expected
    (stored,) = sandbox.profiles(cid)
    assert stored["profile_payload"] == expected
    assert payload["price"] == decimal.Decimal("1.50")  # the caller's payload is untouched


async def test_a_value_the_default_cannot_encode_is_refused_with_its_path(
    sandbox: ZyntroSandbox,
) -> None:
    cid = sandbox.add_contact(first_name="Jane")
    async with client_for(sandbox, json_default=encode) as client:
        with pytest.raises(ValidationError) as info:
            await client.add_profile_to_contact(cid, {"a": [1, {"b": object()}]}, "Clearbit")
    assert 'payload["a"][1]["b"] holds an object, which is not JSON' in str(info.value)
    assert sandbox.profiles(cid) == []


async def test_a_journaled_bulk_run_journals_the_encoded_payload_and_resumes(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    cids = [sandbox.add_contact(first_name=f"P{i}") for i in range(5)]
    requests = [
        ProfileRequest(cid, {"seen": SEEN, "n": i}, "Clearbit") for i, cid in enumerate(cids)
    ]
    journal = tmp_path / "run.db"
    async with client_for(sandbox, json_default=encode) as client:
        first = await client.bulk_add_profiles(requests, journal=journal)
        again = await client.bulk_add_profiles(requests, journal=journal)
    assert first.succeeded == 5
    assert again.skipped == 5  # the same items, recognised from the journal
    for i, cid in enumerate(cids):
        (stored,) = sandbox.profiles(cid)
        assert stored["profile_payload"] == {"seen": "2026-11-24T09:30:00", "n": i}


def test_json_default_must_be_callable(sandbox: ZyntroSandbox) -> None:
    with pytest.raises(ConfigurationError):
        client_for(sandbox, json_default="isoformat")
