"""The bulk engine through the public API: laziness, accounting, stop policies, cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from zyntro_async import ConfigurationError, ErrorRate, ProfileRequest, Progress, ZyntroClient
from zyntro_async.testing import Faults, ZyntroSandbox

MISSING = "00000000-0000-4000-8000-000000000000"  # no such contact: NOT_FOUND


@pytest.fixture
async def sandbox() -> AsyncIterator[ZyntroSandbox]:
    async with ZyntroSandbox(seed=7) as sb:
        sb.seed(50)
        yield sb


@pytest.fixture
async def client(sandbox: ZyntroSandbox) -> AsyncIterator[ZyntroClient]:
    async with ZyntroClient(**sandbox.credentials, base_url=sandbox.base_url) as c:
        yield c


def ids_of(sandbox: ZyntroSandbox) -> list[str]:
    from zyntro_async.testing import seeded_contact_ids

    return seeded_contact_ids(sandbox.random_seed, 50)


async def test_a_100000_item_generator_is_not_drained_ahead_of_the_run(
    sandbox: ZyntroSandbox, client: ZyntroClient
) -> None:
    ids = ids_of(sandbox)
    pulled = 0

    def items() -> Iterator[str]:
        nonlocal pulled
        for n in range(100_000):
            pulled += 1
            yield ids[n % len(ids)]

    seen = 0
    async with client.bulk_fetch_contacts(items(), concurrency=16) as run:
        async for result in run:
            assert result.ok
            seen += 1
            # The engine holds at most 8 x concurrency items (in flight, sleeping, unread).
            assert pulled <= seen + 8 * 16 + 1
            if seen == 500:
                break
    assert pulled <= 500 + 8 * 16 + 1
    assert run.report is not None
    assert run.report.stopped == "cancelled"
    assert run.report.total >= 500


async def test_an_add_without_a_journal_is_taken_only_when_a_slot_can_send_it(
    sandbox: ZyntroSandbox, client: ZyntroClient
) -> None:
    sandbox.faults = Faults(latency=0.01)
    ids = ids_of(sandbox)
    ahead: list[int] = []  # at each pull: items taken before it and not yet answered

    def items() -> Iterator[ProfileRequest]:
        for n in range(60):
            stats = sandbox.stats
            ahead.append(n - (stats.requests - stats.in_flight))
            yield ProfileRequest(ids[n % len(ids)], {"n": n}, "engine-test")

    report = await client.bulk_add_profiles(items(), concurrency=8)
    assert report.succeeded == 60
    # Its first act is its request: one item ready beyond the 8 slots, none waiting idle.
    assert max(ahead) <= 8


async def test_await_consumes_everything_and_reports(
    sandbox: ZyntroSandbox, client: ZyntroClient
) -> None:
    ids = ids_of(sandbox) * 6
    report = await client.bulk_fetch_contacts(ids, concurrency=8)
    assert (report.total, report.succeeded, report.failed, report.skipped) == (300, 300, 0, 0)
    assert report.retries == 0
    assert report.stopped is None
    assert sandbox.stats["fetchContact"].requests == 300


async def test_async_iterable_input_and_every_item_exactly_once(
    sandbox: ZyntroSandbox, client: ZyntroClient
) -> None:
    ids = ids_of(sandbox)

    async def items() -> AsyncIterator[str]:
        for cid in ids:
            await asyncio.sleep(0)
            yield cid

    results = [r async for r in client.bulk_fetch_contacts(items(), concurrency=8)]
    assert sorted(r.request for r in results) == sorted(ids)
    assert all(r.ok and r.value is not None and r.value.contact.id == r.request for r in results)


async def test_fail_fast_stops_taking_input(sandbox: ZyntroSandbox, client: ZyntroClient) -> None:
    ids = ids_of(sandbox)
    items = [*ids[:10], MISSING, *ids[10:]] * 4
    report = await client.bulk_fetch_contacts(items, concurrency=2, on_failure="fail_fast")
    assert report.stopped is not None
    assert report.stopped.startswith("fail_fast")
    assert report.failed >= 1
    assert report.total < len(items)


async def test_error_rate_stops_after_its_minimum(
    sandbox: ZyntroSandbox, client: ZyntroClient
) -> None:
    ids = ids_of(sandbox)
    items = [x for cid in ids for x in (cid, MISSING)] * 4  # half fail, never 25 in a row
    report = await client.bulk_fetch_contacts(
        items, concurrency=4, on_failure=ErrorRate(0.3, min_items=20)
    )
    assert report.stopped is not None
    assert "error rate" in report.stopped
    assert 20 <= report.total < len(items)


async def test_the_same_error_for_the_first_items_stops_the_run(client: ZyntroClient) -> None:
    items = [MISSING] * 400
    report = await client.bulk_fetch_contacts(items, concurrency=4)
    assert report.stopped is not None
    assert "NOT_FOUND" in report.stopped
    assert report.total < 100  # the rest were never taken


async def test_one_success_first_lets_a_run_of_the_same_error_go_on(
    sandbox: ZyntroSandbox, client: ZyntroClient
) -> None:
    items = [ids_of(sandbox)[0], *[MISSING] * 60]  # one at a time: the success ends first
    report = await client.bulk_fetch_contacts(items, concurrency=1)
    assert report.stopped is None
    assert (report.total, report.succeeded, report.failed) == (61, 1, 60)


async def test_an_input_iterator_error_is_raised_after_in_flight_items_finish(
    sandbox: ZyntroSandbox, client: ZyntroClient
) -> None:
    ids = ids_of(sandbox)

    def items() -> Iterator[str]:
        yield from ids[:20]
        raise KeyError("broken input")

    run = client.bulk_fetch_contacts(items(), concurrency=4)
    with pytest.raises(KeyError, match="broken input"):
        await run
    assert run.report is not None
    assert run.report.total == run.report.succeeded == 20
    assert run.report.stopped == "the input raised KeyError"


async def test_cancelling_the_consumer_ends_the_run(
    sandbox: ZyntroSandbox, client: ZyntroClient
) -> None:
    ids = ids_of(sandbox) * 100
    run = client.bulk_fetch_contacts(ids, concurrency=8)
    seen = 0

    async def consume() -> None:
        nonlocal seen
        async for _ in run:
            seen += 1
            if seen == 50:
                asyncio.current_task().cancel()  # type: ignore[union-attr]

    with pytest.raises(asyncio.CancelledError):
        await consume()
    assert run.report is not None
    assert run.report.stopped == "cancelled"
    assert run.report.total < len(ids)


async def test_progress_reports_and_a_broken_callback_does_not_kill_the_run(
    sandbox: ZyntroSandbox, client: ZyntroClient
) -> None:
    seen: list[Progress] = []

    def on_progress(p: Progress) -> None:
        seen.append(p)
        raise RuntimeError("callback bug")

    report = await client.bulk_fetch_contacts(ids_of(sandbox) * 4, on_progress=on_progress)
    assert report.succeeded == 200
    assert len(seen) == 1  # the first call broke; reports stop, the run goes on
    assert seen[0].in_flight <= 64


async def test_bad_arguments_are_typed_errors(client: ZyntroClient) -> None:
    with pytest.raises(ConfigurationError):
        client.bulk_fetch_contacts([], concurrency=0)
    with pytest.raises(ConfigurationError):
        client.bulk_fetch_contacts([], max_per_second=0)
    with pytest.raises(ConfigurationError):
        client.bulk_fetch_contacts([], max_per_second=float("nan"))
    with pytest.raises(ConfigurationError):
        client.bulk_fetch_contacts([], retry_budget=-1)
    with pytest.raises(ConfigurationError):
        client.bulk_fetch_contacts([], on_failure="sometimes")  # type: ignore[arg-type]


async def test_a_run_closed_before_it_starts_reports_nothing_done(client: ZyntroClient) -> None:
    run: Any = client.bulk_fetch_contacts(["x"] * 10)
    await run.aclose()
    assert run.report is not None
    assert run.report.total == 0
    assert run.report.stopped is not None
