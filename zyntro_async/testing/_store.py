"""What the sandbox holds: API keys, contacts (each in one org, owned by one member) and
the profile records added to them. Plain data, no I/O; :mod:`._rules` reads and writes it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Container
from typing import Any, Final, Protocol

import attrs

from ._wire import CONTACT_KEY_SET, CONTACT_KEYS, entity, mysql_order, note, now, to_wire

#: The pipeline stages seeded contacts use, and the ``contact_stageid`` of each.
STAGES: Final = ("New", "Contacted", "Qualified", "Nurturing", "Proposal", "Won", "Lost")
STAGE_IDS: Final = {
    s: str(uuid.uuid5(uuid.NAMESPACE_URL, f"zyntro-sandbox/stage/{s}")) for s in STAGES
}


@attrs.frozen
class Key:
    """One API key: its secret, the org and member it acts for, and its access rules."""

    api_key: str
    developer_secret: str
    org_id: str
    member_id: str
    active: bool
    ip_whitelist: frozenset[str] | None

    def credentials(self) -> dict[str, str]:
        return {
            "api_key": self.api_key,
            "developer_secret": self.developer_secret,
            "org_id": self.org_id,
            "member_id": self.member_id,
        }


class ContactGenerator(Protocol):
    """What draws a seeded contact's content on first read (``._seed.Seeder``)."""

    def generate(
        self, contact: Contact
    ) -> tuple[tuple[str, ...], list[dict[str, str]] | None, dict[str, str] | None]: ...


@attrs.define(slots=True)
class Contact:
    id: str
    org_id: str
    owner: str
    values: tuple[Any, ...] | None  # CONTACT_KEYS order; None until a seeded one is read
    extra: dict[str, Any] | None = None  # non-documented contact_* keys
    notes: list[dict[str, str]] | None = None
    entity: dict[str, str] | None = None
    signals: list[dict[str, Any]] | None = None
    seeder: ContactGenerator | None = None  # seeded contacts are generated lazily, from seed_bits
    seed_bits: int = 0

    def materialize(self) -> tuple[Any, ...]:
        """The contact's wire values, generating a seeded contact on first use."""
        if self.values is None:
            if self.seeder is None:
                raise RuntimeError(f"contact {self.id} has no values")
            self.values, self.notes, self.entity = self.seeder.generate(self)
            self.seeder = None
        return self.values

    def wire(self) -> dict[str, Any]:
        """The ``contact`` object fetchContact serves."""
        out = dict(zip(CONTACT_KEYS, self.materialize(), strict=True))
        if self.extra:
            out.update(self.extra)
            return dict(mysql_order(out))
        return out


def contact_from_fields(
    fields: dict[str, Any], *, owner: str, org_id: str, taken: Container[str]
) -> Contact:
    """A contact from :meth:`ZyntroSandbox.add_contact`'s keyword arguments (consumed).

    ``owner`` and ``org_id`` are the defaults when ``fields`` names none; an id in
    ``taken`` is refused.
    """
    cid = fields.pop("id", None) or fields.pop("contact_id", None) or str(uuid.uuid4())
    owner = fields.pop("owner", None) or fields.pop("contact_owner", None) or owner
    org_id = fields.pop("org_id", None) or org_id
    if not (isinstance(cid, str) and isinstance(owner, str) and isinstance(org_id, str)):
        raise TypeError("id, owner and org_id must be strings")
    if cid in taken:
        raise ValueError(f"contact {cid!r} already exists")
    notes = fields.pop("notes", None)
    entity_fields = fields.pop("entity", None)
    signals = fields.pop("signals", None)
    first = to_wire(fields.pop("first_name", "Jane"))
    last = to_wire(fields.pop("last_name", "Doe"))
    created = fields.pop("date_created", None) or now()
    stage = to_wire(fields.pop("stage", "New"))
    wire: dict[str, Any] = {
        "contact_id": cid,
        "contact_dnc": "0",
        "contact_zip": "",
        "contact_city": "",
        "contact_name": f"{first} {last}".strip(),
        "contact_tags": "[]",
        "contact_email": f"{first}.{last}@example.com".lower().replace(" ", ""),
        "contact_owner": owner,
        "contact_phone": "",
        "contact_stage": stage,
        "contact_state": "",
        "contact_source": "API",
        "contact_status": "Active",
        "contact_address": "",
        "contact_country": "",
        "contact_is_test": "0",
        "contact_stageid": STAGE_IDS.get(stage, ""),
        "contact_timezone": "UTC",
        "contact_last_name": last,
        "contact_first_name": first,
        "contact_role_label": "",
        "contact_salutation": "",
        "contact_sms_optout": "0",
        "contact_auto_engage": "0",
        "contact_country_code": "",
        "contact_date_created": to_wire(created),
        "contact_date_updated": to_wire(fields.pop("date_updated", None) or created),
        "contact_email_optout": "0",
        "contact_custom_fields": "{}",
        "contact_email_verified": "0",
        "contact_phone_verified": "0",
    }
    for name, value in fields.items():
        if name.startswith("contact_"):
            wire[name] = value
            continue
        key = "contact_stageid" if name in ("stage_id", "stageid") else f"contact_{name}"
        wire[key] = to_wire(value) if key in CONTACT_KEY_SET else value
    json.dumps(wire)  # fail here, not in the handler, on values JSON cannot carry
    values = tuple(wire.pop(k) for k in CONTACT_KEYS)
    return Contact(
        id=cid,
        org_id=org_id,
        owner=owner,
        values=values,
        extra=wire or None,
        notes=None if notes is None else [note(n, owner) for n in notes],
        entity=None if entity_fields is None else entity(entity_fields),
        signals=None if signals is None else list(signals),
    )


class Store:
    """The keys, contacts and profiles of one sandbox; ``primary`` is its own key."""

    def __init__(self, primary: Key) -> None:
        self.primary = primary
        self.keys: dict[str, Key] = {primary.api_key: primary}
        self.contacts: dict[str, Contact] = {}
        self.profiles: dict[str, list[dict[str, Any]]] = {}
        self.last_profile_id = 0

    def replace_primary(self, key: Key) -> None:
        """Serve ``key`` as the sandbox's own, instead of the current one."""
        del self.keys[self.primary.api_key]
        self.primary = key
        self.keys[key.api_key] = key

    def add_profile(self, contact: Contact, source: str, payload: Any) -> dict[str, Any]:
        """Store a new profile record on ``contact`` and return it (payload as received)."""
        self.last_profile_id += 1
        record = {
            "profile_id": self.last_profile_id,
            "profile_source": source,
            "profile_payload": payload,
        }
        self.profiles.setdefault(contact.id, []).append(record)
        return record
