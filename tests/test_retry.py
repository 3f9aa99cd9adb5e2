"""Retries: the classification table, backoff and Retry-After (with faked time), and the
reconcile-before-resend rule that keeps addProfileToContact from duplicating a record."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses

from tests.helpers import BASE, CREDS, doc_json
from zyntro_async import (
    APIConnectionError,
    APIError,
    BulkResult,
    ContactDetails,
    NotFoundError,
    Profile,
    ProfileRequest,
    RateLimitError,
    RetryPolicy,
    ServerError,
    ValidationError,
    ZyntroClient,
    _attempts,
)
from zyntro_async.errors import (
    ClientClosedError,
    ConnectError,
    ConnectTimeout,
    DisconnectedError,
    ReadTimeout,
    TLSError,
)
from zyntro_async.retries import DEFAULT_RULES, FailureKind, Rule
from zyntro_async.testing import Fault, Faults, ZyntroSandbox, set_testing

FETCH = BASE + "fetchContact"
ADD = BASE + "addProfileToContact"
PAYLOAD = {"job_title": "VP of Marketing", "linkedin_url": "https://linkedin.com/in/janesmith"}
SOURCE = "LinkedIn Scraper"
HTML_502 = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


def contact_with_profiles(*records: dict[str, Any]) -> dict[str, Any]:
    answer = doc_json("fetchContact_response_success.json")
    answer["data"]["contact_profile"] = list(records)
    return answer


def created(profile_id: int = 142) -> dict[str, Any]:
    return {
        "data": {"profile_id": profile_id, "profile_source": SOURCE, "profile_payload": PAYLOAD},
        "status": "success",
    }


@pytest.fixture
def mocked() -> Iterator[aioresponses]:
    with aioresponses() as m:
        yield m


@pytest.fixture
async def client() -> AsyncIterator[ZyntroClient]:
    async with ZyntroClient(**CREDS, base_url=BASE) as c:
        yield c


@pytest.fixture
async def sb() -> AsyncIterator[ZyntroSandbox]:
    async with ZyntroSandbox() as sandbox:
        yield sandbox


def sandbox_client(sb: ZyntroSandbox, **kwargs: Any) -> ZyntroClient:
    return ZyntroClient(**sb.credentials, base_url=sb.base_url, **kwargs)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Fake time: record the sleeps the retry loop asks for, without sleeping."""
    set_testing(False)
    recorded: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        recorded.append(seconds)

    monkeypatch.setattr(_attempts, "_sleep", fake_sleep)
    return recorded


def count(mocked: aioresponses, url: str) -> int:
    return sum(len(calls) for (_, u), calls in mocked.requests.items() if str(u) == url)


# -- the classification table -------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (ConnectError("refused"), FailureKind.NOT_SENT),
        (ConnectTimeout("pool"), FailureKind.NOT_SENT),
        (TLSError("bad cert"), FailureKind.FATAL),
        (RateLimitError("429"), FailureKind.REFUSED),
        (ServerError("503", status=503), FailureKind.REFUSED),
        (ServerError("500", status=500), FailureKind.AMBIGUOUS),
        (ServerError("502", status=502), FailureKind.AMBIGUOUS),
        (ServerError("504", status=504), FailureKind.AMBIGUOUS),
        (ServerError("html on 200", status=200), FailureKind.AMBIGUOUS),
        (ServerError("404", status=404), FailureKind.FATAL),
        (ServerError("301", status=301), FailureKind.FATAL),
        (ReadTimeout("slow"), FailureKind.AMBIGUOUS),
        (DisconnectedError("dropped"), FailureKind.AMBIGUOUS),
        (NotFoundError(["No such contact"], code="NOT_FOUND"), FailureKind.FATAL),
        (APIError(["Database on fire"]), FailureKind.FATAL),
        (ClientClosedError("closed"), FailureKind.FATAL),
        (ServerError("413", status=413), FailureKind.FATAL),
        (ServerError("501", status=501), FailureKind.AMBIGUOUS),
        # Nothing proves these did not reach the server: ambiguous by default.
        (APIConnectionError("other"), FailureKind.AMBIGUOUS),
        (KeyError("not ours"), FailureKind.AMBIGUOUS),
        (asyncio.CancelledError(), FailureKind.FATAL),
    ],
)
def test_classification_table(error: BaseException, kind: FailureKind) -> None:
    assert RetryPolicy().classify(error) is kind
    assert kind.retryable is (kind is not FailureKind.FATAL)


