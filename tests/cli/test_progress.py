"""Progress a user can trust: a bar on a terminal with log lines kept off it, the number in
flight bounded by --concurrency, and an ETA on a resumed run from the work done now (the
CSV bar ending at its real total is in test_cli)."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import re
import struct
import termios
import threading
from pathlib import Path

import pytest

from tests.cli.helpers import CLI, env_for, jsonl, run_cli
from zyntro_async.testing import Faults, ZyntroSandbox


def _read_all(fd: int, into: list[bytes]) -> None:
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the terminal's other side closed
            return
        if not data:
            return
        into.append(data)


async def test_verbose_log_lines_on_a_terminal_stay_off_the_bar(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    sandbox.faults = Faults(server_error=0.2)  # retries: WARNING lines while the bar shows
    source = jsonl(tmp_path / "in.jsonl", sandbox.seed(30))
    terminal, stderr = pty.openpty()
    fcntl.ioctl(stderr, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    proc = await asyncio.create_subprocess_exec(
        *CLI, "-v", "enrich", str(source), "--source", "S", "--concurrency", "4",
        env=env_for(sandbox), stdout=asyncio.subprocess.PIPE, stderr=stderr,
    )  # fmt: skip
    os.close(stderr)
    chunks: list[bytes] = []
    reader = threading.Thread(target=_read_all, args=(terminal, chunks))
    reader.start()
    try:
        await asyncio.wait_for(proc.communicate(), 30)
        await asyncio.to_thread(reader.join, 10)
    finally:
        os.close(terminal)
    shown = b"".join(chunks).decode()
    assert "/30 [" in shown  # a bar
    assert "in flight=" in shown
    logged = [seg for line in shown.split("\n") for seg in line.split("\r") if "WARNING" in seg]
    assert logged, shown[-2000:]
    for segment in logged:  # each log line starts on a line of its own, never after the bar
        assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING ", segment), segment


@pytest.mark.parametrize(("rows", "columns"), [(0, 0), (0, 160)])
async def test_a_terminal_that_reports_no_size_gets_plain_progress_lines(
    sandbox: ZyntroSandbox, tmp_path: Path, rows: int, columns: int
) -> None:
    source = jsonl(tmp_path / "in.jsonl", sandbox.seed(30))
    terminal, stderr = pty.openpty()  # a terminal, as some CI runners give, with no size
    fcntl.ioctl(stderr, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    proc = await asyncio.create_subprocess_exec(
        *CLI, "enrich", str(source), "--source", "S",
        env=env_for(sandbox), stdout=asyncio.subprocess.PIPE, stderr=stderr,
    )  # fmt: skip
    os.close(stderr)
    chunks: list[bytes] = []
    reader = threading.Thread(target=_read_all, args=(terminal, chunks))
    reader.start()
    try:
        await asyncio.wait_for(proc.communicate(), 30)
        await asyncio.to_thread(reader.join, 10)
    finally:
        os.close(terminal)
    assert proc.returncode == 0
    shown = b"".join(chunks).decode()
    assert re.search(r"^progress: 30/30 done \(30 ok, 0 failed, ", shown, re.MULTILINE), shown


@pytest.mark.slow
async def test_a_resumed_run_estimates_from_work_done_now_and_bounds_in_flight(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    ids = sandbox.seed(260)
    journal = str(tmp_path / "run.db")
    code, _, err = await run_cli(
        "enrich", str(jsonl(tmp_path / "first.jsonl", ids[:100])), "--source", "S",
        "--journal", journal, env=env_for(sandbox),
    )  # fmt: skip
    assert code == 0, err
    sandbox.faults = Faults(latency=0.05)  # 160 more items, 4 at a time: about 2 s of work
    code, _, err = await run_cli(
        "enrich", str(jsonl(tmp_path / "all.jsonl", ids)), "--source", "S", "--journal", journal,
        "--concurrency", "4", env=env_for(sandbox),
    )  # fmt: skip
    assert code == 0, err
    first = re.search(
        r"progress: (\d+)/260 done .*, (\d+) skipped, (\d+) in flight.*eta (\d+)s", err
    )
    assert first is not None, err
    done, skipped, in_flight, eta = map(int, first.groups())
    assert (skipped, in_flight <= 4) == (100, True), err
    assert done < 260  # a line from mid-run
    # Counting the 100 nearly free skips in the rate would say "eta 0s".
    assert eta >= 1, err
    assert max(int(n) for n in re.findall(r"(\d+) in flight", err)) <= 4  # --concurrency
