"""The sandbox answers the doc pages' own examples the way the docs show.

Requests are the doc pages' example bodies (tests/fixtures/docs), with the sandbox's
credentials and a real contact id put in place of the placeholders; answers are
compared with the documented responses and every documented error message.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zyntro_async.testing import ZyntroSandbox

DOCS = Path(__file__).resolve().parent.parent / "fixtures" / "docs"
DOC_CONTACT_ID = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"
DOC_MEMBER_ID = "f2470c7f-60b1-4491-b117-8ba0e3e2a53b"  # owner and note maker in the doc
# The doc page prints Cloudflare's e-mail obfuscation, with a no-break space; kept as is.
DOC_EMAIL = "[email\u00a0protected]"
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")

# The "Errors" tables of the two doc pages, code -> message, transcribed word for word: the
# sandbox is checked against these, never against its own copy.
FETCH_DOC_ERRORS = {
    "MISSING_API_KEY": "Missing service instance",
    "INVALID_API_KEY": "Invalid API Key",
    "MISSING_DEVELOPER_SECRET": "Missing developer_secret",
    "INVALID_DEVELOPER_SECRET": "Invalid developer_secret",
    "IP_NOT_WHITELISTED": "IP address not whitelisted",
    "USER_INACTIVE": "User is not active",
    "MISSING_CONTACT_ID": "Missing contact ID",
    "MISSING_ORG_ID": "Missing org ID",
    "MISSING_MEMBER_ID": "Missing member ID",
    "NOT_FOUND": "No such contact",
}
ADD_DOC_ERRORS = {
    "MISSING_API_KEY": "Missing service instance",
    "INVALID_API_KEY": "Invalid API Key",
    "IP_NOT_WHITELISTED": "IP address not whitelisted",
    "INVALID_DEVELOPER_SECRET": "Invalid developer_secret",
    "MISSING_DEVELOPER_SECRET": "Missing developer_secret",
    "MISSING_FIELDS": (
        "Missing org ID / member ID / contact ID / profile_payload / profile_source"
    ),
    "INVALID_PAYLOAD": (
        "Profile payload must be a valid array. The key/value pairing can be anything you like."
    ),
    "NOT_FOUND": "Contact does not exist",
    "NOT_OWNER": "The API only supports notes being added by the member that owns the contact.",
}
# The sandbox sends the MISSING_FIELDS line as one message per field.
MISSING_FIELD_MESSAGES = [
    "Missing " + part
    for part in ADD_DOC_ERRORS["MISSING_FIELDS"].removeprefix("Missing ").split(" / ")
]
DOCUMENTED_MESSAGES = {
    *FETCH_DOC_ERRORS.values(),
    *ADD_DOC_ERRORS.values(),
    *MISSING_FIELD_MESSAGES,
    "User is not active",
}

# The doc's Jane Smith, as add_contact keyword arguments.
DOC_CONTACT: dict[str, Any] = {
    "first_name": "Jane",
    "last_name": "Smith",
    "name": "Jane Smith",
    "email": DOC_EMAIL,
    "phone": "+1-555-0123",
    "zip": "94105",
    "city": "San Francisco",
    "state": "CA",
    "country": "United States",
    "country_code": "US",
    "address": "123 Main St",
    "timezone": "America/Los_Angeles",
    "tags": ["prospect", "webinar-attendee"],
    "custom_fields": {"industry": "Technology"},
    "stage": "Nurturing",
    "stage_id": "stage-uuid",
    "source": "Website Form",
    "status": "Active",
    "role_label": "Decision Maker",
    "salutation": "Ms",
    "dnc": False,
    "is_test": False,
    "sms_optout": False,
    "auto_engage": True,
    "email_optout": False,
    "email_verified": True,
    "phone_verified": False,
    "date_created": datetime(2025, 1, 15, 9, 30),
    "date_updated": datetime(2025, 3, 20, 14, 22),
    "notes": [
        {
            "content": "Expressed interest in the enterprise plan during the demo call.",
            "date_created": datetime(2025, 3, 10, 11, 0),
        }
    ],
    "entity": {
        "name": "Acme Corp",
        "tags": [],
        "label": "Company",
        "socials": {},
        "website": "https://acme.com",
        "location": "San Francisco, CA",
        "custom_fields": {},
    },
}


def doc(name: str) -> Any:
    return json.loads((DOCS / name).read_text())


def fill(body: Any, creds: dict[str, str], contact_id: str) -> Any:
    """The doc body with YOUR_* placeholders and the example UUID replaced."""
    text = json.dumps(body)
    for field, value in creds.items():
        text = text.replace(f"YOUR_{field.upper()}", value)
    return json.loads(text.replace(DOC_CONTACT_ID, contact_id))


@pytest.fixture
async def sb() -> AsyncIterator[ZyntroSandbox]:
    async with ZyntroSandbox() as sandbox:
        yield sandbox


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(
    http: aiohttp.ClientSession, sb: ZyntroSandbox, endpoint: str, body: Any
) -> tuple[int, Any]:
    async with http.post(sb.base_url + endpoint, json=body) as resp:
        assert resp.content_type == "application/json"
        return resp.status, json.loads(await resp.read())


def test_fixtures_are_the_docs_examples() -> None:
    names = sorted(p.name for p in DOCS.glob("*.json"))
    assert names == sorted(
        f"{endpoint}_{kind}.json"
        for endpoint in ("fetchContact", "addProfileToContact")
        for kind in ("request_example", "request_curl", "response_success", "response_error")
    )
    contact = doc("fetchContact_response_success.json")["data"]["contact"]
    assert contact["contact_email"] == DOC_EMAIL
    assert doc("fetchContact_response_error.json")["data"] == [FETCH_DOC_ERRORS["NOT_FOUND"]]
    error = doc("addProfileToContact_response_error.json")["data"]
    assert error == [ADD_DOC_ERRORS["INVALID_PAYLOAD"]]


# ----------------------------------------------------------------------------- fetchContact


@pytest.mark.parametrize(
    "fixture", ["fetchContact_request_example.json", "fetchContact_request_curl.json"]
)
async def test_fetch_contact_doc_example_gets_doc_response(
    sb: ZyntroSandbox, http: aiohttp.ClientSession, fixture: str
) -> None:
    contact_id = sb.add_contact(**DOC_CONTACT)
    creds = sb.credentials
    status, answer = await post(http, sb, "fetchContact", fill(doc(fixture), creds, contact_id))

    expected = doc("fetchContact_response_success.json")
    expected = json.loads(
        json.dumps(expected)
        .replace(DOC_CONTACT_ID, contact_id)
        .replace(DOC_MEMBER_ID, creds["member_id"])
    )
    assert status == 200
    assert answer == expected
    # Same key order as the doc, at every level.
    assert list(answer) == list(expected)
    assert list(answer["data"]) == list(expected["data"])
    assert list(answer["data"]["contact"]) == list(expected["data"]["contact"])
    assert list(answer["data"]["entity"]) == list(expected["data"]["entity"])
    assert list(answer["data"]["notes"][0]) == list(expected["data"]["notes"][0])


async def test_fetch_contact_wire_types(sb: ZyntroSandbox, http: aiohttp.ClientSession) -> None:
    (contact_id,) = sb.seed(1)
    body = {**sb.credentials, "contact_id": contact_id}
    status, answer = await post(http, sb, "fetchContact", body)
    assert status == 200
    assert answer["status"] == "success"
    data = answer["data"]
    assert set(data) == {"notes", "entity", "contact", "signals", "contact_profile"}
    assert data["notes"] is data["entity"] is data["signals"] is data["contact_profile"] is None
    contact = data["contact"]
    assert list(contact) == list(doc("fetchContact_response_success.json")["data"]["contact"])
    assert all(isinstance(v, str) for v in contact.values())
    flags = [k for k in contact if k.endswith(("_dnc", "_is_test", "optout", "engage", "ified"))]
    assert len(flags) == 7
    assert all(contact[k] in ("0", "1") for k in flags)
    assert isinstance(json.loads(contact["contact_tags"]), list)
    assert isinstance(json.loads(contact["contact_custom_fields"]), dict)
    assert DATE_RE.match(contact["contact_date_created"])
    assert DATE_RE.match(contact["contact_date_updated"])
    assert str(uuid.UUID(contact["contact_id"])) == contact_id
    assert contact["contact_owner"] == sb.credentials["member_id"]


# ---------------------------------------------------------------------- addProfileToContact


@pytest.mark.parametrize(
    "fixture",
    ["addProfileToContact_request_example.json", "addProfileToContact_request_curl.json"],
)
async def test_add_profile_doc_example_gets_doc_shape(
    sb: ZyntroSandbox, http: aiohttp.ClientSession, fixture: str
) -> None:
    contact_id = sb.add_contact(**DOC_CONTACT)
    request = fill(doc(fixture), sb.credentials, contact_id)
    status, answer = await post(http, sb, "addProfileToContact", request)

    expected = doc("addProfileToContact_response_success.json")
    assert status == 200
    assert list(answer) == list(expected)
    assert answer["status"] == "success"
    assert list(answer["data"]) == list(expected["data"])
    assert answer["data"]["profile_id"] == 1
    assert answer["data"]["profile_source"] == request["profile_source"]
    assert answer["data"]["profile_payload"] == request["profile_payload"]


async def test_add_profile_curl_example_echoes_doc_payload_order(
    sb: ZyntroSandbox, http: aiohttp.ClientSession
) -> None:
    contact_id = sb.add_contact()
    request = fill(doc("addProfileToContact_request_curl.json"), sb.credentials, contact_id)
    _, answer = await post(http, sb, "addProfileToContact", request)
    expected = doc("addProfileToContact_response_success.json")["data"]
    assert answer["data"] == {**expected, "profile_id": 1}
    # The doc prints the payload in MySQL JSON key order, not the order sent.
    assert list(answer["data"]["profile_payload"]) == list(expected["profile_payload"])
    assert list(request["profile_payload"]) != list(expected["profile_payload"])


# ----------------------------------------------------------------------- documented errors

Mutator = Callable[[ZyntroSandbox, dict[str, Any]], dict[str, Any]]


def without(field: str) -> Mutator:
    return lambda sb, body: {k: v for k, v in body.items() if k != field}


def setting(field: str, value: Any) -> Mutator:
    return lambda sb, body: {**body, field: value}


def other_credentials(**kwargs: Any) -> Mutator:
    def mutate(sb: ZyntroSandbox, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, **sb.add_credentials(**kwargs)}

    return mutate


def contact_of_other_org(sb: ZyntroSandbox, body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "contact_id": sb.add_contact(org_id=str(uuid.uuid4()))}


def other_org_id(sb: ZyntroSandbox, body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "org_id": str(uuid.uuid4())}


def not_owner(sb: ZyntroSandbox, body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "member_id": str(uuid.uuid4())}


COMMON_ERRORS: list[tuple[str, str, Mutator]] = [
    ("MISSING_API_KEY", "Missing service instance", without("api_key")),
    ("MISSING_API_KEY", "Missing service instance", setting("api_key", "")),
    ("MISSING_API_KEY", "Missing service instance", setting("api_key", None)),
    ("INVALID_API_KEY", "Invalid API Key", setting("api_key", "zk_test_unknown")),
    ("INVALID_API_KEY", "Invalid API Key", setting("api_key", ["zk_test_unknown"])),
    ("MISSING_DEVELOPER_SECRET", "Missing developer_secret", without("developer_secret")),
    ("MISSING_DEVELOPER_SECRET", "Missing developer_secret", setting("developer_secret", "")),
    ("INVALID_DEVELOPER_SECRET", "Invalid developer_secret", setting("developer_secret", "x")),
    (
        "IP_NOT_WHITELISTED",
        "IP address not whitelisted",
        other_credentials(ip_whitelist=["203.0.113.7"]),
    ),
    ("USER_INACTIVE", "User is not active", other_credentials(active=False)),
]
FETCH_ERRORS = [
    *COMMON_ERRORS,
    ("MISSING_ORG_ID", "Missing org ID", without("org_id")),
    ("MISSING_MEMBER_ID", "Missing member ID", setting("member_id", "")),
    ("MISSING_CONTACT_ID", "Missing contact ID", without("contact_id")),
    ("NOT_FOUND", "No such contact", setting("contact_id", str(uuid.uuid4()))),
    ("NOT_FOUND", "No such contact", contact_of_other_org),
    ("NOT_FOUND", "No such contact", other_org_id),
]
ADD_ERRORS = [
    *COMMON_ERRORS,
    ("MISSING_FIELDS", "Missing org ID", without("org_id")),
    ("MISSING_FIELDS", "Missing member ID", setting("member_id", None)),
    ("MISSING_FIELDS", "Missing contact ID", without("contact_id")),
    ("MISSING_FIELDS", "Missing profile_payload", without("profile_payload")),
    ("MISSING_FIELDS", "Missing profile_payload", setting("profile_payload", {})),
    ("MISSING_FIELDS", "Missing profile_payload", setting("profile_payload", [])),
    ("MISSING_FIELDS", "Missing profile_source", without("profile_source")),
    ("MISSING_FIELDS", "Missing profile_source", setting("profile_source", "")),
    (
        "INVALID_PAYLOAD",
        "Profile payload must be a valid array. The key/value pairing can be anything you like.",
        setting("profile_payload", "job_title=VP"),
    ),
    (
        "INVALID_PAYLOAD",
        "Profile payload must be a valid array. The key/value pairing can be anything you like.",
        setting("profile_payload", 42),
    ),
    ("NOT_FOUND", "Contact does not exist", setting("contact_id", str(uuid.uuid4()))),
    ("NOT_FOUND", "Contact does not exist", contact_of_other_org),
    (
        "NOT_OWNER",
        "The API only supports notes being added by the member that owns the contact.",
        not_owner,
    ),
]


def test_every_documented_error_is_exercised() -> None:
    assert {code for code, _, _ in FETCH_ERRORS} == set(FETCH_DOC_ERRORS)
    # addProfileToContact's page does not list USER_INACTIVE; the sandbox checks it anyway.
    add_documented = {**ADD_DOC_ERRORS, "USER_INACTIVE": "User is not active"}
    assert {code for code, _, _ in ADD_ERRORS} == set(add_documented)
    for code, message, _ in FETCH_ERRORS:
        assert FETCH_DOC_ERRORS[code] == message
    for code, message, _ in ADD_ERRORS:
        if code == "MISSING_FIELDS":
            assert message in MISSING_FIELD_MESSAGES
        else:
            assert add_documented[code] == message
    missing = {message for code, message, _ in ADD_ERRORS if code == "MISSING_FIELDS"}
    assert missing == set(MISSING_FIELD_MESSAGES)


@pytest.mark.parametrize(("code", "message", "mutate"), FETCH_ERRORS)
async def test_fetch_contact_documented_error(
    sb: ZyntroSandbox, http: aiohttp.ClientSession, code: str, message: str, mutate: Mutator
) -> None:
    body = fill(doc("fetchContact_request_example.json"), sb.credentials, sb.add_contact())
    status, answer = await post(http, sb, "fetchContact", mutate(sb, body))
    assert status == 200
    assert answer == {"data": [message], "status": "error"}
    assert sb.stats.fetch_contact.errors == {code: 1}


@pytest.mark.parametrize(("code", "message", "mutate"), ADD_ERRORS)
async def test_add_profile_documented_error(
    sb: ZyntroSandbox, http: aiohttp.ClientSession, code: str, message: str, mutate: Mutator
) -> None:
    contact_id = sb.add_contact()
    body = fill(doc("addProfileToContact_request_example.json"), sb.credentials, contact_id)
    status, answer = await post(http, sb, "addProfileToContact", mutate(sb, body))
    assert status == 200
    assert answer == {"data": [message], "status": "error"}
    assert sb.stats.add_profile_to_contact.errors == {code: 1}
    assert sb.profiles(contact_id) == []


async def test_errors_are_checked_in_documented_order(
    sb: ZyntroSandbox, http: aiohttp.ClientSession
) -> None:
    inactive_elsewhere = sb.add_credentials(active=False, ip_whitelist=["203.0.113.7"])
    bodies_and_messages = [
        ({"developer_secret": "x", "contact_id": ""}, "Missing service instance"),
        ({"api_key": "nope"}, "Invalid API Key"),
        ({"api_key": sb.credentials["api_key"]}, "Missing developer_secret"),
        ({**sb.credentials, "developer_secret": "zdk_x", "org_id": ""}, "Invalid developer_secret"),
        ({**inactive_elsewhere, "org_id": ""}, "IP address not whitelisted"),
        ({**sb.add_credentials(active=False), "org_id": ""}, "User is not active"),
        ({**sb.credentials, "org_id": "", "member_id": ""}, "Missing org ID"),
        ({**sb.credentials, "member_id": "", "contact_id": ""}, "Missing member ID"),
        ({**sb.credentials, "profile_payload": "x"}, "Missing contact ID"),
    ]
    for body, message in bodies_and_messages:
        for endpoint in ("fetchContact", "addProfileToContact"):
            _, answer = await post(http, sb, endpoint, body)
            assert answer == {"data": [message], "status": "error"}, (endpoint, body)
    add = {**sb.credentials, "contact_id": str(uuid.uuid4()), "profile_source": "x"}
    _, answer = await post(http, sb, "addProfileToContact", {**add, "profile_payload": "x"})
    assert answer["data"] == [ADD_DOC_ERRORS["INVALID_PAYLOAD"]]  # before NOT_FOUND
    _, answer = await post(http, sb, "addProfileToContact", {**add, "profile_payload": [1]})
    assert answer["data"] == [ADD_DOC_ERRORS["NOT_FOUND"]]  # before NOT_OWNER


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b'"api_key"', b"\xff\xfe", b"{"])
async def test_body_that_is_not_a_json_object_counts_as_empty(
    sb: ZyntroSandbox, http: aiohttp.ClientSession, raw: bytes
) -> None:
    for endpoint in ("fetchContact", "addProfileToContact"):
        async with http.post(sb.base_url + endpoint, data=raw) as resp:
            assert resp.status == 200
            missing_key = FETCH_DOC_ERRORS["MISSING_API_KEY"]
            assert await resp.json() == {"data": [missing_key], "status": "error"}


async def test_unknown_path_is_404_and_get_is_rejected(
    sb: ZyntroSandbox, http: aiohttp.ClientSession
) -> None:
    async with http.post(sb.base_url + "deleteContact", json=sb.credentials) as resp:
        assert resp.status == 404
    async with http.get(sb.base_url + "fetchContact") as resp:
        assert resp.status == 405


# ------------------------------------------------------------- validation never crashes

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
_ALL_FIELDS = (
    "api_key",
    "developer_secret",
    "org_id",
    "member_id",
    "contact_id",
    "include_notes",
    "include_profile",
    "include_signals",
    "include_entity",
    "profile_payload",
    "profile_source",
)
_VALID = "valid"  # stands for the field's valid value in the drawn bodies
_bodies = st.fixed_dictionaries(
    {}, optional={field: st.just(_VALID) | _json for field in _ALL_FIELDS}
)


def valid_fields(sb: ZyntroSandbox, contact_id: str) -> dict[str, Any]:
    return {
        **sb.credentials,
        "contact_id": contact_id,
        "include_notes": 1,
        "include_profile": 1,
        "include_signals": 1,
        "include_entity": 1,
        "profile_payload": {"k": "v"},
        "profile_source": "s",
    }


async def assert_documented_answer(
    http: aiohttp.ClientSession, sb: ZyntroSandbox, endpoint: str, raw: bytes
) -> None:
    """One request: HTTP 200, a JSON envelope, and a success or a documented message."""
    async with http.post(sb.base_url + endpoint, data=raw) as resp:
        assert resp.status == 200
        answer = json.loads(await resp.read())
    assert set(answer) == {"data", "status"}
    if answer["status"] == "error":
        assert len(answer["data"]) == 1
        assert answer["data"][0] in DOCUMENTED_MESSAGES, answer
    else:
        assert answer["status"] == "success"


# One sandbox for every example: each request is answered on its own.
@pytest.mark.slow
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(body=_bodies | _json, endpoint=st.sampled_from(["fetchContact", "addProfileToContact"]))
async def test_any_input_gives_documented_error_or_success(
    sb: ZyntroSandbox, http: aiohttp.ClientSession, body: Any, endpoint: str
) -> None:
    if isinstance(body, dict):
        valid = valid_fields(sb, sb.add_contact(notes=["n"], entity={"name": "E"}))
        body = {k: (valid[k] if v == _VALID else v) for k, v in body.items()}
    await assert_documented_answer(http, sb, endpoint, json.dumps(body).encode())


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=64))
async def test_any_bytes_get_a_documented_answer(
    sb: ZyntroSandbox, http: aiohttp.ClientSession, raw: bytes
) -> None:
    await assert_documented_answer(http, sb, "addProfileToContact", raw)


@pytest.mark.parametrize("depth", [50, 900, 5000])
async def test_a_deep_payload_is_stored_whole_or_refused(
    sb: ZyntroSandbox, http: aiohttp.ClientSession, depth: int
) -> None:
    # Deep enough, the body cannot be read (so: "Missing service instance") or the payload
    # cannot be echoed (INVALID_PAYLOAD); where that starts depends on the Python version.
    contact_id = sb.add_contact()
    head = json.dumps(valid_fields(sb, contact_id))[:-1]
    deep = '{"k": ' * depth + "1" + "}" * depth
    raw = f'{head}, "profile_payload": {deep}}}'.encode()
    await assert_documented_answer(http, sb, "addProfileToContact", raw)
    if sb.stats.add_profile_to_contact.successes == 0:
        assert sb.profiles(contact_id) == []  # refused: nothing half-stored
    elif depth == 50:
        payload: Any = 1
        for _ in range(depth):
            payload = {"k": payload}
        assert sb.profiles(contact_id) == [
            {"profile_id": 1, "profile_source": "s", "profile_payload": payload}
        ]
    assert depth < 5000 or sb.stats.add_profile_to_contact.successes == 0
