"""Lenient wire -> model conversion (zyntro_async._converter)."""

from __future__ import annotations

import contextlib
import copy
import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
import cattrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zyntro_async import Contact, ContactDetails, Entity, Note, Profile
from zyntro_async._converter import (
    MalformedResponseError,
    structure_contact_details,
    structure_profile,
)

DOCS = Path(__file__).parent / "fixtures" / "docs"

ALL = {
    "include_notes": True,
    "include_entity": True,
    "include_profile": True,
    "include_signals": True,
}
NONE = dict.fromkeys(ALL, False)

# Documented contact wire keys, straight from fetchContact's 200 example.
CONTACT_WIRE_KEYS = [
    "contact_id",
    "contact_dnc",
    "contact_zip",
    "contact_city",
    "contact_name",
    "contact_tags",
    "contact_email",
    "contact_owner",
    "contact_phone",
    "contact_stage",
    "contact_state",
    "contact_source",
    "contact_status",
    "contact_address",
    "contact_country",
    "contact_is_test",
    "contact_stageid",
    "contact_timezone",
    "contact_last_name",
    "contact_first_name",
    "contact_role_label",
    "contact_salutation",
    "contact_sms_optout",
    "contact_auto_engage",
    "contact_country_code",
    "contact_date_created",
    "contact_date_updated",
    "contact_email_optout",
    "contact_custom_fields",
    "contact_email_verified",
    "contact_phone_verified",
]

# A distinctive value that must never show up in logs.
SECRET = "SECRET-jane@example.com"


def _load(name: str) -> Any:
    return json.loads((DOCS / name).read_text(encoding="utf-8"))


@pytest.fixture
def fetch_data() -> dict[str, Any]:
    data: dict[str, Any] = _load("fetchContact_response_success.json")["data"]
    return data


@pytest.fixture
def profile_data() -> dict[str, Any]:
    data: dict[str, Any] = _load("addProfileToContact_response_success.json")["data"]
    return data


@pytest.fixture
def warnings_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger="zyntro_async")
    return caplog


def _contact(**wire: Any) -> dict[str, Any]:
    return {"contact": {"contact_id": "c-1", **wire}}


def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "zyntro_async" and r.levelno == logging.WARNING]


# --------------------------------------------------------------------------- doc examples


def test_doc_example_contact_every_field(fetch_data: dict[str, Any]) -> None:
    details = structure_contact_details(fetch_data, **ALL)
    assert details.contact == Contact(
        id="a1b2c3d4-e5f6-7890-abcd-ef1234567890",
        name="Jane Smith",
        first_name="Jane",
        last_name="Smith",
        # The docs page's e-mail is a web-page obfuscation artefact; kept verbatim.
        email=fetch_data["contact"]["contact_email"],
        phone="+1-555-0123",
        owner="f2470c7f-60b1-4491-b117-8ba0e3e2a53b",
        stage="Nurturing",
        stage_id="stage-uuid",
        status="Active",
        source="Website Form",
        salutation="Ms",
        role_label="Decision Maker",
        address="123 Main St",
        city="San Francisco",
        state="CA",
        zip="94105",
        country="United States",
        country_code="US",
        timezone="America/Los_Angeles",
        tags=["prospect", "webinar-attendee"],
        custom_fields={"industry": "Technology"},
        dnc=False,
        is_test=False,
        sms_optout=False,
        email_optout=False,
        auto_engage=True,
        email_verified=True,
        phone_verified=False,
        date_created=datetime(2025, 1, 15, 9, 30),
        date_updated=datetime(2025, 3, 20, 14, 22),
        extra={},
    )
    contact = details.contact
    assert contact.email == "[email\xa0protected]"
    assert contact.tags == ["prospect", "webinar-attendee"]
    assert contact.custom_fields == {"industry": "Technology"}
    assert contact.auto_engage is True
    assert contact.dnc is False
    assert contact.email_verified is True
    assert contact.date_created == datetime(2025, 1, 15, 9, 30)
    assert contact.date_created.tzinfo is None
    assert contact.stage_id == "stage-uuid"


