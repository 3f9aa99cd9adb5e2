"""Models <-> plain data: what ``PlainData.to_dict()`` and ``from_dict()`` run.

Plain data is keyed by the Python attribute names (``to_dict()`` of a :class:`Contact`
has ``id``, not the wire's ``contact_id``), nested models are dicts, datetimes are ISO
8601 strings. Coming back, each field goes through the same lenient value rule as on the
wire (:mod:`._lenient`), and nested attrs classes by their attribute names again. The
converter knows no model class: any attrs class works, so the models can import this
module without it importing them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, TypeVar, cast

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn

from ._exceptions import InvalidArgumentError
from ._lenient import new_converter

__all__ = ["from_plain", "to_plain"]

_T = TypeVar("_T")

_CONVERTER: Final = new_converter()
_CONVERTER.register_unstructure_hook(datetime, datetime.isoformat)
# Nested models come back by their attribute names, with the same lenient field hooks.
_CONVERTER.register_structure_hook_factory(
    attrs.has, lambda cls: make_dict_structure_fn(cls, _CONVERTER)
)


def to_plain(obj: Any) -> dict[str, Any]:
    """Models -> plain JSON-able data (datetimes as ISO ``YYYY-MM-DDTHH:MM:SS`` strings).

    Every attribute is kept, including ``extra`` and ``ContactDetails.raw``.
    """
    plain: dict[str, Any] = _CONVERTER.unstructure(obj)
    return plain


def from_plain(data: Mapping[str, Any], cls: type[_T]) -> _T:
    """:func:`to_plain`'s data back into ``cls``; ``InvalidArgumentError`` if it does not fit."""
    if not attrs.has(cls):
        raise InvalidArgumentError(f"{cls.__name__} has no from_dict")
    if not isinstance(data, Mapping):
        raise InvalidArgumentError(
            f"{cls.__name__}.from_dict takes a mapping, not {type(data).__name__}"
        )
    try:
        return cast(_T, _CONVERTER.structure(data, cls))
    except Exception as exc:
        problems = cattrs.transform_error(exc)
        raise InvalidArgumentError(
            f"{cls.__name__}.from_dict: {'; '.join(problems) or type(exc).__name__}"
        ) from None
