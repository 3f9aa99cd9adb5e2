"""A CI-sized soak: every fault kind at once; nothing lost, nothing duplicated. And the CLI
killed (SIGKILL) at several random points, resumed each time from its journal."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from zyntro_async import BulkResult, ProfileRequest, RetryPolicy, Timeout, ZyntroClient
from zyntro_async.testing import Faults, ZyntroSandbox

EVERYTHING = Faults(
    latency=0.0005,
    jitter=0.002,
    rate_limit=0.03,
    server_error=0.03,
    bad_gateway_html=0.03,
    unavailable=0.03,
    drop_after_commit=0.03,
    timeout_after_commit=0.01,
    retry_after=0.01,
    hang_seconds=1.0,
)


@pytest.mark.slow
async def test_soak_every_fault_kind_at_once(tmp_path: Path) -> None:
    async with ZyntroSandbox(seed=2026, faults=EVERYTHING) as sb:
        ids = sb.seed(3000)
        results: list[BulkResult[Any]] = []
        async with ZyntroClient(
            **sb.credentials,
            base_url=sb.base_url,
            timeout=Timeout(read=0.4),
            retry=RetryPolicy(max_attempts=4),
        ) as client:
            run = client.bulk_add_profiles(
                (ProfileRequest(cid, {"n": n}, "Soak") for n, cid in enumerate(ids)),
                concurrency=64,
                journal=tmp_path / "soak.db",
            )
            results = [r async for r in run]
        report = run.report
        assert report is not None
        assert report.total == len(results) == 3000
        assert report.succeeded + report.failed + report.skipped == 3000
        injected = sum(sb.stats.faults.values())
        assert injected > 400
        for result in results:
            held = sb.profiles(result.request.contact_id)
            assert len(held) == (1 if result.ok else 0), result
        print(
            f"soak: 3000 items, {injected} faults injected, {report.recovered} recovered, "
            f"{report.retries} retries, {report.failed} failed"
        )


SCRIPT = [sys.executable, "-m", "zyntro_async"]


@pytest.mark.slow
async def test_cli_killed_at_random_points_resumes_without_duplicates(tmp_path: Path) -> None:
    rng = random.Random(8)
    async with ZyntroSandbox(
        seed=11, faults=Faults(latency=0.004, drop_after_commit=0.03, server_error=0.02)
    ) as sb:
        ids = sb.seed(800)
        source = tmp_path / "in.jsonl"
        source.write_text(
            "".join(
                json.dumps({"contact_id": c, "payload": {"n": n}}) + "\n" for n, c in enumerate(ids)
            )
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZYNTRO_")}
        env.update(
            ZYNTRO_BASE_URL=sb.base_url,
            ZYNTRO_API_KEY=sb.credentials["api_key"],
            ZYNTRO_DEVELOPER_SECRET=sb.credentials["developer_secret"],
            ZYNTRO_ORG_ID=sb.credentials["org_id"],
            ZYNTRO_MEMBER_ID=sb.credentials["member_id"],
        )
        journal = tmp_path / "run.db"
        adds = sb.stats.add_profile_to_contact
        for attempt in range(4):
            out = tmp_path / f"out{attempt}.jsonl"
            proc = await asyncio.create_subprocess_exec(
                *SCRIPT,
                "enrich",
                str(source),
                "--source",
                "Kill",
                "--journal",
                str(journal),
                "--concurrency",
                "24",
                "--output",
                str(out),
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE if attempt == 3 else asyncio.subprocess.DEVNULL,
            )
            if attempt < 3:
                # Killed once the server has stored 20-150 more profiles from this run.
                target = adds.successes + rng.randint(20, 150)
                await sb.wait_until(
                    lambda s, n=target: s.add_profile_to_contact.successes >= n, timeout=60
                )
                assert proc.returncode is None  # 800 items: far from done
                proc.send_signal(signal.SIGKILL)
                await proc.wait()
                with contextlib.closing(sqlite3.connect(journal)) as db:  # never corrupt
                    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            else:
                _, err = await asyncio.wait_for(proc.communicate(), 120)
                code = proc.returncode
                failed = [r for r in map(json.loads, out.read_text().splitlines()) if not r["ok"]]
                assert code == 0, (failed[:5], err.decode()[-2000:])
        for cid in ids:
            assert len(sb.profiles(cid)) == 1, cid
