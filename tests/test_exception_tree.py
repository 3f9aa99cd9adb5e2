"""The exception tree users catch: each question is one ``except`` clause, through the public
API and against the sandbox -- the API said no, the server answered with a status, the
connection failed, it timed out, you passed something invalid."""

from __future__ import annotations

import inspect
import itertools
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

import zyntro_async
import zyntro_async.errors
from zyntro_async import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BulkOptions,
    ConfigurationError,
    ErrorRate,
    InvalidArgumentError,
    JournalError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    Timeout,
    ValidationError,
    ZyntroClient,
    ZyntroError,
)
from zyntro_async.errors import (
    ClientClosedError,
    ConnectError,
    ConnectTimeout,
    DisconnectedError,
    EnricherError,
    ItemError,
    JournalConflictError,
    PreviousFailure,
    ProxyError,
    ReadTimeout,
    TLSError,
)
from zyntro_async.retries import DEFAULT_RULES, FailureKind
from zyntro_async.testing import Fault, Faults, ZyntroSandbox

# -- the drawn tree, as data ------------------------------------------------------------------

#: Each group (one except clause) and exactly the exported classes it catches.
GROUPS: dict[type[ZyntroError], set[type[ZyntroError]]] = {
    APIError: {
        APIError,
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        ValidationError,
    },
    APIStatusError: {APIStatusError, RateLimitError, ServerError},
    APIConnectionError: {
        APIConnectionError,
        ConnectError,
        ProxyError,
        TLSError,
        DisconnectedError,
        APITimeoutError,
        ConnectTimeout,
        ReadTimeout,
    },
    APITimeoutError: {APITimeoutError, ConnectTimeout, ReadTimeout},
    InvalidArgumentError: {InvalidArgumentError, ConfigurationError, ValidationError},
}


def exported_errors() -> set[type[ZyntroError]]:
    """Every public error class: the whole tree, as ``zyntro_async.errors`` exports it."""
    return {
        value
        for name in zyntro_async.errors.__all__
        if inspect.isclass(value := getattr(zyntro_async.errors, name))
        and issubclass(value, BaseException)
    }


@pytest.mark.parametrize("group", list(GROUPS), ids=lambda g: g.__name__)
def test_each_question_is_one_except_clause(group: type[ZyntroError]) -> None:
    assert {cls for cls in exported_errors() if issubclass(cls, group)} == GROUPS[group]


def test_the_server_answered_the_connection_failed_and_the_api_said_no_do_not_overlap() -> None:
    for a, b in itertools.combinations((APIError, APIStatusError, APIConnectionError), 2):
        assert not ({c for c in exported_errors() if issubclass(c, a) and issubclass(c, b)})


def test_every_exported_error_is_a_zyntro_error_with_a_code() -> None:
    for cls in exported_errors():
        assert issubclass(cls, ZyntroError), cls
        assert isinstance(cls.code, str), cls
        assert cls.code, cls


def test_transport_error_still_resolves_to_the_connection_class_with_a_warning() -> None:
    with pytest.warns(DeprecationWarning, match=r"zyntro_async\.APIConnectionError"):
        old = zyntro_async.TransportError  # type: ignore[attr-defined]
    assert old is APIConnectionError
    assert old.code == "TRANSPORT_ERROR"  # the code it always had


def test_tls_is_a_connection_failure_but_not_a_connect_error() -> None:
    assert issubclass(TLSError, APIConnectionError)
    assert not issubclass(TLSError, ConnectError)


def test_local_argument_errors_are_value_errors() -> None:
    for cls in (InvalidArgumentError, ConfigurationError, ValidationError, JournalError):
        assert issubclass(cls, ValueError), cls


def test_the_module_draws_the_tree_at_its_top() -> None:
    doc = inspect.getmodule(ZyntroError).__doc__ or ""  # type: ignore[union-attr]
    for cls in exported_errors():
        assert cls.__name__ in doc, cls


