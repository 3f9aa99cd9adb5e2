"""Any input either travels intact (round-trips through the sandbox identical) or is refused
with ValidationError before a request is made. Never another exception type."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zyntro_async import NotFoundError, ValidationError, ZyntroClient
from zyntro_async.testing import ZyntroSandbox

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**100), max_value=2**100)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
)
ODD_VALUES = st.binary() | st.sets(st.integers(), max_size=3) | st.tuples(st.integers())
JSONISH = st.recursive(
    JSON_SCALARS | ODD_VALUES,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.integers() | st.none(), children, max_size=4)
    ),
    max_leaves=20,
)
PAYLOADS = (
    st.dictionaries(st.text(max_size=10), JSONISH, max_size=5)
    | st.lists(JSONISH, max_size=5)
    | JSON_SCALARS
    | ODD_VALUES
)
IDS = st.text(max_size=40) | st.just("") | st.just("   ") | st.just("x" * 100_000)
SOURCES = st.text(max_size=40) | st.just("") | st.just(" \t") | st.just("S" * 50_000)


def deep(levels: int) -> Any:
    value: Any = {"leaf": 1}
    for _ in range(levels):
        value = {"n": value}
    return value


def same(a: Any, b: Any) -> bool:
    """JSON equality: bools stay bools, -0.0 == 0.0, order of keys does not matter."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(same, a, b))
    return type(a) is type(b) and a == b


async def add_and_read_back(payload: Any, source: str = "Prop") -> tuple[str, Any]:
    """'refused' or 'stored' (checked identical), and the sandbox's request count."""
    async with ZyntroSandbox() as sb:
        contact_id = sb.add_contact(first_name="P")
        async with ZyntroClient(**sb.credentials, base_url=sb.base_url) as client:
            try:
                profile = await client.add_profile_to_contact(contact_id, payload, source)
            except ValidationError:
                assert sb.stats.requests == 0  # refused before any request
                return "refused", None
            (stored,) = sb.profiles(contact_id)
            assert same(stored["profile_payload"], payload)
            assert same(profile.payload, payload)
            details = await client.fetch_contact(contact_id, include_profile=True)
            assert details.profiles is not None
            assert same(details.profiles[0].payload, payload)
            assert details.profiles[0].source == source
            return "stored", stored


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=PAYLOADS)
async def test_any_payload_round_trips_or_is_refused(payload: Any) -> None:
    await add_and_read_back(payload)


async def test_edge_payloads() -> None:
    assert (await add_and_read_back({"big": "é" * 1_000_000}))[0] == "stored"  # a megabyte
    assert (await add_and_read_back({"n": 2**200, "f": 1e308, "z": -0.0}))[0] == "stored"
    assert (await add_and_read_back({"emoji": "🚀", "nul": "\x00", "rtl": "\u202e"}))[0] == "stored"
    assert (await add_and_read_back(deep(100)))[0] == "stored"
    for refused in (
        deep(200),
        {"lone": "\ud800"},
        {"\udfff": 1},
        {"nan": math.nan},
        {"inf": -math.inf},
        {1: "int key"},
        {"b": b"bytes"},
        {"s": {1}},
        {},
        [],
        "string",
        None,
    ):
        assert (await add_and_read_back(refused))[0] == "refused", refused


@settings(max_examples=40, deadline=None)
@given(contact_id=IDS, source=SOURCES)
async def test_any_id_or_source_is_sent_correctly_or_refused(contact_id: str, source: str) -> None:
    async with ZyntroSandbox() as sb:
        real = sb.add_contact(first_name="Q")
        async with ZyntroClient(**sb.credentials, base_url=sb.base_url) as client:
            for cid in (contact_id, real):
                try:
                    profile = await client.add_profile_to_contact(cid, {"k": "v"}, source)
                except ValidationError:
                    assert not cid.strip() or not source.strip() or not _utf8(cid + source)
                    continue
                except NotFoundError:  # the API's own answer for an unknown id
                    assert cid != real
                    continue
                assert cid == real
                (stored,) = sb.profiles(real)
                assert stored["profile_source"] == source == profile.source
            for cid in (contact_id,):
                try:
                    await client.fetch_contact(cid)
                except ValidationError:
                    assert not cid.strip() or not _utf8(cid)
                except NotFoundError:
                    pass


def _utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