def test_doc_example_related_data(fetch_data: dict[str, Any]) -> None:
    details = structure_contact_details(fetch_data, **ALL)
    assert details.notes == [
        Note(
            maker="f2470c7f-60b1-4491-b117-8ba0e3e2a53b",
            content="Expressed interest in the enterprise plan during the demo call.",
            date_created=datetime(2025, 3, 10, 11, 0),
            extra={},
        )
    ]
    assert details.entity == Entity(
        name="Acme Corp",
        label="Company",
        website="https://acme.com",
        location="San Francisco, CA",
        tags=[],
        socials={},
        custom_fields={},
        extra={},
    )
    assert details.profiles == []  # contact_profile: null, asked for
    assert details.signals is None  # signals: null, passed through
    assert details.raw is fetch_data


def test_doc_example_not_asked(fetch_data: dict[str, Any]) -> None:
    details = structure_contact_details(fetch_data, **NONE)
    assert details.notes is None
    assert details.entity is None
    assert details.profiles is None
    assert details.signals is None
    assert details.contact.id == "a1b2c3d4-e5f6-7890-abcd-ef1234567890"


def test_doc_example_input_is_not_mutated(fetch_data: dict[str, Any]) -> None:
    before = copy.deepcopy(fetch_data)
    structure_contact_details(fetch_data, **ALL)
    assert fetch_data == before


def test_doc_example_profile(profile_data: dict[str, Any]) -> None:
    assert structure_profile(profile_data) == Profile(
        id=142,
        source="LinkedIn Scraper",
        payload={
            "job_title": "VP of Marketing",
            "linkedin_url": "https://linkedin.com/in/janesmith",
        },
        extra={},
    )


def test_doc_examples_parse_without_warnings(
    fetch_data: dict[str, Any], profile_data: dict[str, Any], warnings_log: Any
) -> None:
    structure_contact_details(fetch_data, **ALL)
    structure_profile(profile_data)
    assert _warnings(warnings_log) == []


# --------------------------------------------------------------------------- not asked / asked


@pytest.mark.parametrize("flag", sorted(ALL))
def test_each_flag_controls_only_its_part(flag: str) -> None:
    data = {
        **_contact(),
        "notes": [{"note_content": "n"}],
        "entity": {"entity_name": "Acme"},
        "contact_profile": [{"profile_id": 1, "profile_source": "s", "profile_payload": {}}],
        "signals": {"opens": 3},
    }
    details = structure_contact_details(data, **{**NONE, flag: True})
    parts = {
        "include_notes": details.notes,
        "include_entity": details.entity,
        "include_profile": details.profiles,
        "include_signals": details.signals,
    }
    for name, value in parts.items():
        if name == flag:
            assert value is not None
        else:
            assert value is None, name


def test_asked_but_absent() -> None:
    details = structure_contact_details(_contact(), **ALL)
    assert details.notes == []
    assert details.entity is None
    assert details.profiles == []
    assert details.signals is None


def test_signals_passed_through_verbatim() -> None:
    signals = {"opens": [1, 2, {"x": None}], "score": 0.5}
    details = structure_contact_details({**_contact(), "signals": signals}, **ALL)
    assert details.signals is signals
    weird = structure_contact_details({**_contact(), "signals": "[1]"}, **ALL)
    assert weird.signals == "[1]"


# --------------------------------------------------------------------------- extra


def test_unknown_keys_land_in_extra_verbatim(warnings_log: Any) -> None:
    nested = {"deep": [1, {"a": None}]}
    data = {
        **_contact(contact_brand_new="x", contact_score=7, contact_nested=nested, other=None),
        "notes": [{"note_content": "n", "note_pinned": "1"}],
        "entity": {"entity_name": "Acme", "entity_id": 5},
        "contact_profile": [{"profile_id": 1, "profile_created": "2025-01-01 00:00:00"}],
        "unknown_top_level": True,
    }
    details = structure_contact_details(data, **ALL)
    assert details.contact.extra == {
        "contact_brand_new": "x",
        "contact_score": 7,
        "contact_nested": nested,
        "other": None,
    }
    assert details.contact.extra["contact_nested"] is nested
    assert details.notes is not None
    assert details.notes[0].extra == {"note_pinned": "1"}
    assert details.entity is not None
    assert details.entity.extra == {"entity_id": 5}
    assert details.profiles is not None
    assert details.profiles[0].extra == {"profile_created": "2025-01-01 00:00:00"}
    assert details.raw["unknown_top_level"] is True
    assert _warnings(warnings_log) == []  # unknown keys are not an anomaly


