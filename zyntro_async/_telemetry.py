"""OpenTelemetry traces and metrics (the optional ``otel`` extra): on when the application
has configured a global tracer or meter provider, off -- and free -- otherwise.

What is emitted (names and attributes follow the HTTP client semantic conventions,
``semantic-conventions/docs/http``; the ``zyntro.*`` ones are ours):

Spans
  ``POST`` (CLIENT): one per HTTP request -- every attempt, reconcile fetches included.
  ``http.request.method``, ``server.address``, ``server.port``, ``url.full`` (the base URL
  and the endpoint: the API takes its credentials in the JSON body, never in the URL),
  ``http.response.status_code`` (when an answer came), ``error.type`` (a status >= 400 as
  a string, else the exception's class name, e.g. ``ReadTimeout``, ``NotFoundError``),
  ``http.request.resend_count`` (how many times this same request was sent before; a
  reconcile fetch is a request of its own). Its parent, the call's span, names the
  endpoint and the contact.
  It covers the request on the wire only: the wait for a bulk run's slot and pace is not
  in it (and a request refused locally by the pool-wide gate makes none).

  ``zyntro fetchContact`` / ``zyntro addProfileToContact`` (INTERNAL): one per SDK call,
  the parent of its requests. ``zyntro.endpoint``, ``zyntro.contact_id``,
  ``zyntro.outcome`` (``ok``, ``recovered``: an answer was lost and reconciliation found
  the record, ``failed``, ``unknown``: failed and may have been applied),
  ``zyntro.attempts``, ``error.type`` on failure.

  ``zyntro bulk item`` (INTERNAL): one per item of a bulk run, the parent of its calls.
  ``zyntro.operation`` (``bulk_add_profiles``, ``bulk_fetch_contacts``,
  ``enrich_contacts``), ``zyntro.endpoint``, ``zyntro.contact_id`` (when the item names
  one), ``zyntro.outcome`` (as above, plus ``skipped``: done before, or nothing to do),
  ``error.type`` on failure. An item cancelled with its run gets no outcome.

Metrics (meter ``zyntro_async``)
  ``http.client.request.duration`` (histogram, s): per request; ``http.request.method``,
  ``server.address``, ``server.port``, ``url.scheme``, ``http.response.status_code``,
  ``error.type``, ``zyntro.endpoint``.
  ``zyntro.bulk.items`` (counter, {item}): finished bulk items by ``zyntro.outcome``,
  ``zyntro.operation`` and ``zyntro.endpoint`` (as ``BulkReport`` counts them).
  The limiter of every live bulk run (what ``run.progress()`` shows), observed at each
  collection (nothing per request): ``zyntro.bulk.requests.in_flight`` (up-down counter,
  {request}: requests on the wire, ``Progress.in_flight``), ``zyntro.bulk.throttled``
  (up-down counter, {run}: runs held below their pace now, ``Progress.throttled``),
  ``zyntro.bulk.items.sleeping`` (up-down counter, {item}: items in a backoff or
  ``Retry-After`` sleep, holding no slot), ``zyntro.bulk.rate_limit`` (gauge,
  {request}/s: the adaptive rate the throttled runs pace at, summed; reported only while
  some run has one).

Never an attribute: ``api_key``, ``developer_secret``, a payload, a query string.
Exception events carry the SDK's messages, which never contain a secret or a payload.

**Cost.** Whether telemetry is on is decided when an ``Operations`` (a client, a
``with_options`` client, a call with its own options, a bulk run) or a bulk run is
created, not per request: off, a request pays a few ``is None`` tests and nothing is
imported. The check itself imports nothing either while no code has imported
``opentelemetry.trace`` or ``opentelemetry.metrics`` (no provider can be set without
that) and no ``OTEL_PYTHON_*_PROVIDER`` variable names one; else it asks the API whether
the global providers are still its default proxy/no-op ones. Once a real provider is
seen, its tracer (or the instruments) are kept for the process: OpenTelemetry lets a
global provider be set only once. ``benchmarks/telemetry_cost.py`` measures all this.

Layout: this module holds the hooks a request, a call and a bulk item go through;
:mod:`._otel` decides whether telemetry is on and holds the API, tracer and instruments.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from ._exceptions import APIError
from ._otel import Api, Instruments, active
from ._protocol import contact_id_of

if TYPE_CHECKING:
    # Type-checks with or without the extra installed (without it these are Any).
    from opentelemetry.trace import Span, Tracer  # type: ignore[import-not-found, unused-ignore]

    from ._flow import FlowControl
    from ._protocol import Call
    from ._results import BulkResult
    from ._retry import RetryStats
    from ._transport import Transport

T = TypeVar("T")

METHOD = "POST"  # every Zyntro API call is a POST
_MAX_ID = 128  # characters of a contact id kept in an attribute

# -- per client: the request and call hooks -------------------------------------------------


def for_transport(transport: Transport) -> Telemetry | None:
    """What an ``Operations`` on ``transport`` reports to; None while telemetry is off."""
    api, tracer, instruments = active()
    if api is None or (tracer is None and instruments is None):
        return None
    return Telemetry(api, tracer, instruments, _target(transport.base_url))


class _Target:
    """Where requests go, as the conventions name it (parsed once per base URL)."""

    __slots__ = ("address", "port", "scheme", "url")

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.scheme = parts.scheme
        self.address = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        # No user info, query or fragment (the client refuses them anyway).
        netloc = f"[{self.address}]" if ":" in self.address else self.address
        if parts.port is not None:
            netloc += f":{parts.port}"
        self.url = f"{parts.scheme}://{netloc}{parts.path}"


_targets: dict[str, _Target] = {}


def _target(base_url: str) -> _Target:
    target = _targets.get(base_url)
    if target is None:
        target = _targets[base_url] = _Target(base_url)
    return target


class _Scope:
    """The SDK call whose span is current: counts its sends of each request."""

    __slots__ = ("call", "sends")

    def __init__(self, call: Call[Any]) -> None:
        self.call = call
        self.sends: dict[int, int] = {}

    def sent(self, call: Call[Any]) -> int:
        """Count one more send of ``call``; return how many went before it."""
        key = id(call)
        before = self.sends.get(key, 0)
        self.sends[key] = before + 1
        return before


_scope: contextvars.ContextVar[_Scope | None] = contextvars.ContextVar(
    "zyntro_async_call", default=None
)


class Telemetry:
    """One ``Operations``' view of telemetry: the tracer and/or instruments, and its server."""

    __slots__ = ("_api", "_instruments", "_metric_attributes", "_target", "_tracer")

    def __init__(
        self, api: Api, tracer: Tracer | None, instruments: Instruments | None, target: _Target
    ) -> None:
        self._api = api
        self._tracer = tracer
        self._instruments = instruments
        self._target = target
        self._metric_attributes: dict[str, dict[str, Any]] = {}

    # -- one request (Operations.send) -----------------------------------------------------------

    def request(self, call: Call[Any]) -> _Request:
        """A request of ``call`` is going on the wire now; end it with the returned record."""
        return _Request(self, call)

    def metric_attributes(self, endpoint: str) -> dict[str, Any]:
        """The attributes every request to ``endpoint`` shares (built once per endpoint)."""
        attributes = self._metric_attributes.get(endpoint)
        if attributes is None:
            target = self._target
            attributes = self._metric_attributes[endpoint] = {
                "http.request.method": METHOD,
                "server.address": target.address,
                "server.port": target.port,
                "url.scheme": target.scheme,
                "zyntro.endpoint": endpoint,
            }
        return attributes

    # -- one SDK call (Operations.fetch_contact / add) -------------------------------------------

    async def call(self, call: Call[Any], stats: RetryStats, work: Awaitable[T]) -> T:
        """Await ``work`` (the call's attempt loop) inside the call's span."""
        tracer = self._tracer
        if tracer is None:
            return await work
        attributes = {"zyntro.endpoint": call.endpoint, "zyntro.contact_id": call.contact_id}
        with tracer.start_as_current_span(
            f"zyntro {call.endpoint}", kind=self._api.internal, attributes=attributes
        ) as span:
            token = _scope.set(_Scope(call))
            try:
                result = await work
            except BaseException as exc:
                if not isinstance(exc, asyncio.CancelledError):  # cancelled: no outcome
                    outcome = "unknown" if stats.unknown else "failed"
                    span.set_attribute("zyntro.outcome", outcome)
                span.set_attribute("error.type", type(exc).__name__)
                raise
            finally:
                _scope.reset(token)
                span.set_attribute("zyntro.attempts", stats.attempts)
            span.set_attribute("zyntro.outcome", "recovered" if stats.recovered else "ok")
            return result


