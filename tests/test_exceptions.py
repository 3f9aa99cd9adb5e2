"""The error contract: every documented message maps to its documented code and class."""

from __future__ import annotations

import json
import re

import pytest

from tests.helpers import DOCS
from zyntro_async import (
    APIError,
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    ValidationError,
    ZyntroError,
)
from zyntro_async._exceptions import redact
from zyntro_async._policy import BY_CODE, api_error_for

ROW = re.compile(r"^([A-Z][A-Z_]{3,}) (.+)$")


def documented_errors(page: str) -> list[tuple[str, str]]:
    """(code, message) rows of a doc page's Errors table, read from the page itself."""
    text = (DOCS / f"{page}.txt").read_text()
    table = text.split("\nErrors\n", 1)[1]
    return [(m[1], m[2]) for line in table.splitlines() if (m := ROW.match(line))]


def test_the_doc_tables_are_read() -> None:
    assert len(documented_errors("fetchContact")) == 10
    assert len(documented_errors("addProfileToContact")) == 9


@pytest.mark.parametrize("page", ["fetchContact", "addProfileToContact"])
def test_every_documented_message_maps_to_its_code(page: str) -> None:
    for code, message in documented_errors(page):
        error = api_error_for(page, [message], contact_id="c-1")
        assert error.code == code, message
        assert type(error) is BY_CODE[code].error
        assert error.messages == (message,)


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("Missing org ID", "MISSING_FIELDS"),
        ("Missing profile_source", "MISSING_FIELDS"),
        ("Missing profile_payload", "MISSING_FIELDS"),
    ],
)
def test_add_profile_missing_field_messages_one_per_field(message: str, code: str) -> None:
    assert api_error_for("addProfileToContact", [message]).code == code


def test_same_message_means_a_different_code_per_endpoint() -> None:
    assert api_error_for("fetchContact", ["Missing org ID"]).code == "MISSING_ORG_ID"
    assert api_error_for("addProfileToContact", ["Missing org ID"]).code == "MISSING_FIELDS"


def test_matching_ignores_case_and_spacing() -> None:
    error = api_error_for("fetchContact", ["  no such   CONTACT "])
    assert isinstance(error, NotFoundError)


def test_unknown_message_is_api_error_unknown_with_messages_kept() -> None:
    error = api_error_for("fetchContact", ["Database on fire", "second"])
    assert type(error) is APIError
    assert error.code == "UNKNOWN"
    assert error.messages == ("Database on fire", "second")
    assert "Database on fire" in str(error)


def test_first_known_message_wins() -> None:
    error = api_error_for("fetchContact", ["weird", "User is not active"])
    assert isinstance(error, AuthenticationError)
    assert error.code == "USER_INACTIVE"


def test_message_names_endpoint_and_contact() -> None:
    error = api_error_for("addProfileToContact", ["Contact does not exist"], contact_id="abc")
    assert str(error) == ("addProfileToContact (contact 'abc'): Contact does not exist (NOT_FOUND)")
    assert error.endpoint == "addProfileToContact"
    assert error.contact_id == "abc"


@pytest.mark.parametrize(
    ("cls", "codes"),
    [
        (
            AuthenticationError,
            {
                "MISSING_API_KEY",
                "INVALID_API_KEY",
                "MISSING_DEVELOPER_SECRET",
                "INVALID_DEVELOPER_SECRET",
                "USER_INACTIVE",
            },
        ),
        (PermissionDeniedError, {"IP_NOT_WHITELISTED", "NOT_OWNER"}),
        (NotFoundError, {"NOT_FOUND"}),
        (
            ValidationError,
            {
                "MISSING_FIELDS",
                "MISSING_CONTACT_ID",
                "MISSING_ORG_ID",
                "MISSING_MEMBER_ID",
                "INVALID_PAYLOAD",
            },
        ),
    ],
)
def test_the_tree_groups_codes_as_documented(cls: type[APIError], codes: set[str]) -> None:
    documented = [
        api_error_for(page, [message])
        for page in ("fetchContact", "addProfileToContact")
        for _, message in documented_errors(page)
    ]
    assert {e.code for e in documented if type(e) is cls} == codes
    assert issubclass(cls, APIError)
    assert issubclass(cls, ZyntroError)


# -- secrets in server text -----------------------------------------------------------------

KEY, DEV = "zk_live_SECRET_KEY_5d1e", "zdk_SECRET_DEV_9f3a"


def test_redact_replaces_each_secret_verbatim_or_json_escaped() -> None:
    assert redact(f"key={KEY} dev={DEV} again {KEY}", (KEY, DEV)) == "key=*** dev=*** again ***"
    quoted = 'x"y\\z\u00e9-secret'
    escaped = json.dumps({"k": quoted})  # how an echoed JSON body spells it
    assert quoted not in escaped
    assert redact(escaped, (quoted,)) == '{"k": "***"}'
    assert redact(json.dumps({"k": quoted}, ensure_ascii=False), (quoted,)) == '{"k": "***"}'


def test_redact_prefers_the_longer_secret_when_one_contains_the_other() -> None:
    assert redact("abcd-efgh", ("abcd", "abcd-efgh")) == "***"


def test_a_secret_too_short_to_protect_anything_does_not_shred_messages() -> None:
    assert redact("Invalid API Key", ("K", "ey")) == "Invalid API Key"


def test_api_error_classifies_by_the_real_message_and_keeps_it_scrubbed() -> None:
    error = api_error_for(
        "fetchContact", [f"echo {KEY}", "Invalid API Key"], contact_id="c", secrets=(KEY, DEV)
    )
    assert isinstance(error, AuthenticationError)
    assert error.messages == ("echo ***", "Invalid API Key")
    assert KEY not in str(error) + repr(error) + repr(error.args)


def test_rate_limit_evidence_defaults_to_none() -> None:
    for error in (RateLimitError("429", retry_after=1.0), ServerError("503", status=503)):
        assert (error.limit, error.remaining, error.reset) == (None, None, None)
    error = RateLimitError("429", limit=10, remaining=0, reset=2.5)
    assert (error.limit, error.remaining, error.reset, error.status) == (10, 0, 2.5, 429)