def test_profile_unknown_keys_in_extra(profile_data: dict[str, Any]) -> None:
    profile = structure_profile({**profile_data, "profile_contact_id": "c-1"})
    assert profile.extra == {"profile_contact_id": "c-1"}


def test_attribute_names_are_not_wire_keys() -> None:
    # "id" or "extra" on the wire are unknown keys, not attributes.
    details = structure_contact_details(_contact(id="nope", extra="nope", stage_id="x"), **NONE)
    assert details.contact.id == "c-1"
    assert details.contact.stage_id is None
    assert details.contact.extra == {"id": "nope", "extra": "nope", "stage_id": "x"}


# --------------------------------------------------------------------------- malformed fields

MALFORMED_CONTACT_FIELDS: list[tuple[str, Any, str, Any]] = [
    ("contact_dnc", "maybe " + SECRET, "dnc", None),
    ("contact_auto_engage", 2, "auto_engage", None),
    ("contact_email_verified", [SECRET], "email_verified", None),
    ("contact_date_created", SECRET, "date_created", None),
    ("contact_date_updated", "2025-13-40 10:00:00", "date_updated", None),
    ("contact_date_updated", "2025-01-15T09:30:00+02:00", "date_updated", None),
    ("contact_tags", "[" + SECRET, "tags", []),
    ("contact_tags", json.dumps([SECRET, None]), "tags", []),
    ("contact_tags", json.dumps({"a": SECRET, "b": True}), "tags", []),
    ("contact_tags", SECRET, "tags", []),
    ("contact_tags", 5, "tags", []),
    ("contact_custom_fields", "{" + SECRET, "custom_fields", {}),
    ("contact_custom_fields", json.dumps([SECRET]), "custom_fields", {}),
    ("contact_custom_fields", 3.5, "custom_fields", {}),
    ("contact_email", {"value": SECRET}, "email", None),
    ("contact_name", True, "name", None),
    ("contact_stageid", [SECRET], "stage_id", None),
]


@pytest.mark.parametrize(
    ("wire_key", "bad", "attribute", "default"),
    MALFORMED_CONTACT_FIELDS,
    ids=[f"{k}-{i}" for i, (k, *_) in enumerate(MALFORMED_CONTACT_FIELDS)],
)
def test_malformed_contact_field_kept_raw_with_warning(
    wire_key: str, bad: Any, attribute: str, default: Any, warnings_log: Any
) -> None:
    data = _contact(**{"contact_name": "Jane", wire_key: bad})
    details = structure_contact_details(data, **NONE)
    assert getattr(details.contact, attribute) == default
    assert details.contact.extra == {wire_key: bad}
    assert details.contact.extra[wire_key] is bad
    if wire_key != "contact_name":
        assert details.contact.name == "Jane"  # the rest of the record still parsed
    records = _warnings(warnings_log)
    assert len(records) == 1
    assert wire_key in records[0].getMessage()
    assert SECRET not in warnings_log.text
    assert "13-40" not in warnings_log.text
    assert "+02:00" not in warnings_log.text


def test_several_malformed_fields_each_warned(warnings_log: Any) -> None:
    data = _contact(contact_dnc="x", contact_tags="{", contact_date_created="y", contact_city="ok")
    contact = structure_contact_details(data, **NONE).contact
    assert contact.extra == {"contact_dnc": "x", "contact_tags": "{", "contact_date_created": "y"}
    assert contact.city == "ok"
    messages = " ".join(r.getMessage() for r in _warnings(warnings_log))
    for key in ("contact_dnc", "contact_tags", "contact_date_created"):
        assert key in messages


def test_malformed_note_and_entity_fields(warnings_log: Any) -> None:
    data = {
        **_contact(),
        "notes": [{"note_content": "ok", "note_date_created": SECRET}],
        "entity": {"entity_name": "Acme", "entity_socials": "not json " + SECRET},
    }
    details = structure_contact_details(data, **ALL)
    assert details.notes == [
        Note(content="ok", date_created=None, extra={"note_date_created": SECRET})
    ]
    assert details.entity == Entity(
        name="Acme", socials={}, extra={"entity_socials": "not json " + SECRET}
    )
    messages = " ".join(r.getMessage() for r in _warnings(warnings_log))
    assert "note_date_created" in messages
    assert "entity_socials" in messages
    assert SECRET not in warnings_log.text


