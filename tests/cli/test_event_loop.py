"""The CLI runs on uvloop when it is installed (the ``speed`` extra), on asyncio otherwise
or with ``ZYNTRO_UVLOOP=0``; both give the same results."""

from __future__ import annotations

import importlib.util
import json

import pytest

from tests.cli.helpers import env_for, run_cli
from zyntro_async.testing import ZyntroSandbox

HAVE_UVLOOP = importlib.util.find_spec("uvloop") is not None


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("1", "uvloop" if HAVE_UVLOOP else "asyncio"),
        ("0", "asyncio"),
    ],
)
async def test_fetch_runs_on_the_chosen_loop(
    sandbox: ZyntroSandbox, setting: str, expected: str
) -> None:
    cid = sandbox.add_contact(first_name="Jane")
    ran = await run_cli("-vv", "fetch", cid, "--json", env=env_for(sandbox, ZYNTRO_UVLOOP=setting))
    assert ran.code == 0, ran.err
    assert f"event loop: {expected}" in ran.err
    assert json.loads(ran.out)["contact"]["id"] == cid
