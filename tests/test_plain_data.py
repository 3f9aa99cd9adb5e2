"""Models become JSON-ready plain data with ``to_dict()`` and come back with
``from_dict()`` -- from real sandbox answers, through the public API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest

from zyntro_async import (
    Contact,
    ContactDetails,
    Entity,
    InvalidArgumentError,
    Note,
    Profile,
    ZyntroClient,
)
from zyntro_async.testing import ZyntroSandbox


@pytest.fixture
async def sandbox() -> AsyncIterator[ZyntroSandbox]:
    async with ZyntroSandbox(seed=11) as sb:
        yield sb


async def fetched(sb: ZyntroSandbox) -> tuple[ContactDetails, Profile]:
    cid = sb.add_contact(first_name="Jane", last_name="Smith", tags=["vip"])
    async with ZyntroClient(**sb.credentials, base_url=sb.base_url) as client:
        profile = await client.add_profile_to_contact(cid, {"title": "VP", "n": [1, 2]}, "Clearbit")
        details = await client.fetch_contact(
            cid, include_notes=True, include_entity=True, include_profile=True
        )
    return details, profile


async def test_to_dict_is_json_ready_with_python_names(sandbox: ZyntroSandbox) -> None:
    details, profile = await fetched(sandbox)
    plain = details.to_dict()
    text = json.dumps(plain)  # no datetime, no model left
    assert json.loads(text) == plain
    contact = plain["contact"]
    assert contact["id"] == details.contact.id
    assert contact["first_name"] == "Jane"  # personal data is in the data, not the repr
    assert contact["tags"] == ["vip"]
    assert "contact_id" not in contact
    if details.contact.date_created is not None:
        assert contact["date_created"] == details.contact.date_created.isoformat()
    assert plain["profiles"] == [profile.to_dict()]
    assert profile.to_dict() == {
        "id": profile.id,
        "source": "Clearbit",
        "payload": {"title": "VP", "n": [1, 2]},
        "extra": profile.extra,
    }


async def test_from_dict_round_trips_every_model(sandbox: ZyntroSandbox) -> None:
    details, profile = await fetched(sandbox)
    assert ContactDetails.from_dict(details.to_dict()) == details
    assert ContactDetails.from_dict(json.loads(json.dumps(details.to_dict()))) == details
    assert Profile.from_dict(profile.to_dict()) == profile
    assert Contact.from_dict(details.contact.to_dict()) == details.contact
    note = Note(maker="m1", content="called", date_created=datetime(2026, 1, 2, 3, 4, 5))
    assert Note.from_dict(json.loads(json.dumps(note.to_dict()))) == note
    entity = Entity(name="Acme", tags=["b2b"], socials={"x": "@acme"})
    assert Entity.from_dict(entity.to_dict()) == entity


@pytest.mark.parametrize(
    ("cls", "data"),
    [
        (Profile, {"source": "s"}),  # no id
        (Profile, {"id": "not a number"}),
        (Contact, {"id": "c", "tags": "not a list"}),
        (Contact, ["not", "a", "mapping"]),
    ],
)
def test_from_dict_refuses_what_does_not_fit_with_a_typed_error(cls: Any, data: Any) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        cls.from_dict(data)
    assert cls.__name__ in str(info.value)
    assert isinstance(info.value, ValueError)