def test_malformed_profile_fields_other_than_id(warnings_log: Any) -> None:
    profile = structure_profile(
        {"profile_id": "7", "profile_source": None, "profile_payload": "oops " + SECRET}
    )
    assert profile == Profile(
        id=7,
        source="",
        payload={},
        extra={"profile_source": None, "profile_payload": "oops " + SECRET},
    )
    assert SECRET not in warnings_log.text
    assert len(_warnings(warnings_log)) == 2


# --------------------------------------------------------------------------- fatal cases


@pytest.mark.parametrize("data", [None, [], ["No such contact"], "x", 1, True])
def test_data_not_an_object_is_fatal(data: Any) -> None:
    with pytest.raises(MalformedResponseError):
        structure_contact_details(data, **ALL)
    with pytest.raises(MalformedResponseError):
        structure_profile(data)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"contact": None},
        {"contact": []},
        {"contact": '{"contact_id": "c-1"}'},
        {"contact": {}},
        {"contact": {"contact_name": "Jane"}},
        {"contact": {"contact_id": ""}},
        {"contact": {"contact_id": "   "}},
        {"contact": {"contact_id": None}},
        {"contact": {"contact_id": True}},
        {"contact": {"contact_id": ["c-1"]}},
        {"contact": {"contact_id": {"id": "c-1"}}},
    ],
)
def test_unusable_contact_is_fatal(data: Any, warnings_log: Any) -> None:
    with pytest.raises(MalformedResponseError) as info:
        structure_contact_details(data, **ALL)
    assert isinstance(info.value, ValueError)
    assert "c-1" not in str(info.value)


def test_numeric_contact_id_is_accepted() -> None:
    assert structure_contact_details({"contact": {"contact_id": 123}}, **NONE).contact.id == "123"


@pytest.mark.parametrize(
    "profile_id",
    [
        None,
        "",
        "abc",
        "1.5",
        "1e3",
        "5.0",
        "1_000",
        True,
        False,
        1.5,
        float("inf"),
        [1],
        {"id": 1},
        "٣",
    ],
)
def test_unusable_profile_id_is_fatal(profile_id: Any) -> None:
    with pytest.raises(MalformedResponseError):
        structure_profile({"profile_id": profile_id, "profile_source": "s"})


def test_missing_profile_id_is_fatal() -> None:
    with pytest.raises(MalformedResponseError):
        structure_profile({"profile_source": "s", "profile_payload": {}})


@pytest.mark.parametrize(
    ("profile_id", "expected"),
    [(142, 142), ("142", 142), (" 142 ", 142), (142.0, 142), (0, 0), ("-5", -5)],
)
def test_usable_profile_ids(profile_id: Any, expected: int) -> None:
    profile = structure_profile({"profile_id": profile_id})
    assert profile.id == expected
    assert type(profile.id) is int


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"a": 1}, {"a": 1}),
        ([1, "b"], [1, "b"]),
        ('{"a": [1, 2]}', {"a": [1, 2]}),
        ("[1, 2]", [1, 2]),
        ("[]", []),
        ("{}", {}),
        ([], []),
        ("", {}),
        (None, {}),
    ],
)
def test_profile_payload_shapes(payload: Any, expected: Any) -> None:
    profile = structure_profile({"profile_id": 1, "profile_payload": payload})
    assert profile.payload == expected
    assert profile.extra == {}


# --------------------------------------------------------------------------- contact_profile

