"""``enrich --output``: after any stop the file holds every result the summary counts, and
after a resume it holds exactly one final line per input line (each run rewrites it)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.helpers import CLI, env_for, jsonl, read_results, run_cli, wait_for_lines
from zyntro_async.testing import Faults, ZyntroSandbox


def summary(out: str) -> dict[str, str]:
    """The summary table's rows: {"items": "400", "succeeded": "123", ...}."""
    rows = (re.match(r"^  (\w[\w ]*?)\s{2,}(\S.*)$", line) for line in out.splitlines())
    return {m[1]: m[2] for m in rows if m}


def counted(table: dict[str, str]) -> int:
    """The results a summary counts: every item it reports an outcome for."""
    return sum(int(table.get(k, 0)) for k in ("succeeded", "failed", "invalid", "skipped"))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
async def test_a_stopped_run_wrote_every_result_it_counts_and_a_resume_completes_the_file(
    sandbox: ZyntroSandbox, tmp_path: Path, signum: signal.Signals
) -> None:
    ids = sandbox.seed(600)
    sandbox.faults = Faults(latency=0.02)  # results come in bursts of --concurrency
    source = jsonl(tmp_path / "in.jsonl", ids)
    with source.open("a") as f:
        f.write("not json\n")  # line 601: invalid input has its line too
    journal, results = tmp_path / "run.db", tmp_path / "out.jsonl"
    args = ("enrich", str(source), "--source", "S", "--journal", str(journal))
    args += ("--output", str(results), "--concurrency", "64")
    proc = await asyncio.create_subprocess_exec(
        *CLI, *args, env=env_for(sandbox), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    await wait_for_lines(results, 150, proc)
    proc.send_signal(signum)
    out, err = (b.decode() for b in await asyncio.wait_for(proc.communicate(), 30))
    assert proc.returncode == 128 + signum, err
    first = summary(out)
    lines = read_results(results)
    assert len(lines) == counted(first) == int(first["items"]), (out, err)
    assert int(first["items"]) < 601  # stopped well before the end
    done_before = {r["line"] for r in lines if r["ok"]}

    sandbox.faults = Faults()
    code, out, err = await run_cli(*args, env=env_for(sandbox))
    assert code == 1, err  # the "not json" line
    lines = read_results(results)
    assert sorted(r["line"] for r in lines) == list(range(1, 602))  # one line per input line
    assert not any(r.get("unknown") for r in lines)
    assert {r["line"] for r in lines if r.get("skipped")} == done_before
    assert all(r["ok"] for r in lines if r["line"] <= 600)
    assert all(len(sandbox.profiles(cid)) == 1 for cid in ids)


@contextlib.contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path`` (needs root, as here and in CI)."""
    path.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


async def test_a_full_disk_under_output_stops_the_run_and_says_what_the_file_lacks(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    ids = sandbox.seed(400)
    source, journal = jsonl(tmp_path / "in.jsonl", ids), tmp_path / "run.db"
    args = ("enrich", str(source), "--source", "S", "--journal", str(journal))
    with small_disk(tmp_path / "disk", "16k") as disk:
        results = disk / "out.jsonl"
        code, out, err = await run_cli(*args, "--output", str(results), env=env_for(sandbox))
        assert code == 1, err
        assert "Traceback" not in err
        assert f"cannot write --output {results}: No space left on device: stopping" in err
        table = summary(out)
        assert int(table["items"]) < 400  # it stopped
        written = results.read_bytes()
    assert written.endswith(b"\n")  # no half line: the failed write was cut back
    kept = [json.loads(line) for line in written.splitlines()]
    lacks = counted(table) - len(kept)
    assert lacks > 0
    assert f"holds {len(kept)} lines and lacks {lacks} results counted above" in err
    # With room again, the same command resumes and writes the whole file.
    results = tmp_path / "out.jsonl"
    code, out, err = await run_cli(*args, "--output", str(results), env=env_for(sandbox))
    assert code == 0, err
    assert sorted(r["line"] for r in read_results(results)) == list(range(1, 401))
    assert all(len(sandbox.profiles(cid)) == 1 for cid in ids)


async def test_an_id_that_cannot_be_encoded_is_a_line_of_its_own(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    ids = sandbox.seed(3)
    lines = [json.dumps({"contact_id": cid, "payload": {"n": 1}}) for cid in ids]
    lines.insert(1, '{"contact_id": "\\ud800x", "payload": {"n": 1}}')  # a lone surrogate
    source, results = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("\n".join(lines) + "\n")
    code, out, err = await run_cli(
        "enrich", str(source), "--source", "S", "--output", str(results), env=env_for(sandbox)
    )
    assert code == 1, err  # that one item failed; the file and the run went on
    records = read_results(results)
    assert sorted(r["line"] for r in records) == [1, 2, 3, 4]
    assert [r["contact_id"] for r in records if r["line"] == 2] == ["\ud800x"]
    assert counted(summary(out)) == 4
    assert all(len(sandbox.profiles(cid)) == 1 for cid in ids)


async def test_output_cannot_be_the_input_or_the_journal(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    ids = sandbox.seed(3)
    source, journal = jsonl(tmp_path / "in.jsonl", ids), tmp_path / "run.db"
    args = ("enrich", str(source), "--source", "S", "--journal", str(journal))
    code, _, err = await run_cli(*args, env=env_for(sandbox))
    assert code == 0, err
    kept = source.read_bytes(), journal.read_bytes()
    for output, said in ((source, "is the input"), (journal, "is --journal")):
        code, _, err = await run_cli(*args, "--output", str(output), env=env_for(sandbox))
        assert code == 2, err
        assert f"--output {output} {said}: each run rewrites --output" in err
    assert (source.read_bytes(), journal.read_bytes()) == kept  # neither was touched
    assert all(len(sandbox.profiles(cid)) == 1 for cid in ids)
