"""Sharded runs (``shard=(i, n)``): n workers given the same input each take a disjoint
part, together all of it, the same part in every process and every run."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zyntro_async import (
    BulkResult,
    ConfigurationError,
    ProfileRequest,
    Progress,
    Timeout,
    ZyntroClient,
)
from zyntro_async.bulk import BulkOptions
from zyntro_async.testing import ZyntroSandbox

ADD = "addProfileToContact"


@pytest.fixture
async def sandbox() -> AsyncIterator[ZyntroSandbox]:
    async with ZyntroSandbox(seed=2024) as sb:
        yield sb


def client_for(sb: ZyntroSandbox) -> ZyntroClient:
    return ZyntroClient(
        **sb.credentials, base_url=sb.base_url, timeout=Timeout(connect=5, read=2, total=5)
    )


def mixed_requests(ids: list[str]) -> list[Any]:
    """Items with and without a caller's key, as objects and as mappings."""
    items: list[Any] = []
    for n, cid in enumerate(ids):
        payload = {"n": n, "name": f"Co {n}"}
        if n % 3 == 0:
            items.append(ProfileRequest(cid, payload, "S", key=f"k{n}"))
        elif n % 3 == 1:
            items.append(ProfileRequest(cid, payload, "S"))
        else:
            items.append({"contact_id": cid, "payload": payload, "source": "S"})
    return items


def contact_of(result: BulkResult[Any]) -> str:
    request = result.request
    return request["contact_id"] if isinstance(request, dict) else request.contact_id


async def run_shard(client: ZyntroClient, items: Any, shard: Any, **kw: Any) -> list[Any]:
    results = []
    async for result in client.bulk_add_profiles(items, shard=shard, **kw):
        results.append(result)
    return results


@pytest.mark.parametrize("n", [1, 2, 3, 5])
async def test_n_shards_of_one_input_are_disjoint_and_cover_it(
    sandbox: ZyntroSandbox, n: int
) -> None:
    ids = sandbox.seed(60)
    items = mixed_requests(ids)
    taken: list[set[str]] = []
    async with client_for(sandbox) as client:
        for i in range(n):
            run = client.bulk_add_profiles(items, shard=(i, n))
            contacts = set()
            async for result in run:
                assert result.ok, result.error
                contacts.add(contact_of(result))
            report = run.report
            assert report is not None
            assert report.total == report.succeeded == len(contacts)
            assert report.total + report.other_shards == len(items)
            taken.append(contacts)
    for i in range(n):
        for j in range(i + 1, n):
            assert not taken[i] & taken[j], (i, j)
    assert set().union(*taken) == set(ids)
    if n > 1:
        assert all(taken), "every shard of 60 items has some"
    # Together, the shards added every item exactly once.
    assert all(len(sandbox.profiles(cid)) == 1 for cid in ids)


async def test_fetch_and_enrich_runs_split_by_contact(sandbox: ZyntroSandbox) -> None:
    ids = sandbox.seed(40)

    async def enricher(details: Any) -> dict[str, Any]:
        return {"seen": details.contact.id}

    fetched: list[set[str]] = []
    enriched: list[set[str]] = []
    async with client_for(sandbox) as client:
        for i in range(3):
            got = {r.request async for r in client.bulk_fetch_contacts(ids, shard=(i, 3))}
            fetched.append(got)
            run = client.enrich_contacts(
                ids, enricher, source="E", options=BulkOptions(shard=f"{i}/3")
            )
            enriched.append({r.request async for r in run})
    for parts in (fetched, enriched):
        assert sum(len(p) for p in parts) == len(ids)
        assert set().union(*parts) == set(ids)
    assert all(len(sandbox.profiles(cid)) == 1 for cid in ids)


