"""Lenient values: the rules that turn a PHP-flavoured wire value into its Python type.

One structure hook per field type, registered on every converter :func:`new_converter`
makes (never on the global cattrs converter). A value that breaks its rule raises
:class:`MalformedField`; the caller decides what that costs (the wire converter keeps the
raw value in ``extra``; ``from_dict`` refuses the data).

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

Already-decoded containers are shallow-copied, so models do not alias their input.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, NoReturn

import cattrs

__all__ = ["MalformedField", "decode_json", "new_converter"]


class MalformedField(Exception):
    """One field value does not follow its leniency rule."""

    __slots__ = ()


def _malformed() -> NoReturn:
    raise MalformedField


# Every hook has the cattrs structure-hook signature ``(value, type) -> result`` and
# raises ``MalformedField`` (only that) when the value breaks its rule.


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


def decode_json(text: str) -> Any:
    try:
        return _JSON_DECODE(text)
    except (ValueError, RecursionError):
        _malformed()


def _structure_str_list(value: Any, _type: Any = None) -> list[str]:
    if isinstance(value, str):
        text = value.strip()
        if text in _EMPTY_JSON_TEXTS:
            return []
        value = decode_json(text)
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
        value = decode_json(text)
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
        value = decode_json(text)
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


def new_converter() -> cattrs.Converter:
    """A fresh private cattrs converter with every lenient value hook registered."""
    converter = cattrs.Converter()
    # Classes and unions go through ``register_structure_hook``; parametrised generics
    # (not classes) need a predicate.
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(str | None, _structure_optional_str)
    converter.register_structure_hook(bool | None, _structure_optional_bool)
    converter.register_structure_hook(datetime | None, _structure_optional_datetime)
    converter.register_structure_hook(dict[str, Any] | list[Any], _structure_json_container)
    converter.register_structure_hook_func(lambda t: t == list[str], _structure_str_list)
    converter.register_structure_hook_func(lambda t: t == dict[str, Any], _structure_json_object)
    return converter
