"""Logging that helps: records carry structured ``extra=`` fields (``zyntro_endpoint``,
``zyntro_contact_id``, ``zyntro_key``, ``zyntro_attempt``, ``zyntro_code``) that
structured-logging users can index, and never a secret -- through the public API, against
the sandbox.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any
from uuid import UUID

import pytest

from zyntro_async import ProfileRequest, ZyntroClient
from zyntro_async.testing import Fault, ZyntroSandbox

FIELDS = ("zyntro_endpoint", "zyntro_contact_id", "zyntro_key", "zyntro_attempt", "zyntro_code")


@pytest.fixture
async def sandbox() -> AsyncIterator[ZyntroSandbox]:
    async with ZyntroSandbox(seed=5) as sb:
        yield sb


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="zyntro_async")
    return caplog


def client_for(sb: ZyntroSandbox) -> ZyntroClient:
    return ZyntroClient(**sb.credentials, base_url=sb.base_url)


def fields(record: logging.LogRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in FIELDS if hasattr(record, name)}


async def recovered_add(sb: ZyntroSandbox, key: str | None = None) -> str:
    """An add whose answer is lost (stored, then the connection drops): retried, reconciled."""
    cid = sb.add_contact(first_name="Jane")
    sb.script("addProfileToContact", Fault.DROP_AFTER_COMMIT)
    async with client_for(sb) as client:
        if key is None:
            await client.add_profile_to_contact(cid, {"title": "VP"}, "Clearbit")
        else:
            report = await client.bulk_add_profiles(
                [ProfileRequest(cid, {"title": "VP"}, "Clearbit", key=key)]
            )
            assert report.recovered == 1
    return cid


async def test_request_and_recovery_records_carry_endpoint_contact_and_code(
    sandbox: ZyntroSandbox, logs: pytest.LogCaptureFixture
) -> None:
    cid = await recovered_add(sandbox)
    records = logs.records
    (recovered,) = [r for r in records if r.getMessage().startswith("recovered")]
    assert recovered.levelno == logging.INFO  # good news is not a warning
    assert fields(recovered)["zyntro_endpoint"] == "addProfileToContact"
    assert fields(recovered)["zyntro_contact_id"] == cid
    assert "zyntro_code" in fields(recovered)
    requests = [r for r in records if "-> HTTP" in r.getMessage()]
    assert requests
    for record in requests:
        assert fields(record)["zyntro_contact_id"] == cid
        assert fields(record)["zyntro_endpoint"] in ("addProfileToContact", "fetchContact")


async def test_no_record_carries_a_secret_or_the_logger_name(
    sandbox: ZyntroSandbox, logs: pytest.LogCaptureFixture
) -> None:
    await recovered_add(sandbox, key="row-17")
    records = logs.records
    secrets = (sandbox.credentials["api_key"], sandbox.credentials["developer_secret"])
    assert records
    for record in records:
        text = logging.Formatter().format(record) + repr(vars(record))
        assert not [s for s in secrets if s in text]
        assert not record.getMessage().startswith("zyntro_async")


async def test_the_retry_warning_carries_endpoint_contact_attempt_and_code(
    sandbox: ZyntroSandbox, logs: pytest.LogCaptureFixture
) -> None:
    cid = await recovered_add(sandbox)
    records = logs.records
    (retry,) = [r for r in records if r.getMessage().startswith("retrying")]
    assert fields(retry) == {
        "zyntro_endpoint": "addProfileToContact",
        "zyntro_contact_id": cid,
        "zyntro_key": None,
        "zyntro_attempt": 1,
        "zyntro_code": "DISCONNECTED",
    }


async def test_every_record_of_a_bulk_item_carries_its_key(
    sandbox: ZyntroSandbox, logs: pytest.LogCaptureFixture
) -> None:
    await recovered_add(sandbox, key="row-17")
    records = logs.records
    about_the_item = [r for r in records if "zyntro_contact_id" in vars(r)]
    assert about_the_item
    for record in about_the_item:
        assert set(fields(record)) == set(FIELDS)
        assert fields(record)["zyntro_key"] == "row-17"


class _PayloadRaises(Mapping[str, Any]):
    """A bulk item whose payload cannot be read (a lazy row whose loader fails)."""

    def __init__(self, contact_id: object) -> None:
        self._contact_id = contact_id

    def __getitem__(self, name: str) -> Any:
        if name == "contact_id":
            return self._contact_id
        if name in ("payload", "profile_payload"):
            raise RuntimeError("the row's loader failed")
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(("contact_id", "payload"))

    def __len__(self) -> int:
        return 2


async def test_an_item_that_fails_unexpectedly_is_logged_with_the_contact_it_names(
    sandbox: ZyntroSandbox, logs: pytest.LogCaptureFixture
) -> None:
    good = sandbox.add_contact(first_name="Jane")
    items: list[Any] = [
        _PayloadRaises("c-7"),
        _PayloadRaises(UUID(int=7)),
        _PayloadRaises(7),
        _PayloadRaises(object()),
        ProfileRequest(good, {"title": "VP"}, "Clearbit"),
    ]
    async with client_for(sandbox) as client:
        report = await client.bulk_add_profiles(items, source="S")
    assert report.succeeded == 1
    assert [type(f.error).__name__ for f in report.failures] == ["ItemError"] * 4
    failed = [r for r in logs.records if r.getMessage() == "bulk item failed unexpectedly"]
    assert sorted(map(str, (fields(r)["zyntro_contact_id"] for r in failed))) == sorted(
        ["c-7", str(UUID(int=7)), "7", "None"]
    )