def test_the_table_can_be_extended() -> None:
    class ProxyHiccup(APIConnectionError):
        pass

    policy = RetryPolicy(rules=(Rule(ProxyHiccup, FailureKind.NOT_SENT), *DEFAULT_RULES))
    assert policy.classify(ProxyHiccup("x")) is FailureKind.NOT_SENT
    never = RetryPolicy(rules=(Rule(ProxyHiccup, FailureKind.FATAL), *DEFAULT_RULES))
    assert never.classify(ProxyHiccup("x")) is FailureKind.FATAL


def test_policy_validates() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="on_ambiguous"):
        RetryPolicy(on_ambiguous="sometimes")  # type: ignore[arg-type]


async def add_once(client: ZyntroClient) -> BulkResult[Profile]:
    """One add, with what it took (attempts, recovered, unknown) as a bulk result says."""
    (result,) = [
        r async for r in client.bulk_add_profiles([ProfileRequest("a1b2", PAYLOAD, SOURCE)])
    ]
    return result


async def fetch_once(client: ZyntroClient) -> BulkResult[ContactDetails]:
    (result,) = [r async for r in client.bulk_fetch_contacts(["a1b2"])]
    return result


# -- reads --------------------------------------------------------------------------------


async def test_500_500_200_succeeds(sb: ZyntroSandbox) -> None:
    cid = sb.add_contact(first_name="Jane")
    sb.script("fetchContact", Fault.SERVER_ERROR, Fault.SERVER_ERROR)
    async with sandbox_client(sb) as client:
        (result,) = [r async for r in client.bulk_fetch_contacts([cid])]
    assert result.value is not None
    assert result.value.contact.first_name == "Jane"
    assert result.attempts == 3
    assert result.retries == 2
    assert sb.stats.fetch_contact.requests == 3


async def test_429_waits_for_retry_after(
    client: ZyntroClient, mocked: aioresponses, sleeps: list[float]
) -> None:
    mocked.post(FETCH, status=429, headers={"Retry-After": "4"})
    mocked.post(FETCH, payload=doc_json("fetchContact_response_success.json"))
    await client.fetch_contact("a1b2")
    assert sleeps == [4.0]


async def test_backoff_is_full_jitter_within_the_cap(
    mocked: aioresponses, sleeps: list[float]
) -> None:
    policy = RetryPolicy(max_attempts=5, initial_backoff=0.5, max_backoff=1.5, deadline=None)
    async with ZyntroClient(**CREDS, base_url=BASE, retry=policy) as client:
        for _ in range(4):
            mocked.post(FETCH, status=500)
        mocked.post(FETCH, payload=doc_json("fetchContact_response_success.json"))
        await client.fetch_contact("a1b2")
    assert len(sleeps) == 4
    caps = [0.5, 1.0, 1.5, 1.5]
    assert all(0 <= s <= cap for s, cap in zip(sleeps, caps, strict=True))


async def test_an_add_with_no_answer_settles_before_it_looks(
    mocked: aioresponses, sleeps: list[float]
) -> None:
    policy = RetryPolicy(initial_backoff=0.01, settle_delay=0.3, deadline=None)
    async with ZyntroClient(**CREDS, base_url=BASE, retry=policy) as client:
        mocked.post(ADD, exception=aiohttp.ServerDisconnectedError())
        mocked.post(FETCH, payload=contact_with_profiles())
        mocked.post(ADD, payload=created(150))
        assert (await client.add_profile_to_contact("a1b2", PAYLOAD, SOURCE)).id == 150
        mocked.post(ADD, status=500, body="boom")
        mocked.post(FETCH, payload=contact_with_profiles())
        mocked.post(ADD, payload=created(151))
        assert (await client.add_profile_to_contact("a1b2", PAYLOAD, SOURCE)).id == 151
    # No answer: the server may still be working on the lost add, so wait before looking.
    assert sleeps[0] >= 0.3
    # The API answered 500: it is done with the request, the ordinary backoff applies.
    assert sleeps[1] <= 0.01


