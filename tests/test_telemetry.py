"""Traces and metrics (the ``otel`` extra), exported with opentelemetry-sdk's in-memory
exporters from calls and runs against the sandbox.

OpenTelemetry lets a process set its global providers once, so one pair is set for the
whole session (the first time a test here asks for it). Its sampler records only while a
test of this module runs, and each test starts with empty exporters; the tests that run
later in the same session see non-recording spans. What happens with no provider at all
is checked in a fresh interpreter.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry import metrics, trace
from opentelemetry.metrics import Meter
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    InMemoryMetricReader,
    MetricsData,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import SpanKind, StatusCode

from zyntro_async import (
    NotFoundError,
    ProfileRequest,
    RetryPolicy,
    ZyntroClient,
    __version__,
)
from zyntro_async.testing import Fault, Faults, ZyntroSandbox

ADD, FETCH = "addProfileToContact", "fetchContact"
SOURCE = "Telemetry"


class _Switch(Sampler):
    """Records while ``on``; drops (non-recording spans) otherwise."""

    on = False

    def should_sample(
        self,
        parent_context: Any,
        trace_id: int,
        name: str,
        kind: Any = None,
        attributes: Any = None,
        links: Any = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        if not self.on:
            return SamplingResult(Decision.DROP)
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)  # keep the attributes

    def get_description(self) -> str:
        return "on while a telemetry test runs"


class Otel:
    def __init__(self) -> None:
        self.sampler = _Switch()
        self.spans = InMemorySpanExporter()
        tracer_provider = TracerProvider(sampler=self.sampler)
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        # Counts and durations per collection (delta); gauges and up-down counters as they are.
        self.reader = InMemoryMetricReader(
            preferred_temporality={
                Counter: AggregationTemporality.DELTA,
                Histogram: AggregationTemporality.DELTA,
            }
        )
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[self.reader]))

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def points(self, data: MetricsData | None = None) -> dict[str, list[Any]]:
        """Every data point collected now (or in ``data``), by metric name."""
        data = self.reader.get_metrics_data() if data is None else data
        out: dict[str, list[Any]] = {}
        for resource in data.resource_metrics if data is not None else ():
            for scope in resource.scope_metrics:
                assert scope.scope.name == "zyntro_async"
                assert scope.scope.version == __version__
                for metric in scope.metrics:
                    out.setdefault(metric.name, []).extend(metric.data.data_points)
        return out


@pytest.fixture(scope="session")
def _session_otel() -> Otel:
    return Otel()


@pytest.fixture
def otel(_session_otel: Otel) -> Iterator[Otel]:
    _session_otel.spans.clear()
    _session_otel.reader.get_metrics_data()  # start the deltas here
    _session_otel.sampler.on = True
    yield _session_otel
    _session_otel.sampler.on = False
    _session_otel.spans.clear()


@pytest.fixture
async def sb() -> AsyncIterator[ZyntroSandbox]:
    async with ZyntroSandbox(seed=14) as sandbox:
        yield sandbox


def client_for(sb: ZyntroSandbox, **kwargs: Any) -> ZyntroClient:
    return ZyntroClient(**sb.credentials, base_url=sb.base_url, **kwargs)


def named(spans: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def children(spans: Sequence[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    """``parent``'s child spans, in the order they started."""
    found = [
        s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id
    ]
    return sorted(found, key=lambda s: s.start_time or 0)


