"""Lenient wire -> model conversion for Zyntro API answers (one private cattrs converter).

The protocol layer calls :func:`structure_contact_details` (``fetchContact``) and
:func:`structure_profile` (``addProfileToContact``). Only :class:`MalformedResponseError`
escapes, and only when an answer is unusable as a whole: ``data`` not an object,
``contact`` missing or not an object, ``contact_id`` missing/empty/unusable, or (for
``structure_profile``) no usable ``profile_id``.

Everything else is lenient: each field type has its rule in :mod:`._lenient`, registered
on the private converter ``_CONVERTER`` (never the global cattrs converter).
A documented field whose value breaks its rule never fails the whole answer: the
raw value is kept verbatim in the model's ``extra`` under its wire key, the
attribute gets its default, and a WARNING naming the field (never its value:
contact data is personal data) goes to ``logging.getLogger("zyntro_async")``.
Wire keys the documentation does not name go to ``extra`` verbatim, silently.
Already-decoded containers are shallow-copied, so models do not alias ``raw``.

Related data of ``fetchContact`` (``notes``/``entity``/``profiles`` are ``None``
when their ``include_*`` flag is off, whatever the server sent):

* ``notes``: a list of note objects; ``null``/absent/``""`` -> ``[]``. A single
  note object or a JSON string of either is accepted; non-object items are skipped
  with a warning; any other shape -> ``[]`` with a warning (still in ``raw``).
* ``entity``: an object (or JSON string of one); ``null``, ``[]``, ``{}``, ``""``
  -> ``None``; any other shape -> ``None`` with a warning.
* ``contact_profile``: its shape is UNDOCUMENTED (the docs only show ``null``).
  ASSUMPTION: it holds records shaped like ``addProfileToContact``'s ``data``
  (``profile_id``, ``profile_source``, ``profile_payload``): a list of them, a
  single record (object) -> ``[record]``, a JSON string of either, or ``null`` ->
  ``[]``. A record without a usable ``profile_id`` (or not an object) is skipped
  with a warning instead of failing the fetch.
* ``signals``: passed through verbatim (undocumented shape); ``None`` when not asked.

The converter is the real path: every record is structured by the hook its model class
has on ``_CONVERTER``, a per-class field plan (wire key -> attribute name, the
converter's own structure hook for the field's type), built once at import; structuring
a record is one loop over the wire keys. :func:`structure_profile`, on every add's path,
first takes the documented answer as it comes (its three keys, each of its wire type) in
one step, building what the plan would. Why not ``cattrs.gen.make_dict_structure_fn``
with ``override(rename=...)``: it measured the same per ``addProfileToContact`` answer
(the payload's JSON decoding dominates), and a generated function cannot keep unknown
keys in ``extra`` nor keep one malformed field's raw value while structuring the rest,
which the rules above require.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs

from ._lenient import MalformedField, decode_json, new_converter
from ._models import Contact, ContactDetails, Entity, Note, Profile

__all__ = [
    "MalformedResponseError",
    "structure_contact_details",
    "structure_profile",
]

_LOG: Final = logging.getLogger("zyntro_async")


class MalformedResponseError(ValueError):
    """A successful-looking answer whose ``data`` is unusable as a whole.

    The message names the offending part of the answer, never a field value.
    """


_CONVERTER: Final = new_converter()


# --------------------------------------------------------------------------- plans

_Hook = Callable[[Any, Any], Any]


class _Plan:
    """How to structure one model class: built once at import, read per call."""

    __slots__ = ("cls", "fields", "name", "required")

    def __init__(self, cls: type[Any], name: str, renames: Mapping[str, str] | None = None) -> None:
        prefix = f"{name}_"
        renames = renames or {}
        fields: dict[str, tuple[str, _Hook, Any]] = {}
        required: list[str] = []
        for field in attrs.fields(cls):
            if field.name == "extra":
                continue
            wire_key = renames.get(field.name, prefix + field.name)
            fields[wire_key] = (field.name, _CONVERTER.get_structure_hook(field.type), field.type)
            if field.default is attrs.NOTHING:
                required.append(field.name)
        self.cls = cls
        self.name = name
        self.fields: Mapping[str, tuple[str, _Hook, Any]] = fields
        self.required = frozenset(required)


def _structure_record(plan: _Plan, data: Mapping[Any, Any]) -> Any:
    """Structure one wire object; raise MalformedResponseError if a required field is unusable."""
    kwargs: dict[str, Any] = {}
    extra: dict[Any, Any] = {}
    fields = plan.fields
    for key, value in data.items():
        spec = fields.get(key)
        if spec is None:
            extra[key] = value
            continue
        attr, hook, type_ = spec
        try:
            kwargs[attr] = hook(value, type_)
        except MalformedField:
            if attr in plan.required:
                raise MalformedResponseError(
                    f"{plan.name} record: unusable value for {key!r}"
                ) from None
            extra[key] = value
            _LOG.warning(
                "Zyntro %s record: malformed value for %r; raw value kept in extra",
                plan.name,
                key,
            )
    for attr in plan.required:
        present = kwargs.get(attr)
        if present is None or (isinstance(present, str) and not present.strip()):
            raise MalformedResponseError(f"{plan.name} record: missing or empty {plan.name}_{attr}")
    kwargs["extra"] = extra
    return plan.cls(**kwargs)


_CONTACT_PLAN: Final = _Plan(Contact, "contact", {"stage_id": "contact_stageid"})
_NOTE_PLAN: Final = _Plan(Note, "note")
_ENTITY_PLAN: Final = _Plan(Entity, "entity")
_PROFILE_PLAN: Final = _Plan(Profile, "profile")


def _model_hook(plan: _Plan) -> _Hook:
    def hook(value: Any, _type: Any) -> Any:
        if not isinstance(value, dict):
            raise MalformedResponseError(f"{plan.name} record is not a JSON object")
        return _structure_record(plan, value)

    return hook


# Lets ``_CONVERTER.structure(obj, Contact)`` etc. use the same plans.
for _plan in (_CONTACT_PLAN, _NOTE_PLAN, _ENTITY_PLAN, _PROFILE_PLAN):
    _CONVERTER.register_structure_hook(_plan.cls, _model_hook(_plan))
del _plan


# --------------------------------------------------------------------------- related data


def _record_list(value: Any, what: str) -> list[Any]:
    """Normalise a list-of-records value (list, single object, JSON string, null)."""
    if isinstance(value, str):
        if not value.strip():
            return []
        try:
            value = decode_json(value)
        except MalformedField:
            _LOG.warning("Zyntro fetchContact: %r is not valid JSON; ignored", what)
            return []
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return [value] if value else []
    _LOG.warning(
        "Zyntro fetchContact: %r has unexpected type %s; ignored", what, type(value).__name__
    )
    return []


def _structure_notes(value: Any) -> list[Note]:
    notes: list[Note] = []
    for index, item in enumerate(_record_list(value, "notes")):
        if isinstance(item, dict):
            notes.append(_CONVERTER.structure(item, Note))
        else:
            _LOG.warning("Zyntro fetchContact: notes[%d] is not an object; skipped", index)
    return notes


def _structure_profiles(value: Any) -> list[Profile]:
    profiles: list[Profile] = []
    for index, item in enumerate(_record_list(value, "contact_profile")):
        if not isinstance(item, dict):
            _LOG.warning(
                "Zyntro fetchContact: contact_profile[%d] is not an object; skipped", index
            )
            continue
        try:
            profiles.append(_CONVERTER.structure(item, Profile))
        except MalformedResponseError:
            _LOG.warning(
                "Zyntro fetchContact: contact_profile[%d] has no usable profile_id; skipped", index
            )
    return profiles


def _structure_entity(value: Any) -> Entity | None:
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            value = decode_json(value)
        except MalformedField:
            _LOG.warning("Zyntro fetchContact: 'entity' is not valid JSON; ignored")
            return None
    if value is None or value == [] or value == {}:
        return None
    if isinstance(value, dict):
        entity: Entity = _CONVERTER.structure(value, Entity)
        return entity
    _LOG.warning(
        "Zyntro fetchContact: 'entity' has unexpected type %s; ignored", type(value).__name__
    )
    return None


# --------------------------------------------------------------------------- public


def structure_contact_details(
    data: Any,
    *,
    include_notes: bool,
    include_entity: bool,
    include_profile: bool,
    include_signals: bool,
) -> ContactDetails:
    """Turn ``fetchContact``'s ``data`` object into :class:`ContactDetails`.

    The ``include_*`` flags are the ones sent with the request: related data not
    asked for is ``None`` whatever the server sent. Raises
    :class:`MalformedResponseError` when ``data`` is not an object, ``contact`` is
    missing or not an object, or ``contact_id`` is missing, empty or unusable.
    """
    if not isinstance(data, dict):
        raise MalformedResponseError("fetchContact: 'data' is not a JSON object")
    contact_data = data.get("contact")
    if not isinstance(contact_data, dict):
        raise MalformedResponseError("fetchContact: 'contact' is missing or not a JSON object")
    contact: Contact = _CONVERTER.structure(contact_data, Contact)
    return ContactDetails(
        contact=contact,
        notes=_structure_notes(data.get("notes")) if include_notes else None,
        entity=_structure_entity(data.get("entity")) if include_entity else None,
        profiles=_structure_profiles(data.get("contact_profile")) if include_profile else None,
        signals=data.get("signals") if include_signals else None,
        raw=data,
    )


def structure_profile(data: Any) -> Profile:
    """Turn ``addProfileToContact``'s ``data`` object into a :class:`Profile`.

    Raises :class:`MalformedResponseError` when ``data`` is not an object or has no
    usable ``profile_id``.
    """
    if not isinstance(data, dict):
        raise MalformedResponseError("addProfileToContact: 'data' is not a JSON object")
    if len(data) == 3:
        # The documented answer, each value of its wire type: what the plan's hooks would
        # build (a copied payload, no extra), without a call per field.
        pid = data.get("profile_id")
        source = data.get("profile_source")
        payload = data.get("profile_payload")
        if type(pid) is int and type(source) is str:
            # Positional: id, source, payload, extra (a keyword call costs more).
            if type(payload) is dict:
                return Profile(pid, source, dict(payload), {})
            if type(payload) is list:
                return Profile(pid, source, list(payload), {})
    profile: Profile = _structure_record(_PROFILE_PLAN, data)
    return profile
