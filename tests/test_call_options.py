"""Per-call options: ``timeout=`` and ``retry=`` on every call, ``with_options()`` clients that
share the pool, and the bulk entry points' one shared set of run options -- all through the
public API, against the sandbox."""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import attrs
import pytest

from zyntro_async import (
    APITimeoutError,
    BulkOptions,
    ConfigurationError,
    ErrorRate,
    Limits,
    ProfileRequest,
    Progress,
    RetryPolicy,
    ServerError,
    Timeout,
    ZyntroClient,
)
from zyntro_async.errors import ClientClosedError, ReadTimeout
from zyntro_async.testing import Fault, Faults, ZyntroSandbox

SLOW = Timeout(connect=5, read=5, total=5)


@pytest.fixture
async def sandbox() -> AsyncIterator[ZyntroSandbox]:
    async with ZyntroSandbox(seed=21) as sb:
        yield sb


def client_for(sb: ZyntroSandbox, **kwargs: Any) -> ZyntroClient:
    kwargs.setdefault("timeout", SLOW)
    return ZyntroClient(**sb.credentials, base_url=sb.base_url, **kwargs)


# -- timeout= and retry= on one call --------------------------------------------------------------


async def test_a_per_call_read_timeout_applies_with_the_pools_total(
    sandbox: ZyntroSandbox,
) -> None:
    cid = sandbox.add_contact(first_name="Jane")
    sandbox.faults = Faults(latency=0.4)
    async with client_for(sandbox) as client:
        with pytest.raises(ReadTimeout):
            await client.fetch_contact(
                cid, timeout=Timeout(connect=5, read=0.1, total=5), retry=None
            )
        quick = client.with_options(timeout=Timeout(connect=5, read=0.1, total=5), retry=None)
        with pytest.raises(ReadTimeout):
            await quick.fetch_contact(cid)
        details = await client.fetch_contact(cid)  # the client's own read=5 s
    assert details.contact.id == cid


async def test_a_per_call_timeout_bounds_that_call_only(sandbox: ZyntroSandbox) -> None:
    cid = sandbox.add_contact(first_name="Jane")
    sandbox.faults = Faults(latency=0.4)
    async with client_for(sandbox) as client:
        started = time.monotonic()
        with pytest.raises(APITimeoutError) as info:
            await client.fetch_contact(cid, timeout=0.1, retry=None)
        assert time.monotonic() - started < 0.35
        assert isinstance(info.value, ReadTimeout)
        details = await client.fetch_contact(cid)  # the client's own 5 s
        assert details.contact.id == cid
        assert client.timeout == SLOW


async def test_a_per_call_timeout_takes_a_timeout_object(sandbox: ZyntroSandbox) -> None:
    cid = sandbox.add_contact(first_name="Jane")
    sandbox.faults = Faults(latency=0.4)
    async with client_for(sandbox) as client:
        with pytest.raises(APITimeoutError):
            await client.fetch_contact(cid, timeout=Timeout(connect=5, read=5, total=0.1))


async def test_per_call_retry_none_is_one_attempt(sandbox: ZyntroSandbox) -> None:
    cid = sandbox.add_contact(first_name="Jane")
    async with client_for(sandbox) as client:
        sandbox.script("fetchContact", Fault.SERVER_ERROR)
        with pytest.raises(ServerError):
            await client.fetch_contact(cid, retry=None)
        sandbox.script("fetchContact", Fault.SERVER_ERROR)
        assert (await client.fetch_contact(cid)).contact.id == cid  # the client's retries
    assert sandbox.stats["fetchContact"].requests == 3


async def test_per_call_retry_policy_is_used(sandbox: ZyntroSandbox) -> None:
    cid = sandbox.add_contact(first_name="Jane")
    sandbox.script("fetchContact", *[Fault.SERVER_ERROR] * 4)
    async with client_for(sandbox, retry=None) as client:
        details = await client.fetch_contact(cid, retry=RetryPolicy(max_attempts=5))
    assert details.contact.id == cid
    assert sandbox.stats["fetchContact"].requests == 5


