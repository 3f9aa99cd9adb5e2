"""Test helpers shared by several test modules."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from zyntro_async import ProfileRequest, Timeout, ZyntroClient
from zyntro_async.testing import ZyntroSandbox

DOCS = Path(__file__).parent / "fixtures" / "docs"

CREDS = {
    "api_key": "zk_live_SECRET_KEY_5d1e",
    "developer_secret": "zdk_SECRET_DEV_9f3a",
    "org_id": "org-1111",
    "member_id": "member-2222",
}
BASE = "https://zyntro.example/apis/v2/public/crm/"


def doc_json(name: str) -> Any:
    return json.loads((DOCS / name).read_text())


@contextlib.contextmanager
def small_disk(where: Path, size: str = "256k") -> Iterator[Path]:
    """A real tmpfs of ``size`` mounted at ``where`` (a full disk, for real). Needs root,
    as the tests have here and in CI; elsewhere the test is skipped, saying why (and
    fails under ``CI``, where it must run)."""
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        reason = f"cannot mount a {size} tmpfs here ({done.stderr.strip()}); needs root"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


async def shut_the_loop_mid_run(sandbox: ZyntroSandbox, journal: str, *, items: int) -> None:
    """A journaled run of ``items`` adds whose event loop shuts down mid-run as Python
    3.10's ``asyncio.run()`` does on Ctrl-C, and like any loop shutdown: every task is
    cancelled at once (the script, the run, its items and the journal's writer). Then
    the same run again, to the end: every item the first run reported added is skipped,
    and every item was added exactly once."""
    ids = sandbox.seed(50)
    # A short request timeout: a shared ledger holds the keys of requests cancelled in
    # flight that long before another run may reconcile them.
    timeout = Timeout(connect=2, read=2, total=2)
    creds = {**sandbox.credentials, "base_url": sandbox.base_url, "timeout": timeout}
    requests = [ProfileRequest(ids[i % 50], {"i": i}, "S", key=f"row-{i}") for i in range(items)]
    reported: list[str] = []

    async def script() -> None:
        async with ZyntroClient(**creds) as client:
            async for result in client.bulk_add_profiles(requests, concurrency=32, journal=journal):
                assert result.ok, result.error
                reported.append(result.request.key)
                if len(reported) == items // 3:
                    for task in asyncio.all_tasks():
                        task.cancel()  # as the loop's shutdown does

    def in_its_own_loop() -> bool:
        try:
            asyncio.run(script())
        except asyncio.CancelledError:
            return True
        return False

    assert await asyncio.to_thread(in_its_own_loop)
    async with ZyntroClient(**creds) as client:
        again = [r async for r in client.bulk_add_profiles(requests, journal=journal)]
    assert all(r.ok for r in again)
    skipped = {r.request.key for r in again if r.skipped}
    assert not set(reported) - skipped
    payloads = [p["profile_payload"]["i"] for cid in ids for p in sandbox.profiles(cid)]
    assert sorted(payloads) == list(range(items))
