"""The frozen attrs models: defaults, immutability, reprs, the profiles_from helper."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs
import pytest

from zyntro_async import Contact, ContactDetails, Entity, Note, Profile


def _details(**kwargs: Any) -> ContactDetails:
    return ContactDetails(contact=Contact(id="c-1"), **kwargs)


def test_contact_defaults() -> None:
    contact = Contact(id="c-1")
    assert contact.id == "c-1"
    for name in (
        "name",
        "first_name",
        "last_name",
        "email",
        "phone",
        "owner",
        "stage",
        "stage_id",
        "status",
        "source",
        "salutation",
        "role_label",
        "address",
        "city",
        "state",
        "zip",
        "country",
        "country_code",
        "timezone",
        "dnc",
        "is_test",
        "sms_optout",
        "email_optout",
        "auto_engage",
        "email_verified",
        "phone_verified",
        "date_created",
        "date_updated",
    ):
        assert getattr(contact, name) is None, name
    assert contact.tags == []
    assert contact.custom_fields == {}
    assert contact.extra == {}


def test_contact_requires_id() -> None:
    with pytest.raises(TypeError):
        Contact()  # type: ignore[call-arg]


def test_profile_requires_id_and_has_defaults() -> None:
    with pytest.raises(TypeError):
        Profile()  # type: ignore[call-arg]
    profile = Profile(id=1)
    assert profile.source == ""
    assert profile.payload == {}
    assert profile.extra == {}


def test_note_entity_defaults() -> None:
    assert Note() == Note(maker=None, content=None, date_created=None, extra={})
    entity = Entity()
    assert (entity.name, entity.label, entity.website, entity.location) == (None,) * 4
    assert entity.tags == []
    assert entity.socials == {}
    assert entity.custom_fields == {}
    assert entity.extra == {}


def test_details_defaults() -> None:
    details = _details()
    assert details.notes is None
    assert details.entity is None
    assert details.profiles is None
    assert details.signals is None
    assert details.raw == {}


def test_mutable_defaults_are_not_shared() -> None:
    first, second = Contact(id="a"), Contact(id="b")
    assert first.tags is not second.tags
    assert first.custom_fields is not second.custom_fields
    assert first.extra is not second.extra
    assert Profile(id=1).payload is not Profile(id=2).payload


@pytest.mark.parametrize(
    ("obj", "attribute", "value"),
    [
        (Contact(id="c-1"), "email", "x@example.com"),
        (Contact(id="c-1"), "id", "c-2"),
        (Note(), "content", "text"),
        (Entity(), "name", "Acme"),
        (Profile(id=1), "id", 2),
        (_details(), "notes", []),
    ],
)
def test_models_are_frozen(obj: Any, attribute: str, value: Any) -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(obj, attribute, value)


@pytest.mark.parametrize(
    "obj",
    [Contact(id="c-1"), Note(), Entity(), Profile(id=1), _details()],
    ids=lambda obj: type(obj).__name__,
)
def test_models_use_slots(obj: Any) -> None:
    assert attrs.has(type(obj))
    assert "__slots__" in type(obj).__dict__
    assert not hasattr(obj, "__dict__")


def test_raw_is_not_in_repr() -> None:
    details = _details(raw={"contact": {"contact_id": "c-1", "blob": "x" * 1000}})
    assert "blob" not in repr(details)
    assert "raw" not in repr(details)
    assert "Contact(id='c-1'" in repr(details)


def test_equality_is_by_value() -> None:
    when = datetime(2025, 1, 15, 9, 30)
    assert Contact(id="c", date_created=when, tags=["a"]) == Contact(
        id="c", date_created=when, tags=["a"]
    )
    assert Contact(id="c") != Contact(id="d")


def test_profiles_from_none_is_empty() -> None:
    assert _details().profiles_from("LinkedIn") == []


def test_profiles_from_filters_by_exact_source() -> None:
    linkedin_1 = Profile(id=1, source="LinkedIn", payload={"a": 1})
    clearbit = Profile(id=2, source="Clearbit")
    linkedin_2 = Profile(id=3, source="LinkedIn", payload=[1, 2])
    details = _details(profiles=[linkedin_1, clearbit, linkedin_2])
    assert details.profiles_from("LinkedIn") == [linkedin_1, linkedin_2]
    assert details.profiles_from("Clearbit") == [clearbit]
    assert details.profiles_from("linkedin") == []
    assert _details(profiles=[]).profiles_from("LinkedIn") == []
