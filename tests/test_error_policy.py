"""The error policy, through the client: each documented message the API answers becomes
its documented code and class, and every code the SDK knows reaches the caller as a typed
exception carrying it."""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest
from aioresponses import aioresponses

import zyntro_async.errors
from tests.helpers import BASE, CREDS, DOCS
from zyntro_async import ZyntroClient
from zyntro_async._policy import CODES
from zyntro_async.errors import (
    APIError,
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    ServerError,
    ValidationError,
    ZyntroError,
)

ROW = re.compile(r"^([A-Z][A-Z_]{3,}) (.+)$")
CID = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"

#: The classes the exception tree draws for the API's codes (written out, not derived).
CLASS_OF: dict[str, type[APIError]] = {
    **dict.fromkeys(
        (
            "MISSING_API_KEY",
            "INVALID_API_KEY",
            "MISSING_DEVELOPER_SECRET",
            "INVALID_DEVELOPER_SECRET",
            "USER_INACTIVE",
        ),
        AuthenticationError,
    ),
    **dict.fromkeys(("IP_NOT_WHITELISTED", "NOT_OWNER"), PermissionDeniedError),
    "NOT_FOUND": NotFoundError,
    **dict.fromkeys(
        (
            "MISSING_FIELDS",
            "MISSING_CONTACT_ID",
            "MISSING_ORG_ID",
            "MISSING_MEMBER_ID",
            "INVALID_PAYLOAD",
        ),
        ValidationError,
    ),
}


def documented(page: str) -> list[tuple[str, str]]:
    """(code, message) rows of a doc page's Errors table, read from the page itself; the
    MISSING_FIELDS line also as the one message per field the server sends."""
    text = (DOCS / f"{page}.txt").read_text()
    rows = [
        (m[1], m[2])
        for line in text.split("\nErrors\n", 1)[1].splitlines()
        if (m := ROW.match(line))
    ]
    for code, message in list(rows):
        if code == "MISSING_FIELDS":
            fields = message.removeprefix("Missing ").split(" / ")
            rows += [(code, f"Missing {field}") for field in fields]
    return rows


CASES = [
    (page, code, message)
    for page in ("fetchContact", "addProfileToContact")
    for code, message in documented(page)
]


async def answered(endpoint: str, **reply: Any) -> ZyntroError:
    """What the client raises when ``endpoint`` answers ``reply`` (aioresponses' keywords)."""
    async with ZyntroClient(**CREDS, base_url=BASE, retry=None) as client:
        with aioresponses() as mocked:
            mocked.post(BASE + endpoint, **reply)
            if endpoint == "fetchContact":
                call = client.fetch_contact(CID)
            else:
                call = client.add_profile_to_contact(CID, {"job_title": "VP"}, "LinkedIn")
            with pytest.raises(ZyntroError) as info:
                await call
    return info.value


def test_both_doc_pages_are_read() -> None:
    assert len([c for c in CASES if c[0] == "fetchContact"]) == 10
    assert len([c for c in CASES if c[0] == "addProfileToContact"]) == 9 + 5


@pytest.mark.parametrize(("endpoint", "code", "message"), CASES)
async def test_each_documented_message_raises_its_code_and_class(
    endpoint: str, code: str, message: str
) -> None:
    error = await answered(endpoint, payload={"status": "error", "data": [message]})
    assert type(error) is CLASS_OF[code], message
    assert isinstance(error, APIError)
    assert (error.code, error.messages, error.endpoint, error.contact_id) == (
        code,
        (message,),
        endpoint,
        CID,
    )


def exported() -> set[type[ZyntroError]]:
    return {
        value
        for name in zyntro_async.errors.__all__
        if inspect.isclass(value := getattr(zyntro_async.errors, name))
        and issubclass(value, ZyntroError)
    }


def test_every_exported_class_code_is_in_the_table_once() -> None:
    codes = [row.code for row in CODES]
    assert len(codes) == len(set(codes))
    assert {cls.code for cls in exported()} <= set(codes)


@pytest.mark.parametrize("row", CODES, ids=lambda row: row.code)
async def test_every_code_in_the_table_is_raised_typed_with_it(row: Any) -> None:
    assert row.error in exported()
    if row.messages:  # the API's own: from each endpoint's documented messages
        for endpoint, messages in row.messages.items():
            for message in messages:
                error = await answered(endpoint, payload={"status": "error", "data": [message]})
                assert (type(error), error.code) == (row.error, row.code)
    elif row.status is not None:  # a status with a code of its own
        error = await answered("fetchContact", status=row.status, body="too large")
        assert (type(error), error.code) == (row.error, row.code)
        assert isinstance(error, ServerError)
        assert error.status == row.status
    elif row.code == "UNKNOWN":  # a message the docs do not list
        error = await answered("fetchContact", payload={"status": "error", "data": ["On fire"]})
        assert (type(error), error.code) == (row.error, row.code)
    else:  # a code of its class: every instance carries it
        assert row.error.code == row.code
