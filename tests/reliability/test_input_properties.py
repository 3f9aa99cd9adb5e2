"""Any input either travels intact (round-trips through the sandbox identical) or is refused
with ValidationError before a request is made. Never another exception type."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, example, given, settings
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
T = TypeVar("T")

IDS = st.text(max_size=40) | st.sampled_from(["", "0", "   ", "00", "x" * 100_000])
SOURCES = st.text(max_size=40) | st.sampled_from(["", "0", " \t", "0.0", "S" * 50_000])


def php_empty(text: str) -> bool:
    """What PHP's empty() calls missing, for a string: "" and "0" (not "  ", not "00")."""
    return text in ("", "0")


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
# The cases PHP's empty() decides, whatever the random draw: "0" is missing (refused
# locally, with the server's code), whitespace is not (sent; the API says NOT_FOUND).
@example(contact_id="0", source="Src")
@example(contact_id="x", source="0")
@example(contact_id="   ", source=" \t")
async def test_any_id_or_source_is_sent_correctly_or_refused(contact_id: str, source: str) -> None:
    async with ZyntroSandbox() as sb:
        real = sb.add_contact(first_name="Q")
        async with ZyntroClient(**sb.credentials, base_url=sb.base_url) as client:
            for cid in (contact_id, real):
                added = await outcome(client.add_profile_to_contact(cid, {"k": "v"}, source))
                if isinstance(added, ValidationError):
                    assert php_empty(cid) or php_empty(source) or not _utf8(cid + source)
                    assert added.code == "MISSING_FIELDS"  # what the server would say
                elif isinstance(added, NotFoundError):  # the API's own answer for an unknown id
                    assert cid != real
                else:
                    assert cid == real
                    (stored,) = sb.profiles(real)
                    assert stored["profile_source"] == source == added.source
            fetched = await outcome(client.fetch_contact(contact_id))
            if isinstance(fetched, ValidationError):
                assert php_empty(contact_id) or not _utf8(contact_id)
                assert fetched.code == "MISSING_CONTACT_ID"
            else:
                assert isinstance(fetched, NotFoundError)
            # Refused locally means never sent: the server saw only what it would not
            # refuse as missing (add for contact_id, add for real, fetch).
            id_ok = not php_empty(contact_id) and _utf8(contact_id)
            source_ok = not php_empty(source) and _utf8(source)
            assert sb.stats.requests == (id_ok and source_ok) + source_ok + id_ok


async def outcome(call: Awaitable[T]) -> T | ValidationError | NotFoundError:
    try:
        return await call
    except (ValidationError, NotFoundError) as exc:
        return exc


def _utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


@pytest.mark.slow
def test_ci_runs_every_property_test_derandomized(tmp_path: Path) -> None:
    """With CI set (CI=true), each property test draws the same examples on every run, so
    one that failed once fails every run; without it, the draw is random."""
    probe = tmp_path / "test_probe.py"
    probe.write_text(
        "from hypothesis import settings\n"
        "def test_probe():\n"
        "    assert settings().derandomize and settings().database is None\n"
    )
    root = Path(__file__).parents[2]
    env = {k: v for k, v in os.environ.items() if k != "CI" and not k.startswith("PYTEST_")}
    outcomes = []
    for ci in ({"CI": "true"}, {}):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "tests.conftest",
                "-p",
                "no:cacheprovider",
                "--rootdir",
                str(tmp_path),
                str(probe),
            ],
            cwd=root,
            env={**env, **ci},
            capture_output=True,
            check=False,
        )
        outcomes.append(proc.returncode)
    assert outcomes == [0, 1]
