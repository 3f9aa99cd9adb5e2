"""Personal data stays out of reprs, and so out of tracebacks and logs: a fetched contact's
repr shows that its email, phone, names and address are set, never what they are."""

from __future__ import annotations

import logging
import traceback
from collections.abc import AsyncIterator

import pytest

from zyntro_async import Contact, Note, ZyntroClient
from zyntro_async.testing import ZyntroSandbox

PERSONAL = {
    "first_name": "Janice",
    "last_name": "Smithers",
    "email": "janice.smithers@example.com",
    "phone": "+1-555-0199",
    "address": "742 Evergreen Terrace",
    "city": "Springfield",
    "zip": "49007",
}
SECRET_NOTE = "Mentioned her divorce during the call"
CUSTOM = {"ssn_last4": "6789"}


@pytest.fixture
async def sandbox() -> AsyncIterator[ZyntroSandbox]:
    async with ZyntroSandbox(seed=3) as sb:
        yield sb


def values(text: str) -> list[str]:
    leaked = [*PERSONAL.values(), "Janice Smithers", SECRET_NOTE, "6789"]
    return [v for v in leaked if v in text]


async def test_a_fetched_contacts_repr_holds_no_personal_data(sandbox: ZyntroSandbox) -> None:
    cid = sandbox.add_contact(
        **PERSONAL, name="Janice Smithers", custom_fields=CUSTOM, notes=[SECRET_NOTE]
    )
    async with ZyntroClient(**sandbox.credentials, base_url=sandbox.base_url) as client:
        details = await client.fetch_contact(cid, include_notes=True)
    contact = details.contact
    assert contact.email == PERSONAL["email"]  # the data is there ...
    assert details.notes is not None
    assert details.notes[0].content == SECRET_NOTE
    text = repr(details) + str(details) + repr(contact) + repr(details.notes)
    assert values(text) == []  # ... but not in the repr
    for field in ("email", "phone", "address", "first_name", "last_name", "city", "zip"):
        assert f"{field}=<redacted>" in repr(contact)
    assert "custom_fields=<object with 1 key>" in repr(contact)
    assert f"id={cid!r}" in repr(contact)  # what identifies the record stays readable


def test_an_unset_personal_field_reads_none() -> None:
    assert "email=None" in repr(Contact(id="c-1"))
    assert "content=None" in repr(Note())


def test_a_traceback_and_a_log_line_do_not_carry_it(caplog: pytest.LogCaptureFixture) -> None:
    contact = Contact(id="c-1", email=PERSONAL["email"], phone=PERSONAL["phone"])
    try:
        raise RuntimeError(f"could not sync {contact!r}")
    except RuntimeError:
        rendered = traceback.format_exc()
    with caplog.at_level(logging.INFO):
        logging.getLogger("app").info("syncing %r", contact)
    assert values(rendered + caplog.text) == []


def test_undocumented_keys_are_summarised_too() -> None:
    # extra keeps wire keys verbatim, a malformed documented value among them.
    contact = Contact(id="c-1", extra={"contact_email": PERSONAL["email"]})
    assert values(repr(contact)) == []
    assert "extra=<object with 1 key>" in repr(contact)
