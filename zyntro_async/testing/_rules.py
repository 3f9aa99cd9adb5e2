"""The rules that decide the sandbox's answer to a request, sans I/O: check them against
the doc pages (``fetchContact``, ``addProfileToContact``) here.

:func:`answer` takes a parsed body (:func:`._wire.parse_body`) and the caller's IP, and
returns ``(None, data)`` for a success or ``(code, message)`` for a documented error (code
as in the doc tables, message verbatim from :mod:`._messages`). The server wraps it in
``{"data": ..., "status": "success"|"error"}`` with HTTP 200.

Checks, in order: api_key (missing -> "Missing service instance", unknown -> "Invalid
API Key"); developer_secret (missing, or not the key's); caller IP against the key's
whitelist; user active; required fields (org, member, contact, then for
addProfileToContact payload and source); addProfileToContact payload must be a JSON
object/array; contact exists in ``org_id`` and ``org_id`` is the key's org;
addProfileToContact ``member_id`` must be the contact's owner.

Interpretations where the docs are silent or terse:

* "Missing" follows PHP ``empty()``: absent, null, false, 0, "", "0", [] and {}.
  A body that is not a JSON object counts as ``{}`` (so: "Missing service instance").
* addProfileToContact's ``MISSING_FIELDS`` line is sent as one message per field:
  "Missing org ID", "Missing member ID", "Missing contact ID", "Missing
  profile_payload", "Missing profile_source" (checked in that order, also for
  fetchContact's three). Its page does not list USER_INACTIVE; the sandbox checks it
  for both endpoints. A ``profile_source`` that is an object/array counts as missing;
  numbers are stored as their string form.
* A contact is found only if it belongs to the body's ``org_id`` and that is the API
  key's org. ``member_id`` is not checked against the key (the docs do not say it
  is); addProfileToContact compares it with the contact's owner (NOT_OWNER).
* ``include_*`` flags are on for ``1``, ``"1"`` or ``true`` only.
* ``contact_profile`` (include_profile=1) is a LIST of records shaped like
  addProfileToContact's success ``data`` (``profile_id``, ``profile_source``,
  ``profile_payload``), oldest first, ``[]`` if none. The docs never show it.
* ``signals`` (include_signals=1) are INVENTED, the docs never show them: a list of
  ``{"signal_type", "signal_label", "signal_date_created"}`` string dicts derived from
  the contact id, unless ``add_contact(signals=[...])`` set them.
* Echoed ``profile_payload`` objects come back in MySQL key order, as in the doc's
  example; :meth:`ZyntroSandbox.profiles` keeps them as received.
"""

from __future__ import annotations

from typing import Any

from . import _messages as msg
from ._seed import invented_signals
from ._store import Contact, Key, Store
from ._wire import FETCH_CONTACT, dumps, flag_on, mysql_order, php_empty, to_wire

Outcome = tuple[str | None, Any]  # (None, data) on success, (code, message) on error


def answer(endpoint: str, store: Store, body: dict[str, Any], remote: str | None) -> Outcome:
    """The answer of ``endpoint`` to ``body`` from IP ``remote``; a successful add is stored."""
    if endpoint == FETCH_CONTACT:
        return fetch_contact(store, body, remote)
    return add_profile(store, body, remote)


def authenticate(store: Store, body: dict[str, Any], remote: str | None) -> Key | tuple[str, str]:
    """The body's key, or the ``(code, message)`` refusing it (both endpoints)."""
    api_key = body.get("api_key")
    if php_empty(api_key):
        return "MISSING_API_KEY", msg.MISSING_API_KEY
    key = store.keys.get(api_key) if isinstance(api_key, str) else None
    if key is None:
        return "INVALID_API_KEY", msg.INVALID_API_KEY
    secret = body.get("developer_secret")
    if php_empty(secret):
        return "MISSING_DEVELOPER_SECRET", msg.MISSING_DEVELOPER_SECRET
    if secret != key.developer_secret:
        return "INVALID_DEVELOPER_SECRET", msg.INVALID_DEVELOPER_SECRET
    if key.ip_whitelist is not None and remote not in key.ip_whitelist:
        return "IP_NOT_WHITELISTED", msg.IP_NOT_WHITELISTED
    if not key.active:
        return "USER_INACTIVE", msg.USER_INACTIVE
    return key


def _find(store: Store, key: Key, body: dict[str, Any]) -> Contact | None:
    """The body's contact, if it is in the body's org and that is the key's org."""
    contact_id, org_id = body["contact_id"], body["org_id"]
    if not isinstance(contact_id, str) or org_id != key.org_id:
        return None
    contact = store.contacts.get(contact_id)
    return contact if contact is not None and contact.org_id == org_id else None


def fetch_contact(store: Store, body: dict[str, Any], remote: str | None) -> Outcome:
    key = authenticate(store, body, remote)
    if isinstance(key, tuple):
        return key
    if php_empty(body.get("org_id")):
        return "MISSING_ORG_ID", msg.MISSING_ORG_ID
    if php_empty(body.get("member_id")):
        return "MISSING_MEMBER_ID", msg.MISSING_MEMBER_ID
    if php_empty(body.get("contact_id")):
        return "MISSING_CONTACT_ID", msg.MISSING_CONTACT_ID
    contact = _find(store, key, body)
    if contact is None:
        return "NOT_FOUND", msg.FETCH_NOT_FOUND
    cid = contact.id
    contact.materialize()
    notes = list(contact.notes or ()) if flag_on(body.get("include_notes")) else None
    entity = contact.entity if flag_on(body.get("include_entity")) else None
    signals = None
    if flag_on(body.get("include_signals")):
        signals = contact.signals if contact.signals is not None else invented_signals(cid)
    profile = None
    if flag_on(body.get("include_profile")):
        profile = [mysql_order(p) for p in store.profiles.get(cid, ())]
    data = {
        "notes": notes,
        "entity": entity,
        "contact": contact.wire(),
        "signals": signals,
        "contact_profile": profile,
    }
    return None, data


def add_profile(store: Store, body: dict[str, Any], remote: str | None) -> Outcome:
    key = authenticate(store, body, remote)
    if isinstance(key, tuple):
        return key
    for field, message in (
        ("org_id", msg.MISSING_ORG_ID),
        ("member_id", msg.MISSING_MEMBER_ID),
        ("contact_id", msg.MISSING_CONTACT_ID),
        ("profile_payload", msg.MISSING_PROFILE_PAYLOAD),
    ):
        if php_empty(body.get(field)):
            return "MISSING_FIELDS", message
    source = body.get("profile_source")
    if php_empty(source) or isinstance(source, (dict, list)):
        return "MISSING_FIELDS", msg.MISSING_PROFILE_SOURCE
    payload = body["profile_payload"]
    if not isinstance(payload, (dict, list)):
        return "INVALID_PAYLOAD", msg.INVALID_PAYLOAD
    contact = _find(store, key, body)
    if contact is None:
        return "NOT_FOUND", msg.ADD_NOT_FOUND
    if body["member_id"] != contact.owner:
        return "NOT_OWNER", msg.NOT_OWNER
    try:  # a payload nested too deep to echo is refused rather than half-stored
        echoed = mysql_order(payload)
        dumps(echoed)
    except RecursionError:
        return "INVALID_PAYLOAD", msg.INVALID_PAYLOAD
    record = store.add_profile(contact, to_wire(source), payload)
    return None, {**record, "profile_payload": echoed}
