"""Lenient wire -> model conversion for Zyntro API answers (one private cattrs converter).

The protocol layer calls :func:`structure_contact_details` (``fetchContact``),
:func:`structure_profile` (``addProfileToContact``) and :func:`to_plain`
(models -> plain JSON-able data). Only :class:`MalformedResponseError` escapes, and
only when an answer is unusable as a whole: ``data`` not an object, ``contact``
missing or not an object, ``contact_id`` missing/empty/unusable, or (for
``structure_profile``) no usable ``profile_id``.

Everything else is lenient. Each rule is a structure hook registered on the
private converter ``_CONVERTER`` (never the global cattrs converter):

``str`` / ``str | None``
    Strings verbatim (``""`` stays ``""``); ints and floats are ``str()``-ed;
    ``null`` -> ``None`` (for a plain ``str`` field: the attribute default).
``bool | None``
    ``"0"``/``"1"``, ``"true"``/``"false"`` (case-insensitive, surrounding
    whitespace ignored), real booleans and the ints ``0``/``1``; ``""`` and
    ``null`` -> ``None``.
``datetime | None``
    ``"YYYY-MM-DD HH:MM:SS"``, the ISO ``"T"`` form, optional ``.ffffff``
    fraction, or a date-only ``"YYYY-MM-DD"`` (midnight). MySQL zero dates
    (``"0000-00-00 00:00:00"``, ``"0000-00-00"``), ``""`` and ``null`` -> ``None``.
    Results are naive (the API documents no time zone); a value carrying a UTC
    offset is treated as malformed rather than silently mixed with naive values.
``list[str]`` (tags)
    A JSON array inside a string or an already-decoded list; ``""``, ``"null"``
    and ``null`` -> ``[]``. A JSON *object* is accepted as a list of its values
    (PHP encodes arrays with non-sequential keys as objects). Items: strings as
    they are, ints/floats ``str()``-ed; any other item (``null``, bool, list,
    object) makes the whole field malformed.
``dict[str, Any]`` (custom fields, socials)
    A JSON object inside a string or an already-decoded dict; ``""``, ``null``
    and an *empty* array (PHP's ``json_encode([])`` is ``"[]"``) -> ``{}``.
``dict[str, Any] | list[Any]`` (profile payload)
    An object or array, or the same as JSON inside a string; ``""``/``null`` -> ``{}``.
``int`` (profile id)
    An int, a string of decimal digits (optionally ``-``), or an integral float.

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

The converter is the real path: every answer is structured by
``_CONVERTER.structure(data, Model)``. The hook a model class has on it is a per-class
field plan (wire key -> attribute name, the converter's own structure hook for the
field's type), built once at import; structuring a record is one loop over the wire
keys. Why not ``cattrs.gen.make_dict_structure_fn`` with ``override(rename=...)``: it
measured the same per ``addProfileToContact`` answer (the payload's JSON decoding
dominates), and a generated function cannot keep unknown keys in
``extra`` nor keep one malformed field's raw value while structuring the rest, which the
rules above require.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final, NoReturn, TypeVar, cast

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from ._exceptions import InvalidArgumentError
from ._models import Contact, ContactDetails, Entity, Note, Profile

__all__ = [
    "MalformedResponseError",
    "structure_contact_details",
    "structure_profile",
    "from_plain",
    "to_plain",
]

_LOG: Final = logging.getLogger("zyntro_async")
_T = TypeVar("_T")


class MalformedResponseError(ValueError):
    """A successful-looking answer whose ``data`` is unusable as a whole.

    The message names the offending part of the answer, never a field value.
    """


class _MalformedField(Exception):
    """Internal: one field value does not follow its leniency rule."""

    __slots__ = ()


def _malformed() -> NoReturn:
    raise _MalformedField


# --------------------------------------------------------------------------- hooks
# Every hook has the cattrs structure-hook signature ``(value, type) -> result`` and
# raises ``_MalformedField`` (only that) when the value breaks its rule.


def _structure_str(value: Any, _type: Any = str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return str(value)
        except ValueError:  # int too large to print (sys.set_int_max_str_digits)
            _malformed()
    _malformed()


def _structure_optional_str(value: Any, _type: Any = None) -> str | None:
    if isinstance(value, str):  # the common case, without a second call
        return value
    if value is None:
        return None
    return _structure_str(value)


_BOOL_WORDS: Final[Mapping[str, bool | None]] = {
    "1": True,
    "0": False,
    "true": True,
    "false": False,
    "": None,
}


def _structure_optional_bool(value: Any, _type: Any = None) -> bool | None:
    if isinstance(value, str):
        try:
            return _BOOL_WORDS[value.strip().lower()]
        except KeyError:
            _malformed()
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return value == 1
    _malformed()


_DATETIME_RE: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[ T]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6}))?)?"
)
_ZERO_DATES: Final = frozenset({"", "0000-00-00", "0000-00-00 00:00:00", "0000-00-00T00:00:00"})


def _structure_optional_datetime(value: Any, _type: Any = None) -> datetime | None:
    if isinstance(value, str):
        text = value.strip()
        if text in _ZERO_DATES:
            return None
        match = _DATETIME_RE.fullmatch(text)
        if match is None:
            _malformed()
        try:
            fraction = match.group(7)
            if fraction is None:
                # Validated above: one of the forms ``fromisoformat`` reads on 3.10+.
                return datetime.fromisoformat(text)
            year, month, day, hour, minute, second = map(int, match.group(1, 2, 3, 4, 5, 6))
            micro = int(fraction.ljust(6, "0"))
            return datetime(year, month, day, hour, minute, second, micro)
        except ValueError:  # out-of-range parts, e.g. month 13
            _malformed()
    if value is None:
        return None
    if isinstance(value, datetime) and value.tzinfo is None:
        return value
    _malformed()


_JSON_DECODE: Final = json.JSONDecoder().decode  # json.loads minus its per-call overhead
# Empty/absent JSON texts, answered without calling the decoder (the common case).
_EMPTY_JSON_TEXTS: Final = frozenset({"", "null", "[]", "{}"})


def _decode_json(text: str) -> Any:
    try:
        return _JSON_DECODE(text)
    except (ValueError, RecursionError):
        _malformed()


def _structure_str_list(value: Any, _type: Any = None) -> list[str]:
    if isinstance(value, str):
        text = value.strip()
        if text in _EMPTY_JSON_TEXTS:
            return []
        value = _decode_json(text)
    if value is None:
        return []
    if isinstance(value, dict):
        value = list(value.values())
    elif not isinstance(value, list):
        _malformed()
    result: list[str] = []
    for item in value:
        if isinstance(item, str):
            result.append(item)
        elif isinstance(item, (int, float)) and not isinstance(item, bool):
            result.append(_structure_str(item))
        else:
            _malformed()
    return result


def _structure_json_object(value: Any, _type: Any = None) -> dict[str, Any]:
    if isinstance(value, str):
        text = value.strip()
        if text in _EMPTY_JSON_TEXTS:
            return {}
        value = _decode_json(text)
    if isinstance(value, dict):
        return dict(value)
    if value is None or (isinstance(value, list) and not value):
        return {}
    _malformed()


def _structure_json_container(value: Any, _type: Any = None) -> dict[str, Any] | list[Any]:
    if isinstance(value, str):
        text = value.strip()
        if text == "[]":
            return []
        if text in _EMPTY_JSON_TEXTS:
            return {}
        value = _decode_json(text)
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    if value is None:
        return {}
    _malformed()


_INT_RE: Final = re.compile(r"-?[0-9]+")


def _structure_int(value: Any, _type: Any = int) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if _INT_RE.fullmatch(text) is None:
            _malformed()
        try:
            return int(text)
        except ValueError:  # too many digits (sys.set_int_max_str_digits)
            _malformed()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    _malformed()


_CONVERTER: Final = cattrs.Converter()

# Classes and unions go through ``register_structure_hook``; parametrised generics
# (not classes) need a predicate.
_CONVERTER.register_structure_hook(str, _structure_str)
_CONVERTER.register_structure_hook(int, _structure_int)
_CONVERTER.register_structure_hook(str | None, _structure_optional_str)
_CONVERTER.register_structure_hook(bool | None, _structure_optional_bool)
_CONVERTER.register_structure_hook(datetime | None, _structure_optional_datetime)
_CONVERTER.register_structure_hook(dict[str, Any] | list[Any], _structure_json_container)
_CONVERTER.register_structure_hook_func(lambda t: t == list[str], _structure_str_list)
_CONVERTER.register_structure_hook_func(lambda t: t == dict[str, Any], _structure_json_object)
_CONVERTER.register_unstructure_hook(datetime, datetime.isoformat)


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
        except _MalformedField:
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
            value = _decode_json(value)
        except _MalformedField:
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
            value = _decode_json(value)
        except _MalformedField:
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
    profile: Profile = _CONVERTER.structure(data, Profile)
    return profile


def to_plain(obj: Any) -> dict[str, Any]:
    """Models -> plain JSON-able data (datetimes as ISO ``YYYY-MM-DDTHH:MM:SS`` strings).

    Every attribute is kept, including ``extra`` and ``ContactDetails.raw``.
    """
    plain: dict[str, Any] = _CONVERTER.unstructure(obj)
    return plain


def _from_plain_hooks() -> dict[type[Any], Callable[[Any, Any], Any]]:
    """Structure functions by Python attribute names (``to_plain``'s output), generated by
    cattrs from the same converter: its lenient field hooks, nested models by these."""
    hooks: dict[type[Any], Callable[[Any, Any], Any]] = {}
    for cls in (Note, Entity, Profile, Contact):
        hooks[cls] = make_dict_structure_fn(cls, _CONVERTER)

    def many(cls: type[Any]) -> Callable[[Any, Any], Any]:
        def hook(value: Any, _: Any) -> Any:
            return None if value is None else [hooks[cls](item, cls) for item in value]

        return hook

    def one(cls: type[Any]) -> Callable[[Any, Any], Any]:
        def hook(value: Any, _: Any) -> Any:
            return None if value is None else hooks[cls](value, cls)

        return hook

    hooks[ContactDetails] = make_dict_structure_fn(
        ContactDetails,
        _CONVERTER,
        contact=override(struct_hook=one(Contact)),
        notes=override(struct_hook=many(Note)),
        entity=override(struct_hook=one(Entity)),
        profiles=override(struct_hook=many(Profile)),
    )
    return hooks


_FROM_PLAIN: Final = _from_plain_hooks()


def from_plain(data: Mapping[str, Any], cls: type[_T]) -> _T:
    """:func:`to_plain`'s data back into ``cls``; ``InvalidArgumentError`` if it does not fit."""
    try:
        hook = _FROM_PLAIN[cls]
    except KeyError:
        raise InvalidArgumentError(f"{cls.__name__} has no from_dict") from None
    if not isinstance(data, Mapping):
        raise InvalidArgumentError(
            f"{cls.__name__}.from_dict takes a mapping, not {type(data).__name__}"
        )
    try:
        return cast(_T, hook(data, cls))
    except Exception as exc:
        problems = cattrs.transform_error(exc) if isinstance(exc, Exception) else []
        raise InvalidArgumentError(
            f"{cls.__name__}.from_dict: {'; '.join(problems) or type(exc).__name__}"
        ) from None