class _Request:
    """One request on the wire: its CLIENT span (if tracing), its duration, its count."""

    __slots__ = ("_call", "_span", "_started", "_telemetry")

    def __init__(self, telemetry: Telemetry, call: Call[Any]) -> None:
        self._telemetry = telemetry
        self._call = call
        self._span: Span | None = None
        tracer = telemetry._tracer
        if tracer is not None:
            target = telemetry._target
            attributes: dict[str, Any] = {
                "http.request.method": METHOD,
                "server.address": target.address,
                "server.port": target.port,
                "url.full": target.url + call.endpoint,
            }
            scope = _scope.get()
            if scope is not None:
                resends = scope.sent(call)
                if resends:
                    attributes["http.request.resend_count"] = resends
            kind = telemetry._api.client
            self._span = tracer.start_span(METHOD, kind=kind, attributes=attributes)
        self._started = time.perf_counter()

    def succeeded(self) -> None:
        """The answer was the API's success (always an HTTP 200)."""
        self._end(200, None, None)

    def failed(self, exc: BaseException) -> None:
        """The request failed with ``exc`` (raised by the transport or by reading the answer)."""
        status = getattr(exc, "status", None)
        if not isinstance(status, int):
            # An APIError is the API's own "no", which only ever comes with a 200; any
            # other error without a status got no answer.
            status = 200 if isinstance(exc, APIError) else None
        error = str(status) if status is not None and status >= 400 else type(exc).__name__
        self._end(status, error, exc)

    def _end(self, status: int | None, error: str | None, exc: BaseException | None) -> None:
        elapsed = time.perf_counter() - self._started
        span = self._span
        if span is not None:
            if status is not None:
                span.set_attribute("http.response.status_code", status)
            if error is not None:
                span.set_attribute("error.type", error)
                if exc is not None:
                    span.record_exception(exc)
                span.set_status(self._telemetry._api.error)
            span.end()
        telemetry = self._telemetry
        instruments = telemetry._instruments
        if instruments is not None:
            attributes = dict(telemetry.metric_attributes(self._call.endpoint))
            if status is not None:
                attributes["http.response.status_code"] = status
            if error is not None:
                attributes["error.type"] = error
            instruments.duration.record(elapsed, attributes)