async def test_a_resumed_shard_takes_the_same_items_and_redoes_nothing(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    ids = sandbox.seed(90)
    items = mixed_requests(ids)
    journal = tmp_path / "shard-1.db"
    async with client_for(sandbox) as client:
        # The first run stops part-way: a crash or a deploy.
        first: list[BulkResult[Any]] = []
        async with client.bulk_add_profiles(
            items, shard=(1, 3), journal=journal, concurrency=4
        ) as run:
            async for result in run:
                first.append(result)
                if len(first) == 10:
                    break
        sent_before = sandbox.stats[ADD].requests
        resumed = await run_shard(client, items, (1, 3), journal=journal)
        sent_resumed = sandbox.stats[ADD].requests
        again = await run_shard(client, items, (1, 3), journal=journal)
    mine = {contact_of(r) for r in resumed}
    assert {contact_of(r) for r in first} <= mine
    assert {contact_of(r) for r in again} == mine
    assert all(r.ok for r in resumed)
    # The resumed run sent only what the first one had not finished...
    assert sandbox.stats[ADD].requests - sent_before <= len(mine) - sum(r.ok for r in first)
    # ...and the third run, nothing: every item of the shard is done.
    assert all(r.skipped for r in again)
    assert sandbox.stats[ADD].requests == sent_resumed
    assert all(len(sandbox.profiles(cid)) == 1 for cid in mine)
    assert all(sandbox.profiles(cid) == [] for cid in set(ids) - mine)


async def test_the_split_is_the_same_in_other_processes(sandbox: ZyntroSandbox) -> None:
    """Python's hash() is salted per process; the split must not be."""
    ids = sandbox.seed(30)
    items = mixed_requests(ids)
    async with client_for(sandbox) as client:
        here = [{contact_of(r) for r in await run_shard(client, items, (i, 3))} for i in range(3)]
    script = """
import asyncio, json, sys
from zyntro_async import ZyntroClient
from zyntro_async.testing import ZyntroSandbox
from tests.bulk.test_shards import contact_of, mixed_requests, run_shard

async def main():
    async with ZyntroSandbox(seed=2024) as sb:
        ids = sb.seed(30)
        async with ZyntroClient(**sb.credentials, base_url=sb.base_url) as client:
            items = mixed_requests(ids)
            return [sorted(contact_of(r) for r in await run_shard(client, items, (i, 3)))
                    for i in range(3)]

print(json.dumps(asyncio.run(main())))
"""
    root = Path(__file__).resolve().parents[2]
    for seed in ("1", "2", "random"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            script,
            env=env,
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        assert [set(s) for s in json.loads(out)] == here, seed


async def test_progress_and_report_count_the_shard_and_the_input(
    sandbox: ZyntroSandbox,
) -> None:
    ids = sandbox.seed(50)
    seen: list[Progress] = []
    async with client_for(sandbox) as client:
        run = client.bulk_add_profiles(mixed_requests(ids), shard=(2, 5), on_progress=seen.append)
        report = await run
    last = seen[-1]
    assert last.total == 50  # the input's length: the shard's share is not known up front
    assert last.shard == (2, 5)
    assert last.done == report.total
    assert last.other_shards == report.other_shards
    assert last.done + last.other_shards == 50
    assert 0 < report.total < 50
    assert str(last).startswith(f"shard 2/5: 50/50 items ({report.total} done")


BAD = [
    ((3, 3), "got 3/3"),
    ((5, 3), "got 5/3"),
    ((-1, 3), "got -1/3"),
    ((0, 0), "got 0/0"),
    ((1.0, 2), "1.0"),
    ((True, 2), "True"),
    ((0, 1, 2), "(0, 1, 2)"),
    ("3/0", "got 3/0"),
    ("a/b", "'a/b'"),
    ("1.5/3", "'1.5/3'"),
    ("", "''"),
    (3, "3"),
]


@pytest.mark.parametrize(("bad", "named"), BAD)
async def test_a_bad_shard_is_a_configuration_error_naming_it(
    sandbox: ZyntroSandbox, bad: Any, named: str
) -> None:
    with pytest.raises(ConfigurationError, match="shard") as raised:
        BulkOptions(shard=bad)
    assert named in str(raised.value)
    async with client_for(sandbox) as client:
        with pytest.raises(ConfigurationError) as raised:
            client.bulk_add_profiles([], shard=bad)
        assert named in str(raised.value)
    assert sandbox.stats.requests == 0


@settings(max_examples=25)
@given(
    keys=st.lists(
        st.text(min_size=1, max_size=12).filter(lambda k: not k.startswith("\x00")),
        unique=True,
        max_size=25,
    ),
    invalid=st.integers(min_value=0, max_value=3),
    n=st.integers(min_value=1, max_value=6),
)
def test_property_every_item_lands_in_exactly_one_shard_every_time(
    keys: list[str], invalid: int, n: int
) -> None:
    """Any keys (any text) and a few items no pipeline can send: across n shards each item
    is reported exactly once (the keyless unsendable ones by shard 0), and again the same
    way."""

    async def check() -> None:
        async with ZyntroSandbox(seed=7) as sb:
            (cid,) = sb.seed(1)
            items: list[Any] = [ProfileRequest(cid, {"k": k}, "S", key=k) for k in keys]
            items += [{"payload": {"bad": m}} for m in range(invalid)]  # no contact_id
            unsendable = [f"\x00bad{m}" for m in range(invalid)]  # keyed, payload not JSON
            items += [ProfileRequest(cid, {"set": {k}}, "S", key=k) for k in unsendable]
            async with client_for(sb) as client:
                split = [[r.key for r in await run_shard(client, items, (i, n))] for i in range(n)]
                again = [[r.key for r in await run_shard(client, items, (i, n))] for i in range(n)]
        flat = [key for part in split for key in part]
        assert sorted(k for k in flat if k is not None) == sorted(keys + unsendable)
        assert split[0].count(None) == invalid  # unsendable items: shard 0's failures
        assert all(part.count(None) == 0 for part in split[1:])
        assert [sorted(p, key=str) for p in again] == [sorted(p, key=str) for p in split]

    asyncio.run(check())


# Which shard owns an item must not change from one release to the next: a resumed shard's
# journal knows only the items its shard owned when it was written.
PINNED = [
    {"k4", "k5", "k7", "k12", "k15"},
    {"k6", "k8", "k9", "k11", "k16", "k17", "k18"},
    {"k0", "k1", "k2", "k3", "k10", "k13", "k14", "k19"},
]


async def test_the_split_of_known_keys_does_not_change_between_releases(
    sandbox: ZyntroSandbox,
) -> None:
    (cid,) = sandbox.seed(1)
    items = [ProfileRequest(cid, {"n": n}, "S", key=f"k{n}") for n in range(20)]
    async with client_for(sandbox) as client:
        split = [{r.key for r in await run_shard(client, items, (i, 3))} for i in range(3)]
    assert split == PINNED
