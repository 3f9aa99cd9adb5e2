"""What a profile payload may hold, sans I/O: the one check and the ``json_default`` hook.

A payload must survive JSON unchanged (an object or array; string keys; finite numbers an
encoder can write; valid UTF-8; no deeper than ``MAX_PAYLOAD_DEPTH``). The check walks it
once and, on a problem, says where (``payload["meta"]["seen"] holds a datetime``), never
what: values may be personal data.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from typing import Any, Final, TypeAlias

# Deeper payloads are refused locally: the server's JSON decoder has a depth limit too.
MAX_PAYLOAD_DEPTH: Final = 128


def is_utf8(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


# Ints are written out in decimal; one beyond ``sys.get_int_max_str_digits()`` (4300 by
# default since Python 3.11, at least 640) cannot be. An int of at most this many bits
# has fewer than 640 digits, so only a longer one is tried.
_BIG_INT_BITS: Final = 2000


def _article(name: str) -> str:
    """``name`` with "a" or "an" as it is spoken ("an int", "a datetime", "a UUID")."""
    if name[:2].isupper():  # an acronym, read letter by letter
        return ("an " if name[0] in "AEFHILMNORSX" else "a ") + name
    return ("an " if name[:1].lower() in "aeiou" else "a ") + name


_Link: TypeAlias = "tuple[_Link | None, str | int]"


def _path(link: _Link | None) -> str:
    """``payload["meta"]["seen"]`` for the chain of keys ``link`` ends with."""
    keys: list[str | int] = []
    while link is not None:
        link, key = link
        keys.append(key)
    keys.reverse()
    if len(keys) > 8:
        shown = [*map(_subscript, keys[:4]), "...", *map(_subscript, keys[-3:])]
    else:
        shown = [_subscript(k) for k in keys]
    return "payload" + "".join(shown)


def _subscript(key: str | int) -> str:
    if isinstance(key, int):
        return f"[{key}]"
    shown = key if len(key) <= 40 else key[:40] + "..."
    return f"[{json.dumps(shown)}]"  # ASCII-escaped: a lone surrogate prints safely


# Values accepted without a closer look: exact types only (a subclass goes the long way).
_PLAIN: Final = frozenset({str, bool, type(None)})
_BIG_INT: Final = 2**_BIG_INT_BITS


def apply_default(payload: object, default: Callable[[Any], Any]) -> object:
    """``payload`` with each value JSON cannot carry replaced by ``default(value)``, as
    ``json.dumps(default=...)`` does: the replacement is walked in turn, so it may hold
    more such values. JSON's own types are kept as they are (dict and list subclasses
    become plain dicts and lists); a tuple or a set goes to ``default`` too (the SDK
    refuses them, JSON would change them). If ``default`` raises, the value is left for
    the usual check, which refuses it with its key path. A new structure is returned;
    ``payload`` is not changed.
    """

    def walk(value: Any, depth: int) -> Any:
        if depth > MAX_PAYLOAD_DEPTH:
            return value  # the usual check refuses it, with its path
        if isinstance(value, dict):
            return {k: walk(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, depth + 1) for v in value]
        if value is None or isinstance(value, (str, int, float)):
            return value  # bool is an int
        try:
            replaced = default(value)
        except Exception:
            return value
        return walk(replaced, depth + 1)

    return walk(payload, 1)


# The exact types of a flat payload's values (a subclass goes the long way).
_SCALARS: Final = frozenset({str, int, float, bool, type(None)})


def is_flat(payload: dict[Any, Any]) -> bool:
    """Whether every key of ``payload`` is a ``str`` and every value a ``str``, ``int``,
    ``float``, ``bool`` or None, each of exactly that type.

    Such a payload has a problem only if JSON's encoder (with ``allow_nan=False``, then
    encoding to UTF-8) fails on it: NaN, infinity, an int too long to write out, a lone
    surrogate. So a flat payload the encoder takes needs no :func:`payload_problem`; one
    it refuses gets it, for the message.
    """
    for key, value in payload.items():
        if type(key) is not str or type(value) not in _SCALARS:
            return False
    return True


def payload_problem(payload: object) -> str | None:
    """Why ``payload`` would not round-trip as JSON unchanged, or None if it would.

    One walk over the payload, no recursion; the common scalars are checked in place and
    only containers and unusual values are stacked. The path to a problem is only put
    together when there is one. Values never appear in the answer (they may be personal
    data); the keys on the way to the problem do.
    """
    if not isinstance(payload, (dict, list)):
        return f"profile_payload must be a JSON object or array, not {type(payload).__name__}"
    # (value, depth, link to its container, its key there)
    stack: list[tuple[object, int, _Link | None, str | int]] = [(payload, 1, None, "")]
    push = stack.append
    while stack:
        value, depth, parent, key = stack.pop()
        if depth > MAX_PAYLOAD_DEPTH:
            return f"{_path((parent, key))} is nested deeper than {MAX_PAYLOAD_DEPTH} levels"
        is_dict = isinstance(value, dict)
        if is_dict or isinstance(value, list):
            link = (parent, key) if depth > 1 else None
            inline = depth < MAX_PAYLOAD_DEPTH  # else the depth check must see each child
            container: Any = value  # a dict or a list (typing.cast would be a call)
            items: Iterable[tuple[Any, Any]] = (
                container.items() if is_dict else enumerate(container)
            )
            for k, item in items:
                if is_dict and type(k) is not str and not isinstance(k, str):
                    kind = _article(type(k).__name__)
                    return f"{_path(link)} has {kind} key; JSON keys are strings"
                if inline:
                    cls = type(item)
                    if (
                        cls in _PLAIN
                        or (cls is int and -_BIG_INT < item < _BIG_INT)
                        or (cls is float and item - item == 0.0)
                    ):
                        continue  # finite: inf - inf and nan - nan are nan
                push((item, depth + 1, link, k))
        elif isinstance(value, str) or value is None or isinstance(value, bool):
            continue
        elif isinstance(value, int):
            if value.bit_length() > _BIG_INT_BITS:
                try:
                    int.__repr__(value)
                except ValueError:
                    where = _path((parent, key))
                    return f"{where} holds an int too large to write out as JSON"
        elif isinstance(value, float):
            if not math.isfinite(value):
                where = _path((parent, key))
                return f"{where} holds NaN or infinity, which JSON cannot carry"
        else:
            where = _path((parent, key))
            return f"{where} holds {_article(type(value).__name__)}, which is not JSON"
    return None


def surrogate_path(payload: object) -> str:
    """Where the first string a UTF-8 encoder refuses is (only run once one was found)."""
    stack: list[tuple[object, _Link | None]] = [(payload, None)]
    while stack:
        value, link = stack.pop()
        if isinstance(value, dict):
            for k, item in value.items():
                if not is_utf8(k):
                    return f"{_path(link)} has a key"
                stack.append((item, (link, k)))
        elif isinstance(value, list):
            stack.extend((item, (link, i)) for i, item in enumerate(value))
        elif isinstance(value, str) and not is_utf8(value):
            return _path(link) + " holds a string"
    return "payload holds a string"
