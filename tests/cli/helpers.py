"""Running the real command line in a subprocess (``python -m zyntro_async``)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any, NamedTuple

from zyntro_async.testing import ZyntroSandbox

CLI = (sys.executable, "-m", "zyntro_async")
X = "\N{MULTIPLICATION SIGN}"  # failure summaries: f"NOT_FOUND {X} 3, e.g. line 7: ..."


class Ran(NamedTuple):
    code: int
    out: str
    err: str


def clean_env() -> dict[str, str]:
    """This process's environment without any ZYNTRO_* setting."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ZYNTRO_")}


def env_for(sb: ZyntroSandbox, **overrides: str) -> dict[str, str]:
    env = clean_env()
    env.update(
        ZYNTRO_BASE_URL=sb.base_url,
        ZYNTRO_API_KEY=sb.credentials["api_key"],
        ZYNTRO_DEVELOPER_SECRET=sb.credentials["developer_secret"],
        ZYNTRO_ORG_ID=sb.credentials["org_id"],
        ZYNTRO_MEMBER_ID=sb.credentials["member_id"],
    )
    env.update(overrides)
    return env


async def run_cli(
    *args: str, env: dict[str, str], stdin: bytes | None = None, timeout: float = 60
) -> Ran:
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    assert proc.returncode is not None
    return Ran(proc.returncode, out.decode(), err.decode())


def jsonl(path: Path, ids: list[str], **extra: Any) -> Path:
    """One good line per contact id: ``{"contact_id", "payload": {"n": i}, **extra}``."""
    path.write_text(
        "".join(
            json.dumps({"contact_id": cid, "payload": {"n": n}, **extra}) + "\n"
            for n, cid in enumerate(ids)
        )
    )
    return path


def read_results(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def wait_for_lines(path: Path, n: int, proc: asyncio.subprocess.Process) -> None:
    """Until ``path`` holds ``n`` lines (a results file being written), or the process ends."""
    for _ in range(3000):
        if path.exists() and len(path.read_bytes().splitlines()) >= n:
            return
        if proc.returncode is not None:
            raise AssertionError(f"the process ended early ({proc.returncode})")
        await asyncio.sleep(0.01)
    raise AssertionError(f"{path} never reached {n} lines")