RECORD_1 = {"profile_id": 1, "profile_source": "LinkedIn", "profile_payload": {"a": 1}}
RECORD_2 = {"profile_id": "2", "profile_source": "Clearbit", "profile_payload": '{"b": [2]}'}
PROFILE_1 = Profile(id=1, source="LinkedIn", payload={"a": 1})
PROFILE_2 = Profile(id=2, source="Clearbit", payload={"b": [2]})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([RECORD_1, RECORD_2], [PROFILE_1, PROFILE_2]),
        (RECORD_1, [PROFILE_1]),
        (json.dumps([RECORD_1, RECORD_2]), [PROFILE_1, PROFILE_2]),
        (json.dumps(RECORD_2), [PROFILE_2]),
        (None, []),
        ([], []),
        ({}, []),
        ("", []),
        ("[]", []),
        ("null", []),
    ],
    ids=[
        "list",
        "single-record",
        "json-list",
        "json-record",
        "null",
        "empty-list",
        "empty-object",
        "empty-string",
        "json-empty-list",
        "json-null",
    ],
)
def test_contact_profile_shapes(value: Any, expected: list[Profile], warnings_log: Any) -> None:
    details = structure_contact_details({**_contact(), "contact_profile": value}, **ALL)
    assert details.profiles == expected
    assert _warnings(warnings_log) == []


def test_contact_profile_absent_when_asked() -> None:
    assert structure_contact_details(_contact(), **ALL).profiles == []


def test_contact_profile_bad_records_skipped(warnings_log: Any) -> None:
    value = [
        RECORD_1,
        {"profile_source": SECRET},  # no profile_id
        {"profile_id": SECRET},  # unusable profile_id
        SECRET,  # not an object
        None,
        RECORD_2,
    ]
    details = structure_contact_details({**_contact(), "contact_profile": value}, **ALL)
    assert details.profiles == [PROFILE_1, PROFILE_2]
    assert len(_warnings(warnings_log)) == 4
    assert SECRET not in warnings_log.text


@pytest.mark.parametrize("value", ["[" + SECRET, 42, True, 1.5])
def test_contact_profile_unusable_shape(value: Any, warnings_log: Any) -> None:
    details = structure_contact_details({**_contact(), "contact_profile": value}, **ALL)
    assert details.profiles == []
    assert details.raw["contact_profile"] is value
    assert len(_warnings(warnings_log)) == 1
    assert SECRET not in warnings_log.text


def test_contact_profile_ignored_when_not_asked(warnings_log: Any) -> None:
    details = structure_contact_details(
        {**_contact(), "contact_profile": [RECORD_1, "junk"]}, **NONE
    )
    assert details.profiles is None
    assert _warnings(warnings_log) == []


# --------------------------------------------------------------------------- notes / entity


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        ([], []),
        ("", []),
        ({"note_content": "one"}, [Note(content="one")]),
        ('[{"note_content": "one"}]', [Note(content="one")]),
        (
            [{"note_content": "a"}, {"note_maker": "m", "note_date_created": "2025-03-10"}],
            [Note(content="a"), Note(maker="m", date_created=datetime(2025, 3, 10))],
        ),
    ],
)
def test_notes_shapes(value: Any, expected: list[Note]) -> None:
    details = structure_contact_details({**_contact(), "notes": value}, **ALL)
    assert details.notes == expected


def test_notes_bad_items_skipped(warnings_log: Any) -> None:
    value = [{"note_content": "a"}, SECRET, 3, {"note_content": "b"}]
    details = structure_contact_details({**_contact(), "notes": value}, **ALL)
    assert details.notes == [Note(content="a"), Note(content="b")]
    assert len(_warnings(warnings_log)) == 2
    assert SECRET not in warnings_log.text


@pytest.mark.parametrize("value", [None, [], {}, "", "[]", "{}", "null"])
def test_entity_empty_shapes(value: Any) -> None:
    details = structure_contact_details({**_contact(), "entity": value}, **ALL)
    assert details.entity is None


def test_entity_json_fields_decoded() -> None:
    entity_wire = {
        "entity_name": "Acme",
        "entity_tags": '["b2b", "saas"]',
        "entity_socials": '{"linkedin": "https://linkedin.com/company/acme"}',
        "entity_custom_fields": '{"employees": 250}',
    }
    details = structure_contact_details({**_contact(), "entity": entity_wire}, **ALL)
    assert details.entity == Entity(
        name="Acme",
        tags=["b2b", "saas"],
        socials={"linkedin": "https://linkedin.com/company/acme"},
        custom_fields={"employees": 250},
    )
    as_string = structure_contact_details({**_contact(), "entity": json.dumps(entity_wire)}, **ALL)
    assert as_string.entity == details.entity