async def test_retry_after_beyond_the_deadline_raises_at_once(
    mocked: aioresponses, sleeps: list[float]
) -> None:
    policy = RetryPolicy(deadline=10)
    async with ZyntroClient(**CREDS, base_url=BASE, retry=policy) as client:
        mocked.post(FETCH, status=429, headers={"Retry-After": "3600"})
        with pytest.raises(RateLimitError) as info:
            await client.fetch_contact("a1b2")
    assert info.value.retry_after == 3600
    assert sleeps == []
    assert count(mocked, FETCH) == 1


async def test_html_502_raises_server_error_after_the_attempts(sb: ZyntroSandbox) -> None:
    sb.script("fetchContact", *[Fault.BAD_GATEWAY_HTML] * 3)
    async with sandbox_client(sb) as client:
        with pytest.raises(ServerError) as info:
            await client.fetch_contact(sb.add_contact())
    assert info.value.status == 502
    assert "text/html" in str(info.value)
    assert sb.stats.fetch_contact.requests == 3


async def test_html_on_a_200_is_retried_as_ambiguous(
    client: ZyntroClient, mocked: aioresponses
) -> None:
    mocked.post(FETCH, status=200, body=HTML_502, content_type="text/html")
    mocked.post(FETCH, payload=doc_json("fetchContact_response_success.json"))
    details = await client.fetch_contact("a1b2")
    assert details.contact.last_name == "Smith"


async def test_api_errors_are_never_retried(sb: ZyntroSandbox) -> None:
    wrong = {**sb.credentials, "api_key": "zk_test_unknown"}
    async with ZyntroClient(**wrong, base_url=sb.base_url) as client:
        with pytest.raises(APIError) as info:
            await client.fetch_contact(sb.add_contact())
    assert info.value.code == "INVALID_API_KEY"
    assert sb.stats.fetch_contact.requests == 1


async def test_retry_none_and_one_attempt_disable(sb: ZyntroSandbox) -> None:
    for retry in (None, RetryPolicy(max_attempts=1)):
        sb.script("fetchContact", Fault.UNAVAILABLE)
        async with sandbox_client(sb, retry=retry) as client:
            with pytest.raises(ServerError):
                await client.fetch_contact(sb.add_contact())
    assert sb.stats.fetch_contact.requests == 2


async def test_each_retry_logs_a_warning_without_secrets_or_payload(
    client: ZyntroClient, mocked: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="zyntro_async")
    mocked.post(
        ADD,
        exception=aiohttp.ClientConnectorError(
            aiohttp.client_reqrep.ConnectionKey("h", 443, True, True, None, None, None),
            OSError(111, "Connection refused"),
        ),
    )
    mocked.post(ADD, payload=created())
    await client.add_profile_to_contact("a1b2", PAYLOAD, SOURCE)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    text = warnings[0].getMessage()
    assert "addProfileToContact" in text
    assert "attempt 1" in text
    assert "CONNECT_ERROR" in text
    everything = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (CREDS["api_key"], CREDS["developer_secret"], PAYLOAD["job_title"]):
        assert secret not in everything


# -- adds: never a second record ----------------------------------------------------------


async def test_not_sent_add_is_retried_without_reconciling(
    client: ZyntroClient, mocked: aioresponses
) -> None:
    mocked.post(ADD, exception=aiohttp.ConnectionTimeoutError("pool"))
    mocked.post(ADD, payload=created())
    stats = await add_once(client)
    profile = stats.value
    assert profile is not None
    assert profile.id == 142
    assert stats.attempts == 2
    assert not stats.recovered
    assert count(mocked, FETCH) == 0


