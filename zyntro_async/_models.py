"""Typed, frozen models for the records returned by the Zyntro CRM API.

The wire format is PHP-flavoured (every contact field is a string, booleans are
``"0"``/``"1"``, lists and objects are JSON inside strings, dates are
``"YYYY-MM-DD HH:MM:SS"``). Turning that into these models is the job of
:mod:`zyntro_async._converter`; the classes here only describe the result (and
:mod:`zyntro_async._plain` turns them into plain data and back).

Conventions shared by every model:

* Attribute names drop the wire prefix (``contact_email`` -> ``Contact.email``).
* ``None`` means "absent, empty or unparseable"; a value that could not be parsed
  is never lost: it is kept verbatim in ``extra`` under its wire key.
* ``extra`` holds every wire key the API documentation does not name, verbatim
  (wire key and wire value), so fields added by the server later stay reachable.
* Datetimes are *naive*: the documentation gives no time zone for the
  ``"YYYY-MM-DD HH:MM:SS"`` values, so none is invented here.
* The models are frozen (attributes cannot be reassigned) but list and dict
  attributes are ordinary mutable containers; treat them as read-only.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

import attrs

from ._plain import from_plain, to_plain

__all__ = [
    "Contact",
    "ContactDetails",
    "Entity",
    "Note",
    "PlainData",
    "Profile",
    "payload_summary",
    "personal",
]


def payload_summary(payload: object) -> str:
    """A repr for personal data: its shape, never its values."""
    if isinstance(payload, dict):
        n = len(payload)
        return f"<object with {n} key{'' if n == 1 else 's'}>"
    if isinstance(payload, list):
        n = len(payload)
        return f"<array of {n} item{'' if n == 1 else 's'}>"
    return f"<{type(payload).__name__}>"


_M = TypeVar("_M", bound="PlainData")


class PlainData:
    """``to_dict()`` / ``from_dict()`` for the models: plain data out, and back.

    ``to_dict()`` gives JSON-ready data keyed by the *Python* attribute names (``id``,
    ``first_name``; not the wire's ``contact_id``), nested models as dicts, datetimes as
    ISO 8601 strings (``"2026-11-24T09:30:00"``), ``extra``/``raw`` kept. It is the full
    data, personal data included (unlike the repr). ``Model.from_dict(m.to_dict()) == m``.
    """

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """This model as JSON-ready plain data (Python attribute names)."""
        return to_plain(self)

    @classmethod
    def from_dict(cls: type[_M], data: Mapping[str, Any]) -> _M:
        """The model back from :meth:`to_dict`'s data; ``InvalidArgumentError`` (a
        ``ValueError``) naming the field if it does not fit."""
        return from_plain(data, cls)


def personal(value: object) -> str:
    """A repr for one personal value (an email, a phone number, a name): whether it is
    set, never what it is."""
    return "None" if value is None else "<redacted>"


@attrs.frozen
class Contact(PlainData):
    """A CRM contact (the ``contact`` object of ``fetchContact``), ``contact_`` prefix dropped.

    ``stage_id`` comes from the wire key ``contact_stageid`` (no underscore). Boolean
    flags are ``None`` when absent, empty or unparseable. ``date_created`` and
    ``date_updated`` are naive datetimes: the API documents no time zone.
    ``extra`` holds undocumented wire keys and malformed documented values, verbatim.

    The repr keeps personal data out of logs and tracebacks: names, email, phone, address,
    city and zip show as ``<redacted>`` when set, ``custom_fields`` and ``extra`` by their
    shape; the attributes themselves hold the values.
    """

    id: str
    name: str | None = attrs.field(default=None, repr=personal)
    first_name: str | None = attrs.field(default=None, repr=personal)
    last_name: str | None = attrs.field(default=None, repr=personal)
    email: str | None = attrs.field(default=None, repr=personal)
    phone: str | None = attrs.field(default=None, repr=personal)
    owner: str | None = None
    stage: str | None = None
    stage_id: str | None = None
    status: str | None = None
    source: str | None = None
    salutation: str | None = None
    role_label: str | None = None
    address: str | None = attrs.field(default=None, repr=personal)
    city: str | None = attrs.field(default=None, repr=personal)
    state: str | None = None
    zip: str | None = attrs.field(default=None, repr=personal)
    country: str | None = None
    country_code: str | None = None
    timezone: str | None = None
    tags: list[str] = attrs.field(factory=list)
    custom_fields: dict[str, Any] = attrs.field(factory=dict, repr=payload_summary)
    dnc: bool | None = None
    is_test: bool | None = None
    sms_optout: bool | None = None
    email_optout: bool | None = None
    auto_engage: bool | None = None
    email_verified: bool | None = None
    phone_verified: bool | None = None
    date_created: datetime | None = None
    date_updated: datetime | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, repr=payload_summary)


@attrs.frozen
class Note(PlainData):
    """A note on a contact (one item of ``fetchContact``'s ``notes``, ``note_`` prefix dropped).

    ``maker`` is the member UUID that wrote it; ``date_created`` is naive (no
    documented time zone).
    """

    maker: str | None = None
    content: str | None = attrs.field(default=None, repr=personal)  # notes are about a person
    date_created: datetime | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Entity(PlainData):
    """The company/organisation linked to a contact (``entity``, ``entity_`` prefix dropped).

    ``tags``, ``socials`` and ``custom_fields`` are JSON inside strings on the wire
    (``"[]"``, ``"{}"``); they are decoded here and empty when absent.
    """

    name: str | None = None
    label: str | None = None
    website: str | None = None
    location: str | None = None
    tags: list[str] = attrs.field(factory=list)
    socials: dict[str, Any] = attrs.field(factory=dict)
    custom_fields: dict[str, Any] = attrs.field(factory=dict)
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Profile(PlainData):
    """An enrichment/external profile record attached to a contact (``profile_`` prefix dropped).

    Shaped like ``addProfileToContact``'s ``data``. ``payload`` is whatever the
    profile holds (a JSON object, or an array: PHP does not tell them apart).
    ``source`` is ``""`` when the server sent none. The repr summarises the payload
    (enrichment data is personal data: it must not reach logs through a repr).
    """

    id: int
    source: str = ""
    payload: dict[str, Any] | list[Any] = attrs.field(factory=dict, repr=payload_summary)
    extra: dict[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen
class ContactDetails(PlainData):
    """Everything ``fetchContact`` returned: the contact plus the related data asked for.

    ``notes``, ``entity`` and ``profiles`` are ``None`` when the matching
    ``include_*`` flag was not set (whatever the server sent); when asked for,
    ``notes``/``profiles`` are lists (possibly empty) and ``entity`` is ``None``
    when the contact has none. ``signals`` is passed through verbatim (its shape is
    undocumented). ``raw`` is the whole ``data`` object as received.
    """

    contact: Contact
    notes: list[Note] | None = None
    entity: Entity | None = None
    profiles: list[Profile] | None = None
    signals: Any = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False)

    def profiles_from(self, source: str) -> list[Profile]:
        """Profiles whose ``source`` equals ``source`` exactly (empty if none were fetched)."""
        if self.profiles is None:
            return []
        return [p for p in self.profiles if p.source == source]