async def test_an_add_with_a_short_timeout_is_still_added_exactly_once(
    sandbox: ZyntroSandbox,
) -> None:
    cid = sandbox.add_contact(first_name="Jane")
    sandbox.faults = Faults(hang_seconds=1.0)
    sandbox.script("addProfileToContact", Fault.TIMEOUT_AFTER_COMMIT)  # stored, answer lost
    async with client_for(sandbox) as client:
        profile = await client.add_profile_to_contact(cid, {"title": "VP"}, "Clearbit", timeout=0.3)
    assert [p["profile_id"] for p in sandbox.profiles(cid)] == [profile.id]


@pytest.mark.parametrize(
    "timeout",
    [
        0,
        -1.0,
        float("nan"),
        "5",
        True,
        None,
        Timeout(connect=5, read=5, total=None),  # cannot lift the client's total
    ],
)
async def test_invalid_timeouts_are_refused_before_any_request(
    sandbox: ZyntroSandbox, timeout: Any
) -> None:
    async with client_for(sandbox) as client:
        with pytest.raises(ConfigurationError):
            await client.fetch_contact("c-1", timeout=timeout)
        with pytest.raises(ConfigurationError):
            client.with_options(timeout=timeout)
    assert sandbox.stats.requests == 0


async def test_invalid_retry_is_refused(sandbox: ZyntroSandbox) -> None:
    async with client_for(sandbox) as client:
        with pytest.raises(ConfigurationError):
            await client.fetch_contact("c-1", retry=3)  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError):
            client.with_options(retry="often")  # type: ignore[arg-type]


# -- with_options ---------------------------------------------------------------------------------


async def test_with_options_differs_only_in_timeout_and_retry(sandbox: ZyntroSandbox) -> None:
    policy = RetryPolicy(max_attempts=7)
    async with client_for(sandbox, limits=Limits(max_connections=8)) as client:
        quick = client.with_options(timeout=0.5, retry=policy)
        assert quick.timeout == Timeout(connect=5, read=5, total=0.5)
        assert quick.retry is policy
        assert (quick.base_url, quick.limits, repr(quick)) == (
            client.base_url,
            client.limits,
            repr(client),
        )
        assert client.timeout == SLOW  # the original is untouched
        assert client.retry == RetryPolicy()
        assert client.with_options(retry=None).retry is None
        assert client.with_options().timeout == SLOW


async def test_a_derived_client_works_and_its_close_leaves_the_pool_open(
    sandbox: ZyntroSandbox,
) -> None:
    cid = sandbox.add_contact(first_name="Jane")
    async with client_for(sandbox) as client:
        async with client.with_options(retry=None) as derived:
            assert (await derived.fetch_contact(cid)).contact.id == cid
        assert derived.closed
        with pytest.raises(ClientClosedError):
            await derived.fetch_contact(cid)
        assert not client.closed
        assert (await client.fetch_contact(cid)).contact.id == cid  # the pool is still open
        other = client.with_options(timeout=2)
        assert (await other.fetch_contact(cid)).contact.id == cid
    # Closing the owner closes the pool for every client derived from it.
    assert client.closed
    assert other.closed
    with pytest.raises(ClientClosedError):
        await other.fetch_contact(cid)


async def test_derived_clients_send_through_the_owners_session(sandbox: ZyntroSandbox) -> None:
    cid = sandbox.add_contact(first_name="Jane")
    started: list[str] = []

    async def on_request_start(
        _: aiohttp.ClientSession, __: Any, params: aiohttp.TraceRequestStartParams
    ) -> None:
        started.append(params.url.path.rsplit("/", 1)[-1])

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        async with client_for(sandbox, session=session) as client:
            await client.with_options(timeout=2, retry=None).fetch_contact(cid)
            await client.fetch_contact(cid, timeout=3)
            await client.with_options(retry=None).add_profile_to_contact(cid, {"a": 1}, "s")
        assert not session.closed  # a caller's session is the caller's
    assert started == ["fetchContact", "fetchContact", "addProfileToContact"]