async def test_disconnect_after_commit_returns_the_committed_record(sb: ZyntroSandbox) -> None:
    cid = sb.add_contact()
    sb.script("addProfileToContact", Fault.DROP_AFTER_COMMIT)  # stored, then no answer
    async with sandbox_client(sb) as client:
        (result,) = [
            r async for r in client.bulk_add_profiles([ProfileRequest(cid, PAYLOAD, SOURCE)])
        ]
    (stored,) = sb.profiles(cid)
    assert result.value is not None
    assert result.value.id == stored["profile_id"]
    assert result.recovered
    assert sb.stats.add_profile_to_contact.requests == 1  # never re-sent
    (fetch,) = [r for r in sb.requests if r.endpoint == "fetchContact"]
    assert fetch.body["include_profile"] == 1


async def test_ambiguous_add_not_applied_is_sent_again(sb: ZyntroSandbox) -> None:
    cid = sb.add_contact()
    sb.script("addProfileToContact", Fault.SERVER_ERROR)  # a 500 before anything was stored
    async with sandbox_client(sb) as client:
        (result,) = [
            r async for r in client.bulk_add_profiles([ProfileRequest(cid, PAYLOAD, SOURCE)])
        ]
    (stored,) = sb.profiles(cid)
    assert result.value is not None
    assert result.value.id == stored["profile_id"]
    assert not result.recovered
    assert sb.stats.add_profile_to_contact.requests == 2
    assert sb.stats.fetch_contact.requests == 1  # looked before sending again


async def test_an_add_whose_looks_failed_is_sent_again_once_a_look_shows_it_absent(
    sb: ZyntroSandbox,
) -> None:
    """The attempts run out on failed looks (they do not use up the add's sends); the
    add goes on looking, sees it was not applied, and is sent again, once."""
    cid = sb.add_contact()
    sb.script("addProfileToContact", Fault.SERVER_ERROR)  # a 500 before anything was stored
    sb.script("fetchContact", Fault.SERVER_ERROR, Fault.SERVER_ERROR)  # two looks fail
    async with sandbox_client(sb, retry=RetryPolicy(max_attempts=2)) as client:
        profile = await client.add_profile_to_contact(cid, PAYLOAD, SOURCE)
    (stored,) = sb.profiles(cid)
    assert profile.id == stored["profile_id"]
    assert sb.stats.add_profile_to_contact.requests == 2
    assert sb.stats.fetch_contact.requests == 3  # two failed looks, then the one that saw


async def test_failed_reconcile_never_resends(client: ZyntroClient, mocked: aioresponses) -> None:
    mocked.post(ADD, exception=asyncio.TimeoutError())
    # Every reconcile fetch fails to connect: the outcome stays unknown, so no re-send.
    for _ in range(20):
        mocked.post(FETCH, exception=aiohttp.ConnectionTimeoutError("down"))
    # The add keeps looking until its deadline: a short one settles the test quickly.
    with pytest.raises(ReadTimeout):
        await client.with_options(retry=RetryPolicy(deadline=1.0)).add_profile_to_contact(
            "a1b2", PAYLOAD, SOURCE
        )
    assert count(mocked, ADD) == 1


async def test_on_ambiguous_raise_gives_the_caller_the_ambiguity(sb: ZyntroSandbox) -> None:
    cid = sb.add_contact()
    sb.script("addProfileToContact", Fault.DROP_AFTER_COMMIT)
    async with sandbox_client(sb, retry=RetryPolicy(on_ambiguous="raise")) as client:
        with pytest.raises(DisconnectedError):
            await client.add_profile_to_contact(cid, PAYLOAD, SOURCE)
    assert len(sb.profiles(cid)) == 1  # it was applied: the caller has to find out
    assert sb.stats.add_profile_to_contact.requests == 1
    assert sb.stats.fetch_contact.requests == 0


