"""The sans-I/O protocol: request bodies and answer interpretation, on plain bytes."""

from __future__ import annotations

import enum
import json
import math
import uuid
from datetime import datetime
from email.utils import format_datetime
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.helpers import CREDS, doc_json
from zyntro_async import (
    APIError,
    AuthenticationError,
    NotFoundError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from zyntro_async._answers import interpret, parse_rate_limit, parse_retry_after
from zyntro_async._config import Credentials
from zyntro_async._protocol import (
    RawResponse,
    add_profile_call,
    coerce_id,
    fetch_contact_call,
    php_empty,
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


def test_add_body_matches_the_documented_example_shape() -> None:
    payload = {"job_title": "VP", "tech": ["HubSpot"]}
    call = add_profile_call(C, "a1b2", payload, "Clearbit")
    body = body_of(call)
    assert set(body) == set(doc_json("addProfileToContact_request_example.json"))
    assert body["profile_payload"] == payload
    assert body["profile_source"] == "Clearbit"


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


# PHP empty() is the server's "missing": "" and "0" (and the int 0, which is sent as "0").
@pytest.mark.parametrize("contact_id", ["", "0", 0, None, True, False, 1.5, b"id", ["x"]])
def test_fetch_refuses_empty_or_untyped_ids_locally(contact_id: Any) -> None:
    with pytest.raises(ValidationError) as info:
        fetch_contact_call(C, contact_id)
    assert info.value.code == "MISSING_CONTACT_ID"
    assert info.value.endpoint == "fetchContact"


@pytest.mark.parametrize("member_id", ["", "0", 0, True, 2.0])
def test_fetch_refuses_empty_member_override(member_id: Any) -> None:
    with pytest.raises(ValidationError) as info:
        fetch_contact_call(C, "x", member_id=member_id)
    assert info.value.code == "MISSING_MEMBER_ID"


def test_fetch_checks_member_before_contact_as_the_server_does() -> None:
    with pytest.raises(ValidationError) as info:
        fetch_contact_call(C, "", member_id="0")
    assert info.value.code == "MISSING_MEMBER_ID"


@pytest.mark.parametrize("contact_id", ["   ", "\t", "00", "0.0", " 0", "false", "null"])
def test_ids_php_does_not_call_empty_are_sent_verbatim(contact_id: str) -> None:
    assert body_of(fetch_contact_call(C, contact_id))["contact_id"] == contact_id
    call = add_profile_call(C, contact_id, {"a": 1}, "s")
    assert body_of(call)["contact_id"] == contact_id == call.contact_id


class Row(enum.IntEnum):
    SEVEN = 7


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        (7, "7"),
        (-12, "-12"),
        (2**70, str(2**70)),
        (Row.SEVEN, "7"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
    ],
)
def test_int_and_uuid_ids_are_sent_as_strings(given: Any, sent: str) -> None:
    fetch = fetch_contact_call(C, given, member_id=given)
    assert body_of(fetch)["contact_id"] == body_of(fetch)["member_id"] == sent
    add = add_profile_call(C, given, {"a": 1}, "s", member_id=given)
    assert body_of(add)["contact_id"] == body_of(add)["member_id"] == sent
    assert fetch.contact_id == add.contact_id == sent


def test_coerce_id_is_the_one_rule_for_every_entry_point() -> None:
    assert coerce_id(42, "contact_id", endpoint="e", code="C") == "42"
    with pytest.raises(ValidationError) as info:
        coerce_id("0", "contact_id", endpoint="addProfileToContact", code="MISSING_FIELDS")
    assert info.value.code == "MISSING_FIELDS"
    assert "contact_id" in str(info.value)
    with pytest.raises(ValidationError, match="not bool"):
        coerce_id(True, "member_id", endpoint="e", code="C")


@pytest.mark.parametrize(
    ("value", "empty"),
    [
        (None, True),
        (False, True),
        (0, True),
        (0.0, True),
        ("", True),
        ("0", True),
        ({}, True),
        ([], True),
        (" ", False),
        ("00", False),
        ("0.0", False),
        ("false", False),
        (True, False),
        (-1, False),
        ({"a": None}, False),
        ([0], False),
    ],
)
def test_php_empty_matches_php(value: Any, empty: bool) -> None:
    assert php_empty(value) is empty


class Opaque:
    pass


class Ratio(float):
    pass


class Label(str):
    pass


class Count(enum.IntEnum):
    ONE = 1


def deep(n: int) -> Any:
    value: Any = 1
    for _ in range(n):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("payload", "source", "code"),
    [
        ({"a": 1}, "", "MISSING_FIELDS"),
        ({"a": 1}, "0", "MISSING_FIELDS"),
        ({"a": 1}, None, "MISSING_FIELDS"),
        ({"a": 1}, 7, "MISSING_FIELDS"),
        ({"a": 1}, "bad \udc80", "MISSING_FIELDS"),
        ({}, "s", "MISSING_FIELDS"),
        ([], "s", "MISSING_FIELDS"),
        # PHP empty() payloads are "Missing profile_payload", as the server says
        (None, "s", "MISSING_FIELDS"),
        ("", "s", "MISSING_FIELDS"),
        ("0", "s", "MISSING_FIELDS"),
        (0, "s", "MISSING_FIELDS"),
        (False, "s", "MISSING_FIELDS"),
        # and an empty payload is reported before an empty source, as the server does
        ({}, "", "MISSING_FIELDS"),
        ("a string", "s", "INVALID_PAYLOAD"),
        (42, "s", "INVALID_PAYLOAD"),
        ({"n": 10**5000}, "s", "INVALID_PAYLOAD"),
        ({"x": "lone \ud800"}, "s", "INVALID_PAYLOAD"),
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


@pytest.mark.parametrize("contact_id", ["", "0", 0, None, False, 3.0])
def test_add_refuses_empty_contact_id_as_missing_fields(contact_id: Any) -> None:
    with pytest.raises(ValidationError) as info:
        add_profile_call(C, contact_id, {"a": 1}, "s")
    assert info.value.code == "MISSING_FIELDS"
    if contact_id is not None:  # member_id=None means "the configured member"
        with pytest.raises(ValidationError) as info:
            add_profile_call(C, "c", {"a": 1}, "s", member_id=contact_id)
        assert info.value.code == "MISSING_FIELDS"


@pytest.mark.parametrize("source", ["  ", "\t", "00", "0.0"])
def test_a_source_php_does_not_call_empty_is_sent_verbatim(source: str) -> None:
    assert body_of(add_profile_call(C, "c", {"a": 1}, source))["profile_source"] == source


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            {"meta": {"seen": datetime(2025, 1, 1)}},
            'payload["meta"]["seen"] holds a datetime, which is not JSON',
        ),
        ({"tags": ["a", {"b": b"x"}]}, 'payload["tags"][1]["b"] holds a bytes, which is not JSON'),
        ([1, 2, {3}], "payload[2] holds a set, which is not JSON"),
        ({"id": uuid.UUID(int=1)}, 'payload["id"] holds a UUID, which is not JSON'),
        ({"o": Opaque()}, 'payload["o"] holds an Opaque, which is not JSON'),
        ({"meta": {1: "x"}}, 'payload["meta"] has an int key; JSON keys are strings'),
        ({None: "x"}, "payload has a NoneType key; JSON keys are strings"),
        ({"a": [0.5, math.nan]}, 'payload["a"][1] holds NaN or infinity'),
        ({"n": [10**5000]}, 'payload["n"][0] holds an int too large to write out as JSON'),
        ({"s": ["ok", "lone \udfff"]}, 'payload["s"][1] holds a string with a lone surrogate'),
        ({"k": {"\udfff": 1}}, 'payload["k"] has a key with a lone surrogate'),
        ({"x": deep(500)}, 'payload["x"][0][0][0]...[0][0][0] is nested deeper than 128'),
        # flat payloads (string keys, scalar values) say the same
        ({"a": "ok", "b": -math.inf}, 'payload["b"] holds NaN or infinity'),
        ({"n": -(10**5000)}, 'payload["n"] holds an int too large to write out as JSON'),
        ({"a": 1, True: "x"}, "payload has a bool key; JSON keys are strings"),
        ({"a": 1, 2.5: "x"}, "payload has a float key; JSON keys are strings"),
        ({"a": "lone \udfff"}, 'payload["a"] holds a string with a lone surrogate'),
        ({"\udfff": 1}, "payload has a key with a lone surrogate"),
        # the NaN is reported before the surrogate, whichever comes first
        ({"a": "lone \udfff", "b": math.nan}, 'payload["b"] holds NaN or infinity'),
        ({"b": math.nan, "a": "lone \udfff"}, 'payload["b"] holds NaN or infinity'),
        # of two values JSON cannot carry, the last one is named
        ({"a": math.nan, "b": 10**5000}, 'payload["b"] holds an int too large'),
        ({"b": 10**5000, "a": math.nan}, 'payload["a"] holds NaN or infinity'),
        ({"x" * 50: math.inf}, f'payload["{"x" * 40}..."] holds NaN or infinity'),
        ({"a": Ratio("nan")}, 'payload["a"] holds NaN or infinity'),
    ],
)
def test_payload_problems_say_where(payload: Any, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        add_profile_call(C, "c", payload, "s")
    assert info.value.code == "INVALID_PAYLOAD"
    assert message in info.value.messages[0]
    str(info.value).encode()  # printable: a surrogate in the path is escaped


@pytest.mark.parametrize(
    ("payload", "sent"),
    [
        ({"n": Count.ONE, "r": Ratio(0.5)}, b'{"n":1,"r":0.5}'),
        ({Label("k"): Label("v")}, b'{"k":"v"}'),
        (
            {"t": True, "f": False, "z": None, "s": "é\u2028"},
            '{"t":true,"f":false,"z":null,"s":"é\u2028"}'.encode(),
        ),
        ({"big": 10**4000}, b'{"big":1' + b"0" * 4000 + b"}"),
        ({"x": 1e308, "y": -0.0}, b'{"x":1e+308,"y":-0.0}'),
    ],
)
def test_a_flat_payload_is_sent_as_json_writes_it(payload: Any, sent: bytes) -> None:
    body = add_profile_call(C, "c", payload, "s").body
    assert b',"profile_payload":' + sent + b',"profile_source":"s"}' in body


@pytest.mark.parametrize(
    ("member", "problem"),
    [
        ("0", "member_id is empty ('0' counts as missing for the API)"),
        ("", "member_id is empty ('' counts as missing for the API)"),
        ("m\udc80", "member_id is not valid UTF-8"),
        (None, "member_id must be a string, UUID or int, not NoneType"),
        (True, "member_id must be a string, UUID or int, not bool"),
    ],
)
def test_a_configured_member_id_the_id_rule_refuses_fails_each_request(
    member: Any, problem: str
) -> None:
    creds = Credentials(**{**CREDS, "member_id": member})  # refused by requests, not here
    for _ in range(2):
        with pytest.raises(ValidationError) as fetch:
            fetch_contact_call(creds, "c")
        assert (fetch.value.code, fetch.value.endpoint) == ("MISSING_MEMBER_ID", "fetchContact")
        assert fetch.value.messages == (problem,)
        with pytest.raises(ValidationError) as add:
            add_profile_call(creds, "c", {"a": 1}, "s")
        assert (add.value.code, add.value.endpoint) == ("MISSING_FIELDS", "addProfileToContact")
        assert add.value.messages == (problem,)
    assert body_of(fetch_contact_call(creds, "c", member_id="m-9"))["member_id"] == "m-9"
    assert body_of(add_profile_call(creds, "c", {"a": 1}, "s", member_id=9))["member_id"] == "9"


@pytest.mark.parametrize(
    ("member", "sent"),
    [
        ("m-1", "m-1"),
        (Label("m-2"), "m-2"),
        (Count.ONE, "1"),
        (uuid.UUID(int=5), str(uuid.UUID(int=5))),
        (" 0", " 0"),
    ],
)
def test_a_configured_member_id_is_written_by_the_id_rule(member: Any, sent: str) -> None:
    creds = Credentials(**{**CREDS, "member_id": member})
    assert body_of(fetch_contact_call(creds, "c"))["member_id"] == sent
    assert body_of(add_profile_call(creds, "c", {"a": 1}, "s"))["member_id"] == sent
    assert body_of(add_profile_call(creds, "c", {"a": 1}, "s", member_id="m-3"))["member_id"] == (
        "m-3"
    )


class Exploding(dict):  # type: ignore[type-arg]
    def items(self) -> Any:
        raise RuntimeError("boom")


def test_a_misbehaving_payload_object_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as info:
        add_profile_call(C, "c", Exploding(a=1), "s")
    assert info.value.code == "INVALID_PAYLOAD"


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


ADDED = {"profile_id": 7, "profile_source": "s", "profile_payload": {"a": "é"}}


@given(
    suffix=st.text(alphabet=" \t\n\r\x0b\x0c\x1c\x85\xa0\u2028\x00x{}0", max_size=4),
    compact=st.booleans(),
)
@example(suffix="\n", compact=True)
@example(suffix="\x0b", compact=True)
@example(suffix="{}", compact=False)
def test_an_answer_is_read_as_json_loads_reads_it(suffix: str, compact: bool) -> None:
    """White space JSON allows may follow the envelope; anything else makes it not JSON."""
    envelope = {"status": "success", "data": ADDED}
    text = json.dumps(envelope, separators=(",", ":") if compact else None) + suffix
    body = text.encode()
    try:
        json.loads(body)
    except ValueError:
        valid = False
    else:
        valid = True
    call = add_profile_call(C, "c", {"a": "é"}, "s")
    if valid:
        profile = interpret(call, answer(body))
        assert (profile.id, profile.source, profile.payload) == (7, "s", {"a": "é"})
    else:
        with pytest.raises(ServerError, match="not the API's JSON envelope"):
            interpret(call, answer(body))


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


# -- rate-limit evidence (for the flow controller) ------------------------------------------

NOW = 1_700_000_000.0


def test_429_carries_the_rate_limit_headers() -> None:
    headers = {
        "Retry-After": "3",
        "X-RateLimit-Limit": "100",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "12.5",
    }
    with pytest.raises(RateLimitError) as info:
        interpret(fetch_contact_call(C, "x"), answer(b"slow down", 429, headers), now=NOW)
    error = info.value
    assert (error.limit, error.remaining, error.reset, error.retry_after) == (100, 0, 12.5, 3)


def test_503_carries_the_ietf_draft_headers() -> None:
    headers = {"RateLimit-Limit": "50", "RateLimit-Remaining": "7", "RateLimit-Reset": "30"}
    with pytest.raises(ServerError) as info:
        interpret(fetch_contact_call(C, "x"), answer(b"busy", 503, headers), now=NOW)
    assert (info.value.limit, info.value.remaining, info.value.reset) == (50, 7, 30)
    assert info.value.retry_after is None


@pytest.mark.parametrize(
    ("reset", "seconds"),
    [
        (str(int(NOW) + 40), 40.0),  # a Unix timestamp
        (str(int(NOW * 1000) + 40_000), 40.0),  # in milliseconds
        (str(int(NOW) - 40), 0.0),  # already past
        ("1000000000", 1e9),  # up to 10**9 it is read as seconds from now
    ],
)
def test_reset_as_a_timestamp_is_seconds_from_now(reset: str, seconds: float) -> None:
    _, _, got = parse_rate_limit({"X-RateLimit-Reset": reset}, now=NOW)
    assert got == pytest.approx(seconds)


@pytest.mark.parametrize(
    "value", ["", "soon", "nan", "inf", "-1", "1e999", "0x10", "\u0663", "1 2"]
)
def test_unusable_rate_limit_values_are_none_never_an_error(value: str) -> None:
    names = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
    headers = dict.fromkeys(names, value)
    with pytest.raises(RateLimitError) as info:
        interpret(fetch_contact_call(C, "x"), answer(b"", 429, headers), now=NOW)
    assert (info.value.limit, info.value.remaining, info.value.reset) == (None, None, None)


def test_rate_limit_values_with_a_policy_or_duplicates_use_the_first_number() -> None:
    headers = {"X-RateLimit-Limit": "100, 100;w=60", "RateLimit-Remaining": "5;w=1"}
    assert parse_rate_limit(headers) == (100, 5, None)


def test_no_rate_limit_headers_means_none() -> None:
    with pytest.raises(ServerError) as info:
        interpret(fetch_contact_call(C, "x"), answer(b"oops", 500))
    assert (info.value.limit, info.value.remaining, info.value.reset) == (None, None, None)


# -- secrets from a hostile server ----------------------------------------------------------

KEY, DEV = CREDS["api_key"], CREDS["developer_secret"]


def secret_free(error: BaseException) -> bool:
    texts = [str(error), repr(error), repr(error.args), repr(getattr(error, "messages", ()))]
    return not any(s in t for s in (KEY, DEV) for t in texts)


def test_an_error_envelope_echoing_the_request_is_scrubbed() -> None:
    call = add_profile_call(C, "c-1", {"a": 1}, "s")
    echo = call.body.decode()
    body = {"status": "error", "data": ["Invalid API Key", f"'{KEY}' in {echo}"]}
    with pytest.raises(AuthenticationError) as info:
        interpret(call, answer(body))
    assert info.value.code == "INVALID_API_KEY"  # still classified by the documented message
    assert info.value.messages[1].startswith("'***' in {")
    assert '"developer_secret":"***"' in info.value.messages[1]
    assert secret_free(info.value)


def test_non_string_error_data_echoing_the_request_is_scrubbed() -> None:
    call = fetch_contact_call(C, "c-1")
    body = {"status": "error", "data": [json.loads(call.body)], "x": 1}
    with pytest.raises(APIError) as info:
        interpret(call, answer(body))
    assert '"api_key": "***"' in info.value.messages[0]
    assert secret_free(info.value)
    with pytest.raises(APIError) as info:
        interpret(call, answer({"status": "error", "data": {"secret": DEV}}))
    assert secret_free(info.value)


def test_a_non_ascii_secret_echoed_json_escaped_is_scrubbed() -> None:
    creds = Credentials(**{**CREDS, "api_key": "zk_clé_secrète_42"})
    call = fetch_contact_call(creds, "c-1")
    raw = b'{"status": "error", "data": ["key \\"zk_cl\\u00e9_secr\\u00e8te_42\\""]}'
    with pytest.raises(APIError) as info:
        interpret(call, answer(raw))
    assert info.value.messages == ('key "***"',)
    with pytest.raises(APIError) as info:  # a non-string message is re-encoded escaped
        interpret(call, answer({"status": "error", "data": [{"k": creds.api_key}]}))
    assert info.value.messages == ('{"k": "***"}',)


def test_a_content_type_echoing_a_secret_is_scrubbed() -> None:
    call = fetch_contact_call(C, "c-1")
    for status in (200, 502):
        with pytest.raises(ServerError) as info:
            interpret(call, answer(b"<html/>", status, {"Content-Type": f"text/x-{KEY}"}))
        assert "text/x-***" in str(info.value)
        assert secret_free(info.value)
