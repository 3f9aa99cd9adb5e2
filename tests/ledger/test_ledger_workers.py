"""Several worker processes on one PostgreSQL ledger, against the sandbox: together they do
every item, and no item is ever added twice -- also when one is SIGKILLed mid-run: the
survivor takes its items over after their lease plus the request timeout and reconciles
them."""

from __future__ import annotations

from pathlib import Path

import pytest

from zyntro_async.testing import Faults, ZyntroSandbox

from ._workers import finish, kill_all, kill_trials, results, setup, start


async def test_two_workers_with_one_input_add_each_item_once(pg_url: str, tmp_path: Path) -> None:
    async with ZyntroSandbox(seed=3, faults=Faults(latency=0.01)) as sb:
        ids, path, url = setup(sb, tmp_path, 200, pg_url)
        outs = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
        workers = [await start(sb, url, path, out, "add", "8") for out in outs]
        try:
            for proc in workers:
                await finish(proc)
        finally:
            await kill_all(workers)
        a, b = (results(out) for out in outs)
        assert len(a) == len(b) == len(ids)
        for cid in ids:
            assert len(sb.profiles(cid)) == 1, cid  # never twice, never lost
        assert all(r["ok"] for r in a + b), [r for r in a + b if not r["ok"]][:5]
        added = [r["key"] for r in a + b if not r["skipped"]]
        assert sorted(added) == sorted(ids)  # each added by exactly one; the other skipped it
        assert sb.stats.add_profile_to_contact.successes == len(ids)


@pytest.mark.slow
async def test_a_killed_workers_items_are_taken_over_after_its_lease(
    pg_url: str, tmp_path: Path
) -> None:
    await kill_trials(
        pg_url, tmp_path, mode="add", trials=5, contacts=300, seed=10, kill_after=(20, 120)
    )