async def test_on_ambiguous_retry_resends_blindly(sb: ZyntroSandbox) -> None:
    cid = sb.add_contact()
    sb.script("addProfileToContact", Fault.DROP_AFTER_COMMIT)
    async with sandbox_client(sb, retry=RetryPolicy(on_ambiguous="retry")) as client:
        await client.add_profile_to_contact(cid, PAYLOAD, SOURCE)
    assert len(sb.profiles(cid)) == 2  # the price of not looking: a duplicate
    assert sb.stats.add_profile_to_contact.requests == 2
    assert sb.stats.fetch_contact.requests == 0


async def test_add_validation_error_is_raised_at_once(
    client: ZyntroClient, mocked: aioresponses
) -> None:
    mocked.post(
        ADD,
        payload={
            "data": [
                "Profile payload must be a valid array. "
                "The key/value pairing can be anything you like."
            ],
            "status": "error",
        },
    )
    with pytest.raises(ValidationError) as info:
        await client.add_profile_to_contact("a1b2", PAYLOAD, SOURCE)
    assert info.value.code == "INVALID_PAYLOAD"
    assert count(mocked, ADD) == 1


async def test_concurrent_calls_keep_their_own_retry_state(sb: ZyntroSandbox) -> None:
    ids = sb.seed(10)
    # Scripted answers are served in arrival order, so interleaved calls share the failures.
    sb.script("fetchContact", *[Fault.UNAVAILABLE] * 10)
    async with sandbox_client(sb) as client:
        results = [r async for r in client.bulk_fetch_contacts(ids, concurrency=10)]
    assert all(r.ok for r in results)
    assert sum(r.attempts for r in results) == 20
    assert all(1 <= r.attempts <= 3 for r in results)


async def test_out_of_attempts_a_last_reconcile_finds_the_record(
    client: ZyntroClient, mocked: aioresponses
) -> None:
    # add fails ambiguously, reconcile finds nothing, re-send fails ambiguously, ...
    for _ in range(3):
        mocked.post(ADD, exception=aiohttp.ServerDisconnectedError())
    mocked.post(FETCH, payload=contact_with_profiles())
    mocked.post(FETCH, payload=contact_with_profiles())
    # ... and the last reconcile, after the attempts ran out, sees the third one landed.
    mocked.post(
        FETCH,
        payload=contact_with_profiles(
            {"profile_id": 150, "profile_source": SOURCE, "profile_payload": PAYLOAD}
        ),
    )
    stats = await add_once(client)
    profile = stats.value
    assert profile is not None
    assert profile.id == 150
    assert stats.recovered
    assert not stats.unknown
    assert count(mocked, ADD) == 3


async def test_a_reported_failure_means_not_applied(sb: ZyntroSandbox) -> None:
    cid = sb.add_contact()
    sb.script("addProfileToContact", *[Fault.BAD_GATEWAY_HTML] * 3)
    async with sandbox_client(sb) as client:
        (result,) = [
            r async for r in client.bulk_add_profiles([ProfileRequest(cid, PAYLOAD, SOURCE)])
        ]
    assert isinstance(result.error, ServerError)
    assert not result.unknown  # the last reconcile proved it was not applied
    assert not result.recovered
    assert sb.profiles(cid) == []


async def test_unknown_only_when_reconciling_is_impossible(sb: ZyntroSandbox) -> None:
    cid = sb.add_contact()
    sb.script("addProfileToContact", Fault.DROP_AFTER_COMMIT)
    sb.faults = Faults(server_error=1.0, endpoints="fetchContact")  # no look ever succeeds
    async with sandbox_client(sb, retry=RetryPolicy(deadline=1.0)) as client:
        (result,) = [
            r async for r in client.bulk_add_profiles([ProfileRequest(cid, PAYLOAD, SOURCE)])
        ]
    assert isinstance(result.error, DisconnectedError)
    assert result.unknown
    assert len(sb.profiles(cid)) == 1  # it was applied; the client could not know
    assert sb.stats.add_profile_to_contact.requests == 1
