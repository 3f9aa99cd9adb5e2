"""Ctrl-C and SIGTERM (what `docker stop` and Kubernetes send) stop a run cleanly: the journal
is flushed, the exit code says which signal (130, 143), a second signal still exits with a
message and never a traceback, and a re-run resumes without a duplicate."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import pytest

from tests.cli.helpers import CLI, env_for, jsonl, run_cli, wait_for_lines
from zyntro_async.testing import Faults, ZyntroSandbox


async def _start(
    *args: str, env: dict[str, str], stdin: bool = False
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *CLI,
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


@pytest.mark.slow
async def test_sigterm_flushes_the_journal_exits_143_and_the_run_resumes(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    ids = sandbox.seed(400)
    sandbox.faults = Faults(latency=0.01)
    source, journal, results = jsonl(tmp_path / "in.jsonl", ids), tmp_path / "j.db", tmp_path / "o"
    args = ("enrich", str(source), "--source", "S", "--journal", str(journal))
    proc = await _start(*args, "--concurrency", "8", "--output", str(results), env=env_for(sandbox))
    await wait_for_lines(results, 40, proc)
    proc.send_signal(signal.SIGTERM)
    out, err = (b.decode() for b in await asyncio.wait_for(proc.communicate(), 30))
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    assert "zyntro-async: SIGTERM: stopping" in err
    assert f"run the same command again to resume from --journal {journal}" in err
    assert "succeeded" in out  # what got done is still reported
    sandbox.faults = Faults()
    code, out, err = await run_cli(*args, env=env_for(sandbox))
    assert code == 0, err
    assert all(len(sandbox.profiles(cid)) == 1 for cid in ids)
    assert "skipped     0" not in out  # the first run's items were skipped, not redone


async def test_a_second_ctrl_c_during_shutdown_still_exits_130(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    sandbox.faults = Faults(latency=0.01)
    source, results = jsonl(tmp_path / "in.jsonl", sandbox.seed(400)), tmp_path / "out.jsonl"
    proc = await _start(
        "enrich", str(source), "--source", "S", "--journal", str(tmp_path / "j.db"),
        "--output", str(results), env=env_for(sandbox),
    )  # fmt: skip
    await wait_for_lines(results, 20, proc)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 130, err
    assert b"Traceback" not in err
    assert b"SIGINT" in err


async def test_ctrl_c_works_while_waiting_for_stdin(sandbox: ZyntroSandbox, tmp_path: Path) -> None:
    (cid,) = sandbox.seed(1)
    results = tmp_path / "out.jsonl"
    proc = await _start(
        "enrich", "-", "--source", "S", "--output", str(results), env=env_for(sandbox), stdin=True
    )
    assert proc.stdin is not None
    proc.stdin.write(json.dumps({"contact_id": cid, "payload": {"a": 1}}).encode() + b"\n")
    await proc.stdin.drain()
    await wait_for_lines(results, 1, proc)  # done with what came; stdin stays open
    proc.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(proc.wait(), 10) == 130  # stdin still open: no EOF involved
    assert proc.stderr is not None
    assert b"Traceback" not in await proc.stderr.read()
    proc.stdin.close()
    assert len(sandbox.profiles(cid)) == 1
