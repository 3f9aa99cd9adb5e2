"""Any argument to the call builders gives a Call whose body carries it intact, or a
ValidationError: never a bare TypeError/ValueError/RecursionError from deep inside."""

from __future__ import annotations

import enum
import json
import uuid
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.helpers import CREDS
from zyntro_async import ValidationError
from zyntro_async._config import Credentials
from zyntro_async._protocol import add_profile_call, fetch_contact_call, php_empty

C = Credentials(**CREDS)


class Colour(enum.Enum):
    RED = 1


class Count(enum.IntEnum):
    ONE = 1


class Name(str, enum.Enum):
    JANE = "jane"


class Exploding(dict):  # type: ignore[type-arg]
    def items(self) -> Any:
        raise RuntimeError("boom")


class Lying(list):  # type: ignore[type-arg]
    def __len__(self) -> int:
        raise TypeError("no len")


class NoTruth:
    def __bool__(self) -> bool:
        raise ValueError("ambiguous")


HUGE_INTS = st.integers(min_value=4000, max_value=6000).map(lambda n: 10**n)
STRINGS = st.text(max_size=12) | st.text(max_size=4).map(lambda t: t + "\ud800")
ATOMS = (
    st.none()
    | st.booleans()
    | st.integers()
    | HUGE_INTS
    | st.floats()
    | STRINGS
    | st.sampled_from(["", "0", " ", "00"])
    | st.binary(max_size=4)
    | st.datetimes()
    | st.uuids()
    | st.decimals()
    | st.complex_numbers()
    | st.sampled_from([Colour.RED, Count.ONE, Name.JANE, Ellipsis, object(), type, NoTruth()])
)
KEYS = STRINGS | st.integers() | st.none() | st.booleans() | st.floats() | st.uuids()
ANYTHING = st.recursive(
    ATOMS,
    lambda c: (
        st.lists(c, max_size=3)
        | st.dictionaries(KEYS, c, max_size=3)
        | st.tuples(c)
        | st.frozensets(st.integers(), max_size=2)
        | st.builds(Exploding, st.dictionaries(st.text(max_size=3), c, max_size=2))
        | st.builds(Lying, st.lists(c, max_size=2))
    ),
    max_leaves=12,
)


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(contact_id=ANYTHING, payload=ANYTHING, source=ANYTHING, member_id=ANYTHING)
@example(contact_id="c", payload={"n": 10**5000}, source="s", member_id=None)
@example(contact_id=7, payload={"a": [1.5, None, True]}, source="s", member_id=8)
@example(contact_id="0", payload={"a": 1}, source="s", member_id=None)
def test_add_gives_a_faithful_call_or_a_validation_error(
    contact_id: Any, payload: Any, source: Any, member_id: Any
) -> None:
    refused: ValidationError | None = None
    try:
        call = add_profile_call(C, contact_id, payload, source, member_id=member_id)
    except ValidationError as exc:
        refused = exc
    if refused is not None:
        assert refused.code in ("MISSING_FIELDS", "INVALID_PAYLOAD")
        str(refused).encode()  # a message that can be printed and logged
        return
    body = json.loads(call.body)
    assert body["profile_payload"] == payload
    assert body["profile_source"] == source
    assert body["contact_id"] == call.contact_id
    assert not php_empty(body["contact_id"])
    assert not php_empty(body["member_id"])


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(contact_id=ANYTHING, member_id=ANYTHING, flag=ANYTHING)
@example(contact_id="0", member_id=None, flag=True)
@example(contact_id=10**5000, member_id=None, flag=False)
@example(contact_id="c", member_id=None, flag=NoTruth())
def test_fetch_gives_a_call_or_a_validation_error(
    contact_id: Any, member_id: Any, flag: Any
) -> None:
    try:
        call = fetch_contact_call(C, contact_id, member_id=member_id, include_notes=flag)
    except ValidationError as exc:
        str(exc).encode()
        return
    body = json.loads(call.body)
    assert body["include_notes"] in (0, 1)
    assert isinstance(contact_id, (str, int, uuid.UUID))
    assert not isinstance(contact_id, bool)
    assert not php_empty(body["contact_id"])


class Label(str):
    pass


class Ratio(float):
    pass


FLAT_KEYS = (
    STRINGS
    | st.text(min_size=41, max_size=45)
    | st.integers()
    | st.booleans()
    | st.none()
    | st.floats()
    | st.builds(Label, st.text(max_size=3))
)
FLAT_VALUES = (
    st.none()
    | st.booleans()
    | st.integers()
    | HUGE_INTS
    | HUGE_INTS.map(lambda n: -n)
    | st.floats()
    | st.sampled_from([float("nan"), float("inf"), float("-inf")])
    | STRINGS
    | st.builds(Label, STRINGS)
    | st.builds(Ratio, st.floats())
    | st.sampled_from([Count.ONE, Name.JANE, (1,), b"x"])
)
FLAT = st.dictionaries(FLAT_KEYS, FLAT_VALUES, min_size=1, max_size=6)


def _outcome(payload: Any) -> bytes | tuple[str, tuple[str, ...]]:
    try:
        return add_profile_call(C, "c", payload, "s").body
    except ValidationError as exc:
        return exc.code, exc.messages


@settings(max_examples=300, deadline=None)
@given(payload=FLAT)
@example(payload={"a": "\ud800", "b": float("nan")})
@example(payload={"b": 10**5000, "a": float("inf")})
@example(payload={"a": 1, 2: "x"})
@example(payload={"a": Count.ONE})
@example(payload={"a": (1,), Label("b"): Ratio(0.5)})
def test_a_flat_payload_is_judged_as_its_values_one_level_down(payload: Any) -> None:
    """A payload of scalars gets the answer the same values get inside another object:
    the same bytes on the wire, or the same error with the path one key longer."""
    flat = _outcome(payload)
    nested = _outcome({"wrap": payload})
    if isinstance(flat, bytes):
        head, rest = flat.split(b',"profile_payload":', 1)
        tail = b',"profile_source":"s"}'
        assert rest.endswith(tail)
        inner = rest[: -len(tail)]
        assert nested == head + b',"profile_payload":{"wrap":' + inner + b"}" + tail
        assert json.loads(inner) == json.loads(json.dumps(payload))
        return
    code, (message,) = flat
    assert code == "INVALID_PAYLOAD"
    if message.startswith("payload"):
        message = 'payload["wrap"]' + message[len("payload") :]
    assert nested == (code, (message,))