@pytest.mark.parametrize("value", [42, [{"entity_name": "Acme"}], "{" + SECRET, True])
def test_entity_unusable_shape(value: Any, warnings_log: Any) -> None:
    details = structure_contact_details({**_contact(), "entity": value}, **ALL)
    assert details.entity is None
    assert len(_warnings(warnings_log)) == 1
    assert SECRET not in warnings_log.text


# ------------------------------------------------------------------ one field, every value


def field_of(wire_key: str, value: Any) -> Contact:
    """The contact parsed from a record whose ``wire_key`` holds ``value``."""
    return structure_contact_details(_contact(**{wire_key: value}), **NONE).contact


def assert_kept_raw(contact: Contact, wire_key: str, value: Any) -> None:
    """A value the field cannot take: the attribute keeps its default, the value is in extra."""
    assert contact.extra == {wire_key: value}
    assert contact.extra[wire_key] is value


def test_using_the_sdk_leaves_the_global_cattrs_converter_alone(
    fetch_data: dict[str, Any],
) -> None:
    # The SDK parses "0" as False, " 1 " as 1, "" as None...; an application's own cattrs
    # use must not start doing the same after a contact was parsed.
    structure_contact_details(fetch_data, **ALL)

    def outcome(converter: cattrs.Converter, value: Any, type_: Any) -> Any:
        try:
            return converter.structure(value, type_)
        except Exception as exc:  # the kind of failure is part of the behaviour
            return type(exc)

    fresh = cattrs.Converter()
    cases = [
        ("0", bool | None),
        ("", bool | None),
        (" 1 ", int),
        ("", str | None),
        (94105, str | None),
        ('["a"]', list[str]),
        ('{"a": 1}', dict[str, Any]),
        ("2025-01-15 09:30:00", datetime | None),
        ({"contact_id": "c-1", "contact_dnc": "1"}, Contact),
    ]
    for value, type_ in cases:
        expected = outcome(fresh, value, type_)
        assert outcome(cattrs.global_converter, value, type_) == expected, (value, type_)


def test_every_documented_key_lands_in_its_attribute(fetch_data: dict[str, Any]) -> None:
    details = structure_contact_details(fetch_data, **ALL)
    assert set(fetch_data["contact"]) == set(CONTACT_WIRE_KEYS)
    assert details.contact.extra == {}  # every documented key has an attribute
    assert details.contact.stage_id == "stage-uuid"  # contact_stageid: the one odd name
    attributes = [a for a in attrs.fields_dict(Contact) if a != "extra"]
    assert len(attributes) == len(CONTACT_WIRE_KEYS)
    assert all(getattr(details.contact, a) is not None for a in attributes)
    assert details.notes is not None
    assert details.entity is not None
    assert all(note.extra == {} for note in details.notes)
    assert details.entity.extra == {}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", True),
        ("0", False),
        ("true", True),
        ("FALSE", False),
        ("True", True),
        (" 1 ", True),
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        ("", None),
        ("  ", None),
        (None, None),
    ],
)
def test_flag_values(value: Any, expected: bool | None) -> None:
    contact = field_of("contact_dnc", value)
    assert contact.dnc is expected
    assert contact.extra == {}


@pytest.mark.parametrize("value", ["yes", "2", "-1", 2, -1, 1.0, [], {}, "01"])
def test_flag_values_kept_raw(value: Any) -> None:
    contact = field_of("contact_dnc", value)
    assert contact.dnc is None
    assert_kept_raw(contact, "contact_dnc", value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-01-15 09:30:00", datetime(2025, 1, 15, 9, 30)),
        ("2025-01-15T09:30:00", datetime(2025, 1, 15, 9, 30)),
        (" 2025-01-15 09:30:00 ", datetime(2025, 1, 15, 9, 30)),
        ("2025-01-15", datetime(2025, 1, 15)),
        ("2025-01-15 09:30:00.5", datetime(2025, 1, 15, 9, 30, 0, 500000)),
        ("2025-01-15T09:30:00.123456", datetime(2025, 1, 15, 9, 30, 0, 123456)),
        ("0000-00-00 00:00:00", None),
        ("0000-00-00", None),
        ("", None),
        (None, None),
    ],
)
def test_date_values(value: Any, expected: datetime | None) -> None:
    contact = field_of("contact_date_created", value)
    assert contact.date_created == expected
    assert contact.date_created is None or contact.date_created.tzinfo is None
    assert contact.extra == {}


