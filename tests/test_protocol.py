"""The sans-I/O protocol: request bodies and answer interpretation, on plain bytes."""

from __future__ import annotations

import json
import math
from datetime import datetime
from email.utils import format_datetime
from typing import Any

import pytest

from tests.helpers import CREDS, doc_json
from zyntro_async import (
    AuthenticationError,
    NotFoundError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from zyntro_async._config import Credentials
from zyntro_async._protocol import (
    RawResponse,
    add_profile_call,
    fetch_contact_call,
    interpret,
    parse_retry_after,
)

C = Credentials(**CREDS)
JSON = {"Content-Type": "application/json"}


def body_of(call: Any) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(call.body)
    return result


def answer(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> RawResponse:
    raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return RawResponse(status=status, headers=headers or JSON, body=raw)


# -- requests -----------------------------------------------------------------------------


def test_fetch_body_matches_the_documented_example_shape() -> None:
    call = fetch_contact_call(C, "a1b2", include_notes=True, include_entity=True)
    documented = doc_json("fetchContact_request_example.json")
    body = body_of(call)
    assert set(body) == set(documented)
    assert body["include_notes"] == 1
    assert body["include_entity"] == 1
    assert body["include_profile"] == 0
    assert body["include_signals"] == 0
    assert body["api_key"] == CREDS["api_key"]
    assert call.endpoint == "fetchContact"
    assert call.idempotent


def test_add_body_matches_the_documented_example_shape() -> None:
    payload = {"job_title": "VP", "tech": ["HubSpot"]}
    call = add_profile_call(C, "a1b2", payload, "Clearbit")
    body = body_of(call)
    assert set(body) == set(doc_json("addProfileToContact_request_example.json"))
    assert body["profile_payload"] == payload
    assert body["profile_source"] == "Clearbit"
    assert not call.idempotent


def test_member_id_can_be_given_per_call() -> None:
    assert body_of(fetch_contact_call(C, "x", member_id="m-9"))["member_id"] == "m-9"
    assert body_of(add_profile_call(C, "x", {"a": 1}, "s", member_id="m-9"))["member_id"] == "m-9"
    assert body_of(fetch_contact_call(C, "x"))["member_id"] == CREDS["member_id"]


def test_call_repr_shows_no_secret() -> None:
    call = add_profile_call(C, "x", {"email": "jane@example.com"}, "s")
    assert CREDS["api_key"] not in repr(call)
    assert "jane@example.com" not in repr(call)


def test_unicode_and_big_ints_travel_intact() -> None:
    payload = {"名前": "Zoë 🚀", "n": 2**80, "f": 0.1, "nested": [{"ok": None, "b": True}]}
    assert body_of(add_profile_call(C, "x", payload, "s"))["profile_payload"] == payload


@pytest.mark.parametrize(
    ("contact_id", "code"),
    [("", "MISSING_CONTACT_ID"), ("   ", "MISSING_CONTACT_ID"), (None, "MISSING_CONTACT_ID")],
)
def test_fetch_refuses_empty_ids_locally(contact_id: Any, code: str) -> None:
    with pytest.raises(ValidationError) as info:
        fetch_contact_call(C, contact_id)
    assert info.value.code == code
    assert info.value.endpoint == "fetchContact"


def test_fetch_refuses_empty_member_override() -> None:
    with pytest.raises(ValidationError) as info:
        fetch_contact_call(C, "x", member_id="")
    assert info.value.code == "MISSING_MEMBER_ID"


class Opaque:
    pass


def deep(n: int) -> Any:
    value: Any = 1
    for _ in range(n):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("payload", "source", "code"),
    [
        ({"a": 1}, "", "MISSING_FIELDS"),
        ({"a": 1}, "  ", "MISSING_FIELDS"),
        ({"a": 1}, None, "MISSING_FIELDS"),
        ({}, "s", "MISSING_FIELDS"),
        ([], "s", "MISSING_FIELDS"),
        ("a string", "s", "INVALID_PAYLOAD"),
        (42, "s", "INVALID_PAYLOAD"),
        (None, "s", "INVALID_PAYLOAD"),
        ({1: "int key"}, "s", "INVALID_PAYLOAD"),
        ({"x": math.nan}, "s", "INVALID_PAYLOAD"),
        ({"x": [math.inf]}, "s", "INVALID_PAYLOAD"),
        ({"x": b"bytes"}, "s", "INVALID_PAYLOAD"),
        ({"x": {1, 2}}, "s", "INVALID_PAYLOAD"),
        ({"x": (1, 2)}, "s", "INVALID_PAYLOAD"),
        ({"x": Opaque()}, "s", "INVALID_PAYLOAD"),
        ({"x": datetime(2025, 1, 1)}, "s", "INVALID_PAYLOAD"),
        ({"x": deep(500)}, "s", "INVALID_PAYLOAD"),
    ],
)
def test_add_refuses_what_the_server_would_refuse(payload: Any, source: Any, code: str) -> None:
    with pytest.raises(ValidationError) as info:
        add_profile_call(C, "c-1", payload, source)
    assert info.value.code == code
    assert "c-1" in str(info.value)
    assert CREDS["api_key"] not in str(info.value)


def test_add_refuses_empty_contact_id_as_missing_fields() -> None:
    with pytest.raises(ValidationError) as info:
        add_profile_call(C, "", {"a": 1}, "s")
    assert info.value.code == "MISSING_FIELDS"


def test_validation_message_never_echoes_the_payload() -> None:
    with pytest.raises(ValidationError) as info:
        add_profile_call(C, "c", {"ssn": "123-45-6789", "bad": math.nan}, "s")
    assert "123-45-6789" not in str(info.value)


# -- answers ------------------------------------------------------------------------------


def test_documented_fetch_answer_parses() -> None:
    call = fetch_contact_call(C, "a1b2", include_notes=True, include_entity=True)
    details = interpret(call, answer(doc_json("fetchContact_response_success.json")))
    assert details.contact.id == "a1b2c3d4-e5f6-7890-abcd-ef1234567890"
    assert details.contact.tags == ["prospect", "webinar-attendee"]
    assert details.notes is not None
    assert details.notes[0].content.startswith("Expressed interest")  # type: ignore[union-attr]
    assert details.entity is not None
    assert details.entity.name == "Acme Corp"
    assert details.profiles is None


def test_documented_add_answer_parses() -> None:
    call = add_profile_call(C, "a1b2", {"job_title": "VP of Marketing"}, "LinkedIn Scraper")
    profile = interpret(call, answer(doc_json("addProfileToContact_response_success.json")))
    assert profile.id == 142
    assert profile.source == "LinkedIn Scraper"
    assert profile.payload["job_title"] == "VP of Marketing"  # type: ignore[call-overload]


def test_documented_error_answers_raise_typed_errors() -> None:
    fetch = fetch_contact_call(C, "a1b2")
    with pytest.raises(NotFoundError) as info:
        interpret(fetch, answer(doc_json("fetchContact_response_error.json")))
    assert info.value.code == "NOT_FOUND"
    assert info.value.messages == ("No such contact",)
    add = add_profile_call(C, "a1b2", {"a": 1}, "s")
    with pytest.raises(ValidationError) as info2:
        interpret(add, answer(doc_json("addProfileToContact_response_error.json")))
    assert info2.value.code == "INVALID_PAYLOAD"


def test_error_envelope_data_as_bare_string() -> None:
    with pytest.raises(AuthenticationError):
        interpret(
            fetch_contact_call(C, "x"), answer({"status": "error", "data": "Invalid API Key"})
        )


def test_429_is_rate_limit_with_retry_after() -> None:
    call = fetch_contact_call(C, "x")
    with pytest.raises(RateLimitError) as info:
        interpret(call, answer(b"slow down", 429, {"Retry-After": "7"}))
    assert info.value.retry_after == 7.0
    assert info.value.code == "RATE_LIMITED"


@pytest.mark.parametrize("status", [500, 502, 503, 504, 404, 301])
def test_other_statuses_are_server_errors(status: int) -> None:
    with pytest.raises(ServerError) as info:
        interpret(fetch_contact_call(C, "x"), answer(b"<html>oops</html>", status))
    assert info.value.status == status


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        b'{"data": {}, "stat',
        b"[]",
        b'{"data": {}}',
        b'{"data": {}, "status": "maybe"}',
        b"\xff\xfe",
        b"",
    ],
)
def test_a_200_that_is_not_the_envelope_is_a_server_error(body: bytes) -> None:
    with pytest.raises(ServerError) as info:
        interpret(fetch_contact_call(C, "x"), answer(body, 200, {"Content-Type": "text/html"}))
    assert info.value.status == 200
    assert "envelope" in str(info.value)


def test_a_success_without_a_usable_contact_is_a_server_error() -> None:
    with pytest.raises(ServerError, match="malformed"):
        interpret(fetch_contact_call(C, "x"), answer({"status": "success", "data": []}))


def test_retry_after_forms() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    http_date = format_datetime(datetime.fromtimestamp(now + 30).astimezone(), usegmt=False)
    assert parse_retry_after(http_date, now=now) == pytest.approx(30, abs=1)
