"""The dev sandbox: one launcher (``zyntro-async sandbox`` = ``python -m zyntro_async.testing``),
fixed credentials per seed, the seeded ids in a file, stored profiles dumped on exit."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import pytest

from tests.cli.helpers import CLI, clean_env, run_cli


async def _serve(*args: str) -> tuple[asyncio.subprocess.Process, dict[str, str]]:
    """Start a dev sandbox; return it and the ``export`` lines it printed."""
    proc = await asyncio.create_subprocess_exec(
        *args, env=clean_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    exports: dict[str, str] = {}
    while len(exports) < 5:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        assert line, "the sandbox exited early"
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").strip().partition("=")
            exports[name] = value.strip("'")
    return proc, exports


@pytest.mark.slow
async def test_one_launcher_fixed_credentials_ids_file_and_profile_dump(tmp_path: Path) -> None:
    ids_file, dump = tmp_path / "ids.txt", tmp_path / "profiles.json"
    flags = ("--contacts", "3", "--seed", "5")
    (first, env), (second, again) = await asyncio.gather(
        _serve(
            sys.executable, "-m", "zyntro_async.testing", *flags,
            "--ids-file", str(ids_file), "--dump-profiles", str(dump),
        ),
        _serve(*CLI, "sandbox", *flags),
    )  # fmt: skip
    second.send_signal(signal.SIGINT)
    try:
        # Same seed, same credentials (a .env survives restarts); only the port differs.
        assert {k: v for k, v in env.items() if k != "ZYNTRO_BASE_URL"} == {
            k: v for k, v in again.items() if k != "ZYNTRO_BASE_URL"
        }
        ids = ids_file.read_text().split()
        assert len(ids) == 3
        source = tmp_path / "in.jsonl"
        source.write_text(
            "".join(json.dumps({"contact_id": c, "payload": {"c": c}}) + "\n" for c in ids)
        )
        code, _, err = await run_cli("enrich", str(source), "--source", "S", env=clean_env() | env)
        assert code == 0, err
    finally:
        first.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(first.communicate(), 10)
    assert first.returncode == 0, err  # a signal is how a dev server is stopped
    assert await asyncio.wait_for(second.wait(), 10) == 0
    stored = json.loads(dump.read_text())
    assert sorted(stored) == sorted(ids)
    for cid in ids:
        assert [(p["profile_source"], p["profile_payload"]) for p in stored[cid]] == [
            ("S", {"c": cid})
        ]
    assert f"profiles written to {dump}" in err.decode()