def attrs_of(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def assert_request(span: ReadableSpan, sb: ZyntroSandbox, endpoint: str) -> dict[str, Any]:
    """A CLIENT span of the HTTP conventions for one request to ``endpoint``."""
    assert span.name == "POST"
    assert span.kind is SpanKind.CLIENT
    attributes = attrs_of(span)
    assert attributes["http.request.method"] == "POST"
    assert attributes["server.address"] == "127.0.0.1"
    assert attributes["server.port"] == sb.port
    assert attributes["url.full"] == sb.base_url + endpoint
    return attributes


# -- spans of single calls -------------------------------------------------------------------


async def test_a_retried_fetch_is_a_call_span_over_one_client_span_per_attempt(
    otel: Otel, sb: ZyntroSandbox
) -> None:
    (cid,) = sb.seed(1)
    sb.script(FETCH, Fault.SERVER_ERROR)
    async with client_for(sb) as client:
        await client.fetch_contact(cid)

    spans = otel.finished()
    (call,) = named(spans, "zyntro fetchContact")
    assert call.kind is SpanKind.INTERNAL
    assert call.parent is None
    assert attrs_of(call) == {
        "zyntro.endpoint": FETCH,
        "zyntro.contact_id": cid,
        "zyntro.outcome": "ok",
        "zyntro.attempts": 2,
    }
    first, second = children(spans, call)
    failed = assert_request(first, sb, FETCH)
    assert failed["http.response.status_code"] == 500
    assert failed["error.type"] == "500"
    assert "http.request.resend_count" not in failed
    assert first.status.status_code is StatusCode.ERROR
    retried = assert_request(second, sb, FETCH)
    assert retried["http.response.status_code"] == 200
    assert retried["http.request.resend_count"] == 1
    assert "error.type" not in retried
    assert second.status.status_code is StatusCode.UNSET
    assert len(spans) == 3


async def test_a_lost_add_answer_is_recovered_by_a_reconcile_fetch_of_its_own(
    otel: Otel, sb: ZyntroSandbox
) -> None:
    (cid,) = sb.seed(1)
    sb.script(ADD, Fault.DROP_AFTER_COMMIT)
    async with client_for(sb) as client:
        await client.add_profile_to_contact(cid, {"n": 1}, SOURCE)

    spans = otel.finished()
    (call,) = named(spans, "zyntro addProfileToContact")
    assert attrs_of(call)["zyntro.outcome"] == "recovered"
    add, look = children(spans, call)
    dropped = assert_request(add, sb, ADD)
    assert dropped["error.type"] == "DisconnectedError"
    assert "http.response.status_code" not in dropped  # no answer came
    assert [e.name for e in add.events] == ["exception"]
    reconcile = assert_request(look, sb, FETCH)
    assert reconcile["http.response.status_code"] == 200
    assert "http.request.resend_count" not in reconcile  # a request of its own
    assert len(sb.profiles(cid)) == 1


async def test_an_add_resent_after_a_reconcile_counts_its_own_resends(
    otel: Otel, sb: ZyntroSandbox
) -> None:
    (cid,) = sb.seed(1)
    sb.script(ADD, Fault.SERVER_ERROR)  # ambiguous, and not applied: look, then re-send
    async with client_for(sb) as client:
        await client.add_profile_to_contact(cid, {"n": 2}, SOURCE)

    spans = otel.finished()
    (call,) = named(spans, "zyntro addProfileToContact")
    assert attrs_of(call)["zyntro.outcome"] == "ok"
    first, look, resent = children(spans, call)
    assert assert_request(first, sb, ADD)["http.response.status_code"] == 500
    assert "http.request.resend_count" not in assert_request(look, sb, FETCH)
    assert assert_request(resent, sb, ADD)["http.request.resend_count"] == 1
    assert len(sb.profiles(cid)) == 1


async def test_the_api_saying_no_fails_the_request_and_the_call(
    otel: Otel, sb: ZyntroSandbox
) -> None:
    sb.seed(1)
    async with client_for(sb) as client:
        with pytest.raises(NotFoundError):
            await client.fetch_contact("no-such-contact")

    spans = otel.finished()
    (call,) = named(spans, "zyntro fetchContact")
    assert attrs_of(call)["zyntro.outcome"] == "failed"
    assert attrs_of(call)["error.type"] == "NotFoundError"
    assert call.status.status_code is StatusCode.ERROR
    (request,) = children(spans, call)
    attributes = assert_request(request, sb, FETCH)
    assert attributes["http.response.status_code"] == 200  # the API's "no" comes with a 200
    assert attributes["error.type"] == "NotFoundError"


async def test_an_add_whose_outcome_cannot_be_settled_is_unknown(
    otel: Otel, sb: ZyntroSandbox
) -> None:
    (cid,) = sb.seed(1)
    sb.script(ADD, Fault.DROP_AFTER_COMMIT)
    sb.faults = Faults(server_error=1.0, endpoints="fetchContact")  # every look fails
    # The add keeps looking until its deadline: a short one settles the test quickly.
    async with client_for(sb, retry=RetryPolicy(deadline=1.0)) as client:
        run = client.bulk_add_profiles([ProfileRequest(cid, {"n": 3}, SOURCE)])
        report = await run
    assert report.failed == 1

    spans = otel.finished()
    (item,) = named(spans, "zyntro bulk item")
    assert attrs_of(item)["zyntro.outcome"] == "unknown"
    (call,) = children(spans, item)
    assert attrs_of(call)["zyntro.outcome"] == "unknown"
    points = otel.points()["zyntro.bulk.items"]
    assert [p.attributes["zyntro.outcome"] for p in points if p.value] == ["unknown"]


# -- bulk runs -------------------------------------------------------------------------------


async def test_bulk_items_are_parents_of_their_calls_and_counted_by_outcome(
    otel: Otel, sb: ZyntroSandbox, tmp_path: Path
) -> None:
    ok_id, again_id, missing_id = sb.seed(3)
    requests = [
        ProfileRequest(ok_id, {"n": 1}, SOURCE, key="a"),
        ProfileRequest(again_id, {"n": 2}, SOURCE, key="b"),
        ProfileRequest(missing_id, {}, SOURCE, key="c"),  # empty: refused before any request
    ]
    async with client_for(sb) as client:
        await client.bulk_add_profiles(requests, journal=tmp_path / "j.db")
        otel.spans.clear()
        otel.reader.get_metrics_data()
        # The same input again: a and b are done already, c fails again.
        report = await client.bulk_add_profiles(
            [*requests, ProfileRequest("gone", {"n": 4}, SOURCE)], journal=tmp_path / "j.db"
        )
    assert (report.skipped, report.failed) == (2, 2)

    spans = otel.finished()
    items = {attrs_of(s).get("zyntro.contact_id"): s for s in named(spans, "zyntro bulk item")}
    assert set(items) == {ok_id, again_id, missing_id, "gone"}
    for item in items.values():
        assert item.kind is SpanKind.INTERNAL
        assert item.parent is None
        assert attrs_of(item)["zyntro.operation"] == "bulk_add_profiles"
        assert attrs_of(item)["zyntro.endpoint"] == ADD
    outcomes = {cid: attrs_of(s)["zyntro.outcome"] for cid, s in items.items()}
    assert outcomes == {
        ok_id: "skipped",
        again_id: "skipped",
        missing_id: "failed",
        "gone": "failed",
    }
    assert attrs_of(items["gone"])["error.type"] == "NotFoundError"
    assert items["gone"].status.status_code is StatusCode.ERROR
    assert children(spans, items[ok_id]) == []  # skipped: nothing sent
    (call,) = children(spans, items["gone"])
    assert call.name == "zyntro addProfileToContact"
    (request,) = children(spans, call)
    assert_request(request, sb, ADD)

    points = otel.points()["zyntro.bulk.items"]  # older SDKs repeat earlier outcomes at 0
    counted = {p.attributes["zyntro.outcome"]: p.value for p in points if p.value}
    assert counted == {"skipped": 2, "failed": 2}


async def test_an_enriched_item_holds_its_fetch_and_its_add(otel: Otel, sb: ZyntroSandbox) -> None:
    ids = sb.seed(2)
    sb.script(ADD, Fault.DROP_AFTER_COMMIT)

    async def enricher(details: Any) -> dict[str, Any]:
        return {"name": details.contact.id}

    async with client_for(sb) as client:
        report = await client.enrich_contacts(ids, enricher, source=SOURCE, concurrency=1)
    assert (report.succeeded, report.recovered) == (2, 1)

    spans = otel.finished()
    items = named(spans, "zyntro bulk item")
    assert {attrs_of(s)["zyntro.operation"] for s in items} == {"enrich_contacts"}
    assert sorted(attrs_of(s)["zyntro.outcome"] for s in items) == ["ok", "recovered"]
    for item in items:
        fetch, add = children(spans, item)
        assert (fetch.name, add.name) == ("zyntro fetchContact", "zyntro addProfileToContact")
        assert attrs_of(fetch)["zyntro.contact_id"] == attrs_of(item)["zyntro.contact_id"]


async def test_a_fetched_item_names_its_operation(otel: Otel, sb: ZyntroSandbox) -> None:
    (cid,) = sb.seed(1)
    async with client_for(sb) as client:
        report = await client.bulk_fetch_contacts([cid])
    assert report.succeeded == 1

    spans = otel.finished()
    (item,) = named(spans, "zyntro bulk item")
    assert attrs_of(item) == {
        "zyntro.operation": "bulk_fetch_contacts",
        "zyntro.endpoint": FETCH,
        "zyntro.contact_id": cid,
        "zyntro.outcome": "ok",
    }
    (call,) = children(spans, item)
    assert call.name == "zyntro fetchContact"
    points = otel.points()["zyntro.bulk.items"]
    assert [(p.attributes["zyntro.operation"], p.value) for p in points if p.value] == [
        ("bulk_fetch_contacts", 1)
    ]


async def test_request_durations(otel: Otel, sb: ZyntroSandbox) -> None:
    ids = sb.seed(5)
    sb.script(ADD, Fault.SERVER_ERROR)
    async with client_for(sb) as client:
        await client.bulk_add_profiles(
            [ProfileRequest(cid, {"n": i}, SOURCE) for i, cid in enumerate(ids)], concurrency=2
        )

    points = otel.points()
    durations = {frozenset(p.attributes.items()): p for p in points["http.client.request.duration"]}

    def key(endpoint: str, status: int, **more: Any) -> frozenset[tuple[str, Any]]:
        return frozenset(
            {
                "http.request.method": "POST",
                "server.address": "127.0.0.1",
                "server.port": sb.port,
                "url.scheme": "http",
                "zyntro.endpoint": endpoint,
                "http.response.status_code": status,
                **more,
            }.items()
        )

    ok_add, failed_add, ok_fetch = (
        key(ADD, 200),
        key(ADD, 500, **{"error.type": "500"}),
        key(FETCH, 200),
    )
    assert set(durations) == {ok_add, failed_add, ok_fetch}
    assert durations[ok_add].count == 5  # four first sends and the re-send
    assert durations[failed_add].count == 1
    assert durations[ok_fetch].count == 1  # the reconcile fetch
    assert all(0 < p.sum < 10 for p in durations.values())  # seconds, not milliseconds
    if (
        "explicit_bucket_boundaries_advisory"
        in inspect.signature(Meter.create_histogram).parameters
    ):
        assert durations[ok_add].explicit_bounds[:2] == (0.005, 0.01)  # the conventions' buckets
    # Nothing is left on the wire.
    assert [p.value for p in points["zyntro.bulk.requests.in_flight"]] == [0]


async def test_the_limiter_is_observed_as_the_run_reports_it(otel: Otel, sb: ZyntroSandbox) -> None:
    ids = sb.seed(20)
    # A burst of 429s among the first answers: the run's adaptive rate engages.
    sb.script(ADD, *[None] * 20, *[Fault.RATE_LIMIT] * 6)
    seen: list[tuple[Any, ...]] = []

    def observe(progress: Any) -> None:
        points = otel.points()
        (throttled,) = points["zyntro.bulk.throttled"]
        (in_flight,) = points["zyntro.bulk.requests.in_flight"]
        seen.append((progress.throttled, throttled.value, progress.in_flight, in_flight.value))

    async with client_for(sb, retry=RetryPolicy(max_attempts=5)) as client:
        run = client.bulk_add_profiles(
            [ProfileRequest(ids[i % 20], {"n": i}, SOURCE) for i in range(120)],
            concurrency=8,
            on_progress=observe,
        )
        report = await run
        assert report.succeeded == 120
        progress = run.progress()
        points = otel.points()

    assert progress.throttled  # held below its pace: the last requests were paced
    (throttled,) = points["zyntro.bulk.throttled"]
    assert throttled.value == 1
    (rate,) = points["zyntro.bulk.rate_limit"]
    assert rate.value > 0
    (sleeping,) = points["zyntro.bulk.items.sleeping"]
    assert sleeping.value == 0
    # Whenever the run reported its progress, the metrics said the same.
    assert seen
    assert all(int(p_throttled) == throttled for p_throttled, throttled, _, _ in seen)
    assert all(p_in_flight == in_flight for _, _, p_in_flight, in_flight in seen)


# -- no secrets ------------------------------------------------------------------------------


async def test_no_secret_reaches_any_exported_span_or_metric(otel: Otel, sb: ZyntroSandbox) -> None:
    ids = sb.seed(3)
    secrets = [sb.credentials["api_key"], sb.credentials["developer_secret"]]
    sb.script(ADD, Fault.DROP_AFTER_COMMIT, Fault.SERVER_ERROR)
    async with client_for(sb) as client:
        await client.fetch_contact(ids[0], include_profile=True)
        await client.add_profile_to_contact(ids[0], {"secret": "no"}, SOURCE)
        await client.bulk_add_profiles([ProfileRequest(cid, {"n": 1}, SOURCE) for cid in ids])
    wrong = {**sb.credentials, "developer_secret": "wrong-dev-secret-1234"}
    async with ZyntroClient(**wrong, base_url=sb.base_url) as client:
        with pytest.raises(Exception):  # noqa: B017, PT011 - any error: only its telemetry counts
            await client.fetch_contact(ids[1])
    secrets.append(wrong["developer_secret"])

    spans = otel.finished()
    assert len(spans) > 10
    exported = [span.to_json() for span in spans]
    data = otel.reader.get_metrics_data()
    assert data is not None
    exported.append(data.to_json())
    assert any("exception.message" in text for text in exported)
    for text in exported:
        for secret in secrets:
            assert secret not in text
            assert json.dumps(secret)[1:-1] not in text


# -- off: nothing imported, nothing decided per request ----------------------------------------

_OFF = """
import asyncio, sys
import zyntro_async
from zyntro_async import ZyntroClient
from zyntro_async.testing import ZyntroSandbox

async def main():
    async with ZyntroSandbox() as sb:
        (cid,) = sb.seed(1)
        async with ZyntroClient(**sb.credentials, base_url=sb.base_url) as client:
            await client.fetch_contact(cid)
            # Never imported while nobody configured OpenTelemetry.
            print("imported:", sorted(m for m in sys.modules if m.startswith("opentelemetry")))

            # The API imported, no provider: still nothing recorded; then a provider is
            # set: clients (and calls with their own options) created from now on see it.
            from opentelemetry import trace
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import SimpleSpanProcessor
            from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
                InMemorySpanExporter,
            )
            await client.fetch_contact(cid)
            exporter = InMemorySpanExporter()
            provider = TracerProvider()
            provider.add_span_processor(SimpleSpanProcessor(exporter))
            trace.set_tracer_provider(provider)
            await client.fetch_contact(cid)
            print("before:", len(exporter.get_finished_spans()))
            await client.fetch_contact(cid, timeout=9)
            async with ZyntroClient(**sb.credentials, base_url=sb.base_url) as later:
                await later.fetch_contact(cid)
            print("after:", sorted(s.name for s in exporter.get_finished_spans()))

asyncio.run(main())
"""


def test_with_no_provider_nothing_is_imported_and_a_later_provider_is_seen_by_new_clients() -> None:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_OFF)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.splitlines()
    assert out == [
        "imported: []",
        "before: 0",
        "after: ['POST', 'POST', 'zyntro fetchContact', 'zyntro fetchContact']",
    ]
