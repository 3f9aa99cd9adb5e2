"""``enrich --journal FILE --shard I/N``: a journal made under one split refuses a run
under another with exit code 2 and one line naming both splits (no traceback), before
anything is sent; the same split resumes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import env_for, jsonl, run_cli
from zyntro_async.testing import ZyntroSandbox

ADD = "addProfileToContact"


@pytest.mark.parametrize(
    ("first", "then", "named"),
    [
        (["--shard", "0/2"], ["--shard", "0/3"], ("shard 0/2", "shard 0/3")),
        (["--shard", "1/2"], [], ("shard 1/2", "not sharded")),
        ([], ["ZYNTRO_SHARD=0/2"], ("not sharded", "shard 0/2")),
    ],
)
async def test_a_journal_refuses_another_split_with_a_usage_error(
    sandbox: ZyntroSandbox,
    tmp_path: Path,
    first: list[str],
    then: list[str],
    named: tuple[str, str],
) -> None:
    source = jsonl(tmp_path / "in.jsonl", sandbox.seed(20), source="S")
    journal = str(tmp_path / "j.db")
    args = ("enrich", str(source), "--journal", journal)
    code, _, err = await run_cli(*args, *first, env=env_for(sandbox))
    assert code == 0, err
    sent = sandbox.stats[ADD].requests
    assert sent > 0
    flags = [a for a in then if "=" not in a]
    env = env_for(sandbox, **dict(a.split("=") for a in then if "=" in a))
    code, out, err = await run_cli(*args, *flags, env=env)
    assert code == 2, err
    assert out == ""  # no summary: the run never started
    assert "Traceback" not in err
    line = next(line for line in err.splitlines() if line.startswith("zyntro-async: error:"))
    assert named[0] in line
    assert named[1] in line
    assert journal in line
    assert sandbox.stats[ADD].requests == sent  # nothing sent
    code, _, err = await run_cli(*args, *first, env=env_for(sandbox))
    assert code == 0, err  # the split it was made by resumes
    assert sandbox.stats[ADD].requests == sent