@pytest.mark.parametrize(
    "value",
    [
        "2025-01-15 09:30",
        "2025-01-15T09:30:00Z",
        "2025-01-15T09:30:00+00:00",
        "20250115",
        "2025-02-30",
        "2025-01-15 25:00:00",
        "15/01/2025",
        "٢٠٢٥-01-15",
        "2025-01-15 09:30:00.1234567",
        1736933400,
        [],
    ],
)
def test_date_values_kept_raw(value: Any) -> None:
    contact = field_of("contact_date_created", value)
    assert contact.date_created is None
    assert_kept_raw(contact, "contact_date_created", value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('["prospect", "webinar-attendee"]', ["prospect", "webinar-attendee"]),
        (["a", "b"], ["a", "b"]),
        ("[]", []),
        (" [ ] ", []),
        ("", []),
        ("null", []),
        (None, []),
        ("{}", []),
        ('{"0": "a", "2": "b"}', ["a", "b"]),  # PHP array with holes
        ('[1, 2.5, "x"]', ["1", "2.5", "x"]),  # numbers are str()-ed
    ],
)
def test_tag_values(value: Any, expected: list[str]) -> None:
    contact = field_of("contact_tags", value)
    assert contact.tags == expected
    assert contact.extra == {}


@pytest.mark.parametrize(
    "value", ["[null]", "[true]", '[["a"]]', '[{"a": 1}]', "a,b", "[", '"a"', "3", 3, True]
)
def test_tag_values_kept_raw(value: Any) -> None:
    contact = field_of("contact_tags", value)
    assert contact.tags == []
    assert_kept_raw(contact, "contact_tags", value)


def test_tags_are_a_copy_of_the_wire_list() -> None:
    tags = ["a"]
    contact = field_of("contact_tags", tags)
    assert contact.tags == tags
    contact.tags.append("b")
    assert tags == ["a"]  # the parsed answer does not share the wire's list


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('{"industry": "Technology"}', {"industry": "Technology"}),
        ({"a": [1]}, {"a": [1]}),
        ("{}", {}),
        ("[]", {}),
        ([], {}),
        ("", {}),
        ("null", {}),
        (None, {}),
    ],
)
def test_custom_field_values(value: Any, expected: dict[str, Any]) -> None:
    contact = field_of("contact_custom_fields", value)
    assert contact.custom_fields == expected
    assert contact.extra == {}


@pytest.mark.parametrize("value", ['["a"]', ["a"], "{", "x", "1", 1, True])
def test_custom_field_values_kept_raw(value: Any) -> None:
    contact = field_of("contact_custom_fields", value)
    assert contact.custom_fields == {}
    assert_kept_raw(contact, "contact_custom_fields", value)


def test_hostile_json_in_a_field_is_kept_raw() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    assert_kept_raw(field_of("contact_tags", deep), "contact_tags", deep)
    assert_kept_raw(field_of("contact_custom_fields", "{NaN"), "contact_custom_fields", "{NaN")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("abc", "abc"), ("", ""), (94105, "94105"), (1.5, "1.5"), (None, None)],
)
def test_text_values(value: Any, expected: str | None) -> None:
    contact = field_of("contact_zip", value)
    assert contact.zip == expected
    assert contact.extra == {}


@pytest.mark.parametrize("value", [True, [], {}, ["a"]])
def test_text_values_kept_raw(value: Any) -> None:
    contact = field_of("contact_zip", value)
    assert contact.zip is None
    assert_kept_raw(contact, "contact_zip", value)


# --------------------------------------------------------------------------- unstructure


def test_unstructure_doc_example(fetch_data: dict[str, Any]) -> None:
    details = structure_contact_details(fetch_data, **ALL)
    plain = details.to_dict()
    text = json.dumps(plain)
    assert json.loads(text) == plain
    contact = plain["contact"]
    assert contact["date_created"] == "2025-01-15T09:30:00"
    assert contact["date_updated"] == "2025-03-20T14:22:00"
    assert contact["tags"] == ["prospect", "webinar-attendee"]
    assert contact["stage_id"] == "stage-uuid"
    assert contact["auto_engage"] is True
    assert contact["extra"] == {}
    assert plain["notes"][0]["date_created"] == "2025-03-10T11:00:00"
    assert plain["entity"]["name"] == "Acme Corp"
    assert plain["profiles"] == []
    assert plain["signals"] is None
    assert plain["raw"] == fetch_data