# -- bulk runs -------------------------------------------------------------------------------


def bulk_items(
    process: Callable[[Any], Coroutine[Any, Any, BulkResult[T]]], flow: FlowControl
) -> Callable[[Any], Coroutine[Any, Any, BulkResult[T]]] | None:
    """``process`` reporting each item (a span, the outcome count), and ``flow`` observed;
    None while telemetry is off (the run then calls ``process`` as it is)."""
    api, tracer, instruments = active()
    if api is None or (tracer is None and instruments is None):
        return None
    # A pipeline names its run's operation and endpoint (class attributes of _pipelines).
    operation = getattr(process, "operation", None)
    endpoint = getattr(process, "endpoint", None)
    labels: dict[str, Any] = {}
    if operation is not None:
        labels["zyntro.operation"] = operation
        labels["zyntro.endpoint"] = endpoint
    counted: dict[str, dict[str, Any]] = {
        outcome: {**labels, "zyntro.outcome": outcome} for outcome in _OUTCOMES
    }
    counter = None
    if instruments is not None:
        instruments.watch(flow)
        counter = instruments.items

    def count(outcome: str) -> None:
        if counter is not None:
            counter.add(1, counted[outcome])

    if tracer is None:

        async def counted_item(item: Any) -> BulkResult[T]:
            try:
                result = await process(item)
            except Exception:
                count("failed")  # the run turns it into a failed result
                raise
            count(_outcome(result))
            return result

        return counted_item

    async def traced_item(item: Any) -> BulkResult[T]:
        attributes = dict(labels)
        contact_id = _contact_id(item)
        if contact_id is not None:
            attributes["zyntro.contact_id"] = contact_id
        with tracer.start_as_current_span(
            "zyntro bulk item", kind=api.internal, attributes=attributes
        ) as span:
            try:
                result = await process(item)
            except Exception as exc:
                span.set_attribute("zyntro.outcome", "failed")
                span.set_attribute("error.type", type(exc).__name__)
                count("failed")
                raise
            outcome = _outcome(result)
            span.set_attribute("zyntro.outcome", outcome)
            if not result.ok:
                span.set_attribute("error.type", type(result.error).__name__)
                span.set_status(api.error)
            count(outcome)
            return result

    return traced_item


_OUTCOMES = ("ok", "failed", "recovered", "skipped", "unknown")


def _outcome(result: BulkResult[Any]) -> str:
    if result.skipped:
        return "skipped"
    if result.ok:
        return "recovered" if result.recovered else "ok"
    return "unknown" if result.unknown else "failed"


def _contact_id(item: object) -> str | None:
    """The contact id an item names, as sent, cut to what an attribute keeps."""
    contact_id = contact_id_of(item)
    return None if contact_id is None else contact_id[:_MAX_ID]
