"""``enrich --shard I/N`` (or ``ZYNTRO_SHARD``): N processes given the same file each take a
disjoint part of it, together all of it; each line is reported by exactly one of them."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from tests.cli.helpers import env_for, jsonl, read_results, run_cli
from zyntro_async.testing import ZyntroSandbox

ADD = "addProfileToContact"


def summary(out: str) -> dict[str, str]:
    rows = (re.match(r"^  (\w[\w ]*?)\s{2,}(\S.*)$", line) for line in out.splitlines())
    return {m[1]: m[2] for m in rows if m}


def input_with_bad_lines(path: Path, ids: list[str]) -> Path:
    jsonl(path, ids, source="S")
    with path.open("a") as f:
        f.write("not json\n")
        f.write('{"payload": {"no": "contact"}}\n')
    return path


@pytest.mark.parametrize("n", [1, 2, 3, 5])
async def test_n_shards_in_parallel_split_a_file_disjointly_and_cover_it(
    sandbox: ZyntroSandbox, tmp_path: Path, n: int
) -> None:
    ids = sandbox.seed(40)
    source = input_with_bad_lines(tmp_path / "in.jsonl", ids)
    lines = 42

    async def shard(i: int) -> tuple[int, str, str]:
        args = ["enrich", str(source), "--journal", str(tmp_path / f"j{i}.db")]
        args += ["--output", str(tmp_path / f"out{i}.jsonl")]
        env = env_for(sandbox, PYTHONHASHSEED=str(100 + i))  # a different hash() salt each
        if i % 2:
            env["ZYNTRO_SHARD"] = f"{i}/{n}"  # the environment's way, as a Deployment sets it
        else:
            args += ["--shard", f"{i}/{n}"]
        return await run_cli(*args, env=env)

    ran = await asyncio.gather(*(shard(i) for i in range(n)))
    seen: list[set[int]] = []
    for i, (code, out, err) in enumerate(ran):
        table = summary(out)
        assert int(table["items"]) + int(table["other shards"]) == lines, (out, err)
        # Progress counts the file's lines: the shard's own, and those passed over.
        assert f"shard {i}/{n} progress: {lines}/{lines} done" in err
        records = read_results(tmp_path / f"out{i}.jsonl")
        assert len(records) == int(table["items"])  # --output: this shard's lines only
        invalid = [r for r in records if not r["ok"]]
        if i == 0:  # lines that are no request have no key: shard 0 reports them
            assert [r["line"] for r in invalid] == [41, 42]
            assert code == 1, err
        else:
            assert invalid == []
            assert code == 0, err
        seen.append({r["line"] for r in records})
    for i in range(n):
        for j in range(i + 1, n):
            assert not seen[i] & seen[j]
    assert set().union(*seen) == set(range(1, lines + 1))
    assert all(len(sandbox.profiles(cid)) == 1 for cid in ids)
    assert sandbox.stats[ADD].requests == len(ids)


async def test_a_resumed_shard_takes_the_same_lines_and_sends_nothing(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    ids = sandbox.seed(30)
    source = jsonl(tmp_path / "in.jsonl", ids, source="S")
    out1, out2 = tmp_path / "first.jsonl", tmp_path / "again.jsonl"
    args = ("enrich", str(source), "--shard", "1/3", "--journal", str(tmp_path / "j1.db"))
    code, out, err = await run_cli(*args, "--output", str(out1), env=env_for(sandbox))
    assert code == 0, err
    sent = sandbox.stats[ADD].requests
    assert 0 < sent < len(ids)
    env = env_for(sandbox, PYTHONHASHSEED="4242")
    code, out, err = await run_cli(*args, "--output", str(out2), env=env)
    assert code == 0, err
    assert sandbox.stats[ADD].requests == sent  # nothing sent again
    again = read_results(out2)
    assert {r["line"] for r in again} == {r["line"] for r in read_results(out1)}
    assert all(r["skipped"] for r in again)
    assert summary(out)["skipped"] == str(sent)


@pytest.mark.parametrize(
    ("how", "value", "named"),
    [
        ("flag", "3/3", "got 3/3"),
        ("flag", "3/0", "got 3/0"),
        ("flag", "-1/2", "got -1/2"),
        ("flag", "a/b", "'a/b'"),
        ("flag", "1", "'1'"),
        ("flag", "1.0/2", "'1.0/2'"),
        ("env", "a/b", "'a/b'"),
        ("env", "2/2", "got 2/2"),
    ],
)
async def test_a_bad_shard_is_a_usage_error_naming_it(
    sandbox: ZyntroSandbox, tmp_path: Path, how: str, value: str, named: str
) -> None:
    ids = sandbox.seed(3)
    source = jsonl(tmp_path / "in.jsonl", ids, source="S")
    if how == "flag":
        code, out, err = await run_cli(
            "enrich", str(source), f"--shard={value}", env=env_for(sandbox)
        )
        assert out == ""
        assert "--shard" in err
    else:
        env = env_for(sandbox, ZYNTRO_SHARD=value)
        code, out, err = await run_cli("enrich", str(source), env=env)
        assert "ZYNTRO_SHARD" in err
        assert out == ""
    assert code == 2, err
    assert named in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert sandbox.stats.requests == 0


async def test_the_flag_wins_over_the_environment(sandbox: ZyntroSandbox, tmp_path: Path) -> None:
    ids = sandbox.seed(20)
    source = jsonl(tmp_path / "in.jsonl", ids, source="S")
    env = env_for(sandbox, ZYNTRO_SHARD="not a shard")
    code, out, err = await run_cli("enrich", str(source), "--shard", "0/1", env=env)
    assert code == 0, err
    assert summary(out)["items"] == "20"
    assert summary(out)["other shards"] == "0"