def test_unstructure_profile_and_none_dates(profile_data: dict[str, Any]) -> None:
    assert structure_profile(profile_data).to_dict() == {
        "id": 142,
        "source": "LinkedIn Scraper",
        "payload": {
            "job_title": "VP of Marketing",
            "linkedin_url": "https://linkedin.com/in/janesmith",
        },
        "extra": {},
    }
    assert Note().to_dict()["date_created"] is None
    assert Contact(id="c", date_created=datetime(2025, 1, 1, 0, 0, 0, 5)).to_dict()[
        "date_created"
    ] == ("2025-01-01T00:00:00.000005")


# --------------------------------------------------------------------------- properties

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
# Also feed JSON-inside-strings and near-miss wire strings, which reach the decoders.
WIRE_VALUES = (
    JSON_VALUES
    | JSON_VALUES.map(lambda v: json.dumps(v))
    | st.sampled_from(
        ["0", "1", "true", "", "[]", "{}", "null", "0000-00-00", "2025-01-15 09:30:00", "[", "{"]
    )
)
CONTACT_KEYS = st.sampled_from([*CONTACT_WIRE_KEYS, "contact_unknown", "x"])


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fields=st.dictionaries(CONTACT_KEYS, WIRE_VALUES, max_size=10),
    related=st.dictionaries(
        st.sampled_from(["notes", "entity", "contact_profile", "signals"]), WIRE_VALUES
    ),
    flags=st.fixed_dictionaries({name: st.booleans() for name in ALL}),
)
def test_property_structure_never_fails_unexpectedly(
    fields: dict[str, Any], related: dict[str, Any], flags: dict[str, bool]
) -> None:
    data = {"contact": {"contact_id": "c-1", **fields}, **related}
    try:
        details = structure_contact_details(data, **flags)
    except MalformedResponseError:
        return
    assert isinstance(details, ContactDetails)
    # Nothing the server sent is lost: unknown or malformed values are in extra, verbatim.
    for key, value in data["contact"].items():
        if key not in CONTACT_WIRE_KEYS or key in details.contact.extra:
            assert details.contact.extra[key] is value
    json.dumps(details.to_dict())


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(data=WIRE_VALUES | st.dictionaries(CONTACT_KEYS, WIRE_VALUES))
def test_property_contact_record_shape(data: Any) -> None:
    with contextlib.suppress(MalformedResponseError):
        structure_contact_details({"contact": data}, **ALL)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(
    data=WIRE_VALUES
    | st.dictionaries(
        st.sampled_from(["profile_id", "profile_source", "profile_payload", "other"]),
        WIRE_VALUES | st.integers(),
    )
)
def test_property_structure_profile_never_fails_unexpectedly(data: Any) -> None:
    try:
        profile = structure_profile(data)
    except MalformedResponseError:
        return
    assert type(profile.id) is int
    assert isinstance(profile.payload, (dict, list))
    json.dumps(profile.to_dict())


@settings(max_examples=300, deadline=None)
@given(
    profile_id=st.integers() | st.text(max_size=5) | st.booleans() | st.none(),
    source=st.text(max_size=5) | st.integers() | st.none(),
    payload=WIRE_VALUES,
    extra=st.none() | st.integers(),
)
def test_property_add_answer_structured_as_a_fetched_record(
    profile_id: Any, source: Any, payload: Any, extra: Any
) -> None:
    """An add's answer gives the profile the same record gives in a fetch (the same
    rules, the same extra), and a payload that is a copy, never the answer's own."""
    data = {"profile_id": profile_id, "profile_source": source, "profile_payload": payload}
    if extra is not None:
        data["note"] = extra
    fetched = structure_contact_details(
        {"contact": {"contact_id": "c1"}, "contact_profile": [data]}, **ALL
    ).profiles
    assert fetched is not None
    try:
        added = structure_profile(data)
    except MalformedResponseError:
        assert fetched == []  # a record the fetch skips is one the add refuses
        return
    assert fetched == [added]
    if isinstance(payload, (dict, list)):
        assert added.payload == payload
        assert added.payload is not payload
