"""The sandbox's wire format: endpoints, reading request bodies, encoding answers.

What the doc pages show, as code: every contact field is a string ("0"/"1" booleans, JSON
inside strings for tags and custom fields, ``YYYY-MM-DD HH:MM:SS`` dates); objects come in
MySQL JSON key order (shorter keys first, then bytewise), compact like PHP's
``json_encode``; "missing" is PHP's ``empty()``. A body that is not a JSON object reads as
``{}``. Sans-I/O and free of state: the rules (:mod:`._rules`) and the server
(:mod:`._sandbox`) build on it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime, timezone
from typing import Any, Final

API_PATH: Final = "/apis/v2/public/crm/"
FETCH_CONTACT: Final = "fetchContact"
ADD_PROFILE_TO_CONTACT: Final = "addProfileToContact"
#: The endpoints the sandbox serves, by their path name.
ENDPOINTS: Final[tuple[str, ...]] = (FETCH_CONTACT, ADD_PROFILE_TO_CONTACT)

DATE_FORMAT: Final = "%Y-%m-%d %H:%M:%S"

#: The documented ``contact`` keys, in the doc's (MySQL) order.
CONTACT_KEYS: Final[tuple[str, ...]] = (
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
)
CONTACT_KEY_SET: Final = frozenset(CONTACT_KEYS)
ENTITY_KEYS: Final[tuple[str, ...]] = (
    "entity_name",
    "entity_tags",
    "entity_label",
    "entity_socials",
    "entity_website",
    "entity_location",
    "entity_custom_fields",
)
NOTE_KEYS: Final[tuple[str, ...]] = ("note_maker", "note_content", "note_date_created")


# ------------------------------------------------------------------------------- reading


def parse_body(raw: bytes) -> dict[str, Any]:
    """A request body as the server reads it: a JSON object, or ``{}`` for anything else."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return {}
    return body if isinstance(body, dict) else {}


def php_empty(value: Any) -> bool:
    """PHP ``empty()`` for JSON values: absent, null, false, 0, "", "0", [] and {}."""
    return value is None or value == "0" or not value


def flag_on(value: Any) -> bool:
    """An ``include_*`` flag is on for ``1``, ``"1"`` or ``true`` only."""
    return value is True or value == "1" or (type(value) is int and value == 1)


# ------------------------------------------------------------------------------ encoding


def _mysql_key(key: str) -> tuple[int, bytes]:
    raw = key.encode("utf-8", "surrogatepass")  # JSON may carry lone surrogates
    return len(raw), raw


def mysql_order(value: Any) -> Any:
    """``value`` with every object's keys in MySQL JSON order (length, then bytes)."""
    if isinstance(value, dict):
        keys = sorted(value, key=_mysql_key)
        return {k: mysql_order(value[k]) for k in keys}
    if isinstance(value, list):
        return [mysql_order(v) for v in value]
    return value


def to_wire(value: Any) -> str:
    """A Python value as the string the API serves for it."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime):
        return value.strftime(DATE_FORMAT)
    if isinstance(value, date):
        return f"{value.isoformat()} 00:00:00"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return str(value)


def now() -> str:
    """The current UTC time as the API writes dates."""
    return datetime.now(timezone.utc).strftime(DATE_FORMAT)


def dumps(obj: Any) -> bytes:
    """Compact JSON, as PHP's ``json_encode`` writes it."""
    return json.dumps(obj, separators=(",", ":")).encode()


def prefixed(prefix: str, fields: Mapping[str, Any]) -> dict[str, str]:
    """``fields`` as wire strings, each key given ``prefix`` unless it has it already."""
    return {(k if k.startswith(prefix) else prefix + k): to_wire(v) for k, v in fields.items()}


def note(value: str | Mapping[str, Any], owner: str) -> dict[str, str]:
    """A ``notes`` record from a string (its content) or a dict of note fields."""
    if isinstance(value, str):
        value = {"content": value}
    out = {"note_maker": owner, "note_content": "", "note_date_created": now()}
    out.update(prefixed("note_", value))
    return dict(mysql_order(out))


def entity(fields: Mapping[str, Any]) -> dict[str, str]:
    """An ``entity`` record: the documented defaults, overridden by ``fields``."""
    out = {
        "entity_name": "",
        "entity_tags": "[]",
        "entity_label": "Company",
        "entity_socials": "{}",
        "entity_website": "",
        "entity_location": "",
        "entity_custom_fields": "{}",
    }
    out.update(prefixed("entity_", fields))
    return dict(mysql_order(out))