# -- retries decide by the leaves; what no leaf names is ambiguous -------------------------------


def _instances() -> list[tuple[BaseException, FailureKind]]:
    return [
        (ConnectError("refused"), FailureKind.NOT_SENT),
        (ConnectTimeout("slow connect"), FailureKind.NOT_SENT),
        (TLSError("bad certificate"), FailureKind.FATAL),
        (ReadTimeout("slow answer"), FailureKind.AMBIGUOUS),
        (DisconnectedError("dropped"), FailureKind.AMBIGUOUS),
        # Sent as far as anyone can tell: ambiguous, as every failure no row names.
        (APIConnectionError("an aiohttp error nobody maps"), FailureKind.AMBIGUOUS),
        (APITimeoutError("a timeout of no known phase"), FailureKind.AMBIGUOUS),
        (RateLimitError("429", retry_after=1.0), FailureKind.REFUSED),
        (ServerError("503", status=503), FailureKind.REFUSED),
        (ServerError("500", status=500), FailureKind.AMBIGUOUS),
        (ServerError("502", status=502), FailureKind.AMBIGUOUS),
        (ServerError("504", status=504), FailureKind.AMBIGUOUS),
        (ServerError("HTML at 200", status=200), FailureKind.AMBIGUOUS),
        (ServerError("404", status=404), FailureKind.FATAL),
        (APIStatusError("418", status=418), FailureKind.FATAL),
        (NotFoundError(["No such contact"], code="NOT_FOUND"), FailureKind.FATAL),
        (ValidationError(["empty"], code="MISSING_FIELDS"), FailureKind.FATAL),
        (ConfigurationError("bad"), FailureKind.FATAL),
        (ClientClosedError("closed"), FailureKind.FATAL),
    ]


@pytest.mark.parametrize(("error", "kind"), _instances(), ids=lambda v: type(v).__name__)
def test_the_retry_kind_of_every_leaf_is_unchanged(error: BaseException, kind: FailureKind) -> None:
    assert RetryPolicy().classify(error) is kind


def test_tls_is_fatal_whatever_the_order_of_the_rules() -> None:
    for rules in (DEFAULT_RULES, tuple(reversed(DEFAULT_RULES))):
        assert RetryPolicy(rules=rules).classify(TLSError("x")) is FailureKind.FATAL
        assert RetryPolicy(rules=rules).classify(ConnectError("x")) is FailureKind.NOT_SENT


# -- against the sandbox ------------------------------------------------------------------------


@pytest.fixture
async def sandbox() -> AsyncIterator[ZyntroSandbox]:
    async with ZyntroSandbox(seed=14) as sb:
        yield sb


def client_for(sb: ZyntroSandbox, **kwargs: Any) -> ZyntroClient:
    kwargs.setdefault("timeout", Timeout(connect=2, read=2, total=5))
    return ZyntroClient(**sb.credentials, base_url=sb.base_url, **kwargs)


async def test_the_api_said_no(sandbox: ZyntroSandbox) -> None:
    async with client_for(sandbox) as client:
        with pytest.raises(APIError) as info:
            await client.fetch_contact("no-such-contact")
    assert type(info.value) is NotFoundError
    assert info.value.code == "NOT_FOUND"
    assert not isinstance(info.value, (APIStatusError, APIConnectionError))


async def test_the_server_answered_with_a_status(sandbox: ZyntroSandbox) -> None:
    cid = sandbox.add_contact(first_name="Jane")
    sandbox.script("fetchContact", Fault.RATE_LIMIT, Fault.SERVER_ERROR, Fault.BAD_GATEWAY_HTML)
    async with client_for(sandbox, retry=None) as client:
        caught = []
        for _ in range(3):
            try:
                await client.fetch_contact(cid)
            except APIStatusError as exc:
                caught.append(exc)
    assert [type(e) for e in caught] == [RateLimitError, ServerError, ServerError]
    assert [e.status for e in caught] == [429, 500, 502]
    assert [e.code for e in caught] == ["RATE_LIMITED", "SERVER_ERROR", "SERVER_ERROR"]
    assert not any(isinstance(e, (APIConnectionError, APIError)) for e in caught)