async def test_a_derived_client_keeps_the_pools_size(
    sandbox: ZyntroSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    ids = sandbox.seed(6)
    async with client_for(sandbox, limits=Limits(max_connections=2)) as client:
        with caplog.at_level(logging.INFO, logger="zyntro_async"):
            report = await client.with_options(timeout=2).bulk_fetch_contacts(ids, concurrency=16)
    assert report.succeeded == 6
    assert "concurrency 16 lowered to the connection pool's size 2" in caplog.messages


async def test_closing_the_owner_ends_the_runs_of_derived_clients(sandbox: ZyntroSandbox) -> None:
    ids = sandbox.seed(20)
    sandbox.faults = Faults(latency=0.2)
    client = client_for(sandbox)
    run = client.with_options(retry=None).bulk_fetch_contacts(ids, concurrency=2)
    async with run:
        async for _ in run:
            await client.close()
            break
    assert run.report is not None
    assert run.report.stopped == "the client was closed"


# -- the bulk entry points share one set of run options -------------------------------------------

ENTRY_POINTS = ("bulk_add_profiles", "bulk_fetch_contacts", "enrich_contacts")


def test_the_bulk_entry_points_share_one_options_object() -> None:
    for name in ENTRY_POINTS:
        params = inspect.signature(getattr(ZyntroClient, name)).parameters
        assert params["options"].default is None, name
        assert params["run_options"].kind is inspect.Parameter.VAR_KEYWORD, name
        assert not set(params) & set(attrs.fields_dict(BulkOptions)), name  # no own copies


def test_bulk_options_defaults_and_validation() -> None:
    assert BulkOptions() == BulkOptions(
        concurrency=64,
        max_per_second=None,
        retry_budget=500,
        on_failure="continue",
        on_progress=None,
        total=None,
    )
    for bad in (
        {"concurrency": 0},
        {"concurrency": True},
        {"max_per_second": 0},
        {"retry_budget": -1},
        {"on_failure": "sometimes"},
        {"on_progress": "print"},
        {"total": -1},
    ):
        with pytest.raises(ConfigurationError):
            BulkOptions(**bad)
    with pytest.raises(TypeError):
        BulkOptions(64)  # type: ignore[misc]  # keyword-only


async def test_options_and_keyword_arguments_work_alike(sandbox: ZyntroSandbox) -> None:
    ids = sandbox.seed(5)
    seen: list[Progress] = []
    options = BulkOptions(concurrency=2, on_progress=seen.append, total=5)
    async with client_for(sandbox) as client:
        by_object = await client.bulk_fetch_contacts(ids, options=options)
        by_keywords = await client.bulk_fetch_contacts(
            ids, concurrency=2, on_progress=seen.append, total=5
        )
        # Keywords win over the options object.
        stopped = await client.bulk_fetch_contacts(
            ["missing-1", *ids], options=options, on_failure="fail_fast", concurrency=1
        )
    assert by_object.succeeded == by_keywords.succeeded == 5
    assert seen
    assert {p.total for p in seen} == {5}
    assert stopped.stopped is not None
    assert stopped.stopped.startswith("fail_fast")


async def test_every_entry_point_takes_the_options(sandbox: ZyntroSandbox) -> None:
    ids = sandbox.seed(3)
    options = BulkOptions(concurrency=2, on_failure=ErrorRate(0.5, min_items=1))

    async def enricher(_: object) -> dict[str, Any]:
        return {"score": 1}

    async with client_for(sandbox) as client:
        reports = [
            await client.bulk_add_profiles(
                [ProfileRequest(cid, {"n": 1}, "src") for cid in ids], options=options
            ),
            await client.bulk_fetch_contacts(ids, options=options),
            await client.enrich_contacts(ids, enricher, source="Enricher", options=options),
        ]
    assert [r.succeeded for r in reports] == [3, 3, 3]


async def test_an_unknown_run_option_is_a_type_error(sandbox: ZyntroSandbox) -> None:
    async with client_for(sandbox) as client:
        for name in ENTRY_POINTS:
            method = getattr(client, name)
            args: tuple[Any, ...] = ([],) if name != "enrich_contacts" else ([], None)
            kwargs: dict[str, Any] = {"source": "s"} if name == "enrich_contacts" else {}
            with pytest.raises(TypeError, match="concurency"):
                method(*args, concurency=4, **kwargs)
            with pytest.raises(ConfigurationError):
                method(*args, options={"concurrency": 4}, **kwargs)
