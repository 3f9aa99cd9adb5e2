"""The command line calls a field missing exactly when the library and the API do (PHP's
``empty()``: ``""`` and ``"0"``, never whitespace): what the library would send, the CLI
sends; what it would refuse, the CLI refuses before sending anything."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.helpers import env_for, read_results, run_cli
from zyntro_async.testing import ZyntroSandbox


async def test_a_whitespace_source_is_a_source_on_the_command_line_too(
    sandbox: ZyntroSandbox,
) -> None:
    (cid,) = sandbox.seed(1)
    code, _out, err = await run_cli(
        "add-profile", cid, "--source", "  ", "--payload", json.dumps({"a": 1}),
        env=env_for(sandbox),
    )  # fmt: skip
    assert code == 0, err
    assert [p["profile_source"] for p in sandbox.profiles(cid)] == ["  "]


async def test_input_lines_are_missing_a_field_by_the_api_rule(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    real, other = sandbox.seed(2)
    lines = [
        {"contact_id": real, "payload": {"n": 1}, "source": " \t"},  # sent: a source
        {"contact_id": "   ", "payload": {"n": 2}},  # sent: the API says NOT_FOUND
        {"contact_id": "0", "payload": {"n": 3}},  # missing: invalid input, never sent
        {"contact_id": other, "payload": {"n": 4}, "source": "0"},  # missing source
    ]
    source, results = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    code, _out, err = await run_cli(
        "enrich", str(source), "--source", "S", "--output", str(results), env=env_for(sandbox)
    )
    assert code == 1, err
    assert [p["profile_source"] for p in sandbox.profiles(real)] == [" \t"]
    assert sandbox.profiles(other) == []
    outcomes = {r["line"]: (r["ok"], r.get("error", {}).get("code")) for r in read_results(results)}
    assert outcomes == {
        1: (True, None),
        2: (False, "NOT_FOUND"),
        3: (False, "INVALID_INPUT"),
        4: (False, "INVALID_INPUT"),
    }