@pytest.fixture
def refused_port() -> int:
    """A port nobody listens on: connecting to it is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_the_connection_failed(refused_port: int) -> None:
    async with ZyntroClient(
        api_key="key-1234",
        developer_secret="zdk_secret",
        org_id="org",
        member_id="member",
        base_url=f"http://127.0.0.1:{refused_port}/",
        retry=None,
    ) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.fetch_contact("c-1")
    assert type(info.value) is ConnectError
    assert info.value.code == "CONNECT_ERROR"
    assert not isinstance(info.value, APITimeoutError)


async def test_it_timed_out(sandbox: ZyntroSandbox) -> None:
    cid = sandbox.add_contact(first_name="Jane")
    sandbox.faults = Faults(latency=1.0)
    timeout = Timeout(connect=2, read=0.1, total=5)
    async with client_for(sandbox, timeout=timeout, retry=None) as client:
        with pytest.raises(APITimeoutError) as info:
            await client.fetch_contact(cid)
    assert type(info.value) is ReadTimeout
    assert info.value.code == "READ_TIMEOUT"
    assert isinstance(info.value, APIConnectionError)  # a timeout is a connection failure too


async def test_the_deadline_passing_is_a_timeout_too(sandbox: ZyntroSandbox) -> None:
    cid = sandbox.add_contact(first_name="Jane")
    sandbox.faults = Faults(latency=0.3)
    async with client_for(sandbox, retry=RetryPolicy(deadline=0.1)) as client:
        with pytest.raises(APITimeoutError):
            await client.fetch_contact(cid)


async def test_you_passed_something_invalid(sandbox: ZyntroSandbox) -> None:
    async with client_for(sandbox) as client:
        problems: list[Any] = [
            lambda: client.fetch_contact(""),  # refused locally: the server would say so
            lambda: client.add_profile_to_contact("c", {"when": object()}, "src"),
        ]
        for problem in problems:
            with pytest.raises(InvalidArgumentError) as info:
                await problem()
            assert isinstance(info.value, ValueError)
            assert isinstance(info.value, ValidationError)
        for bad in (
            lambda: client.bulk_fetch_contacts(["c"], concurrency=0),
            lambda: ErrorRate(0),
            lambda: BulkOptions(on_failure="sometimes"),  # type: ignore[arg-type]
        ):
            with pytest.raises(InvalidArgumentError) as info:
                bad()
            assert isinstance(info.value, ConfigurationError)
            assert isinstance(info.value, ValueError)
    assert sandbox.stats.requests == 0


async def test_bulk_results_carry_the_exported_classes(sandbox: ZyntroSandbox) -> None:
    async def enricher(_: object) -> dict[str, Any]:
        raise RuntimeError("enrichment API down")

    cid = sandbox.add_contact(first_name="Jane")
    async with client_for(sandbox) as client:
        report = await client.enrich_contacts([cid], enricher, source="Clearbit")
    (failure,) = report.failures
    assert isinstance(failure.error, EnricherError)
    assert failure.error.code == "ENRICHER_FAILED"
    # The other bulk-only errors are importable and catchable by name.
    for cls in (JournalError, JournalConflictError, PreviousFailure, ItemError):
        assert issubclass(cls, ZyntroError)


async def test_an_authentication_failure_is_the_api_saying_no(sandbox: ZyntroSandbox) -> None:
    creds = dict(sandbox.credentials, api_key="zk_not_a_key_at_all")
    async with ZyntroClient(**creds, base_url=sandbox.base_url) as client:
        with pytest.raises(APIError) as info:
            await client.fetch_contact("c-1")
    assert type(info.value) is AuthenticationError
    assert info.value.code == "INVALID_API_KEY"
