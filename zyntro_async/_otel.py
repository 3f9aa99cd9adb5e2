"""OpenTelemetry, when the application uses it: the API imported once, the tracer and the
instruments, kept for the process once a real provider is seen (see :mod:`._telemetry`
for what is emitted and what it costs)."""

from __future__ import annotations

import functools
import logging
import os
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    # Type-checks with or without the extra installed (without it these are Any).
    from opentelemetry.metrics import (  # type: ignore[import-not-found, unused-ignore]
        CallbackOptions,
        Counter,
        Histogram,
        Meter,
        Observation,
    )
    from opentelemetry.trace import Tracer  # type: ignore[import-not-found, unused-ignore]

    from ._flow import FlowControl

__all__ = ["Api", "Instruments", "active"]

log = logging.getLogger("zyntro_async")

NAME = "zyntro_async"
#: The semantic conventions version the names follow (HTTP is stable since 1.23).
SCHEMA_URL = "https://opentelemetry.io/schemas/1.26.0"
#: The conventions' advice for http.client.request.duration's buckets (seconds).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)

_PROVIDER_VARIABLES = ("OTEL_PYTHON_TRACER_PROVIDER", "OTEL_PYTHON_METER_PROVIDER")

# -- what is on: resolved lazily, kept once real --------------------------------------------

_missing = False  # the API is not installed (found out at most once)
_api: Api | None = None  # the opentelemetry modules and names we use, once imported
_tracer: Tracer | None = None
_instruments: Instruments | None = None
_lock = threading.Lock()


def _in_use() -> bool:
    """Could a provider be configured? Never imports anything."""
    if _missing:
        return False
    modules = sys.modules
    if "opentelemetry.trace" in modules or "opentelemetry.metrics" in modules:
        return True
    environ = os.environ
    return any(name in environ for name in _PROVIDER_VARIABLES)


def _load() -> Api | None:
    """Import the API once; None (and never again) when the extra is not installed."""
    global _api, _missing
    if _api is None and not _missing:
        try:
            from opentelemetry import (  # type: ignore[import-not-found, unused-ignore]
                metrics,
                trace,
            )
        except ImportError:
            _missing = True
            return None
        _api = Api(trace, metrics)
    return _api


class Api:
    """The few names used at run time, looked up once."""

    def __init__(self, trace: Any, metrics: Any) -> None:
        self.trace = trace
        self.metrics = metrics
        self.client = trace.SpanKind.CLIENT
        self.internal = trace.SpanKind.INTERNAL
        self.error = trace.Status(trace.StatusCode.ERROR)
        self.observation = metrics.Observation

    def tracer(self) -> Tracer | None:
        trace = self.trace
        provider = trace.get_tracer_provider()
        if isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)):
            return None
        # What trace.get_tracer() does, with the schema URL every supported API takes.
        tracer: Tracer = provider.get_tracer(NAME, __version__, SCHEMA_URL)
        return tracer

    def meter(self) -> Meter | None:
        metrics = self.metrics
        provider = metrics.get_meter_provider()
        # The API's default is a private proxy class: compare by name, not by import.
        if isinstance(provider, metrics.NoOpMeterProvider) or (
            type(provider).__name__ == "_ProxyMeterProvider"
        ):
            return None
        # metrics.get_meter() takes no schema URL before opentelemetry-api 1.22.
        meter: Meter = provider.get_meter(NAME, __version__, SCHEMA_URL)
        return meter


def active() -> tuple[Api | None, Tracer | None, Instruments | None]:
    """The API and the tracer and instruments to use now (None each while its provider is
    not set; the API is loaded whenever either is set)."""
    global _tracer, _instruments, _missing
    if (_tracer is None or _instruments is None) and _in_use():
        api = _load()
        if api is not None:
            with _lock:
                try:
                    if _tracer is None:
                        _tracer = api.tracer()
                    if _instruments is None:
                        meter = api.meter()
                        if meter is not None:
                            _instruments = Instruments(api, meter)
                except Exception:  # an API we cannot use must not break the client
                    log.warning("OpenTelemetry cannot be used; telemetry is off", exc_info=True)
                    _missing = True
                    _tracer = _instruments = None
    return _api, _tracer, _instruments


class Instruments:
    """The meter's instruments, created once per process (creating one twice warns)."""

    def __init__(self, api: Api, meter: Meter) -> None:
        self._observation = api.observation
        self._flows: weakref.WeakSet[FlowControl] = weakref.WeakSet()
        self._flows_lock = threading.Lock()  # observed from the metric reader's thread
        histogram = functools.partial(
            meter.create_histogram,
            "http.client.request.duration",
            unit="s",
            description="Duration of HTTP client requests.",
        )
        try:
            duration: Histogram = histogram(explicit_bucket_boundaries_advisory=DURATION_BUCKETS)
        except TypeError:  # opentelemetry-api < 1.23: no advisory
            duration = histogram()
        self.duration = duration
        self.items: Counter = meter.create_counter(
            "zyntro.bulk.items",
            unit="{item}",
            description="Bulk items finished, by outcome.",
        )
        meter.create_observable_up_down_counter(
            "zyntro.bulk.requests.in_flight",
            callbacks=[self._in_flight],
            unit="{request}",
            description="Requests of bulk runs on the wire now.",
        )
        meter.create_observable_up_down_counter(
            "zyntro.bulk.throttled",
            callbacks=[self._throttled],
            unit="{run}",
            description="Bulk runs held below their pace now (the server's quota or a "
            "pool-wide Retry-After).",
        )
        meter.create_observable_up_down_counter(
            "zyntro.bulk.items.sleeping",
            callbacks=[self._sleeping],
            unit="{item}",
            description="Bulk items in a backoff or Retry-After sleep (holding no slot).",
        )
        meter.create_observable_gauge(
            "zyntro.bulk.rate_limit",
            callbacks=[self._rate_limit],
            unit="{request}/s",
            description="The adaptive rate throttled bulk runs pace themselves at, summed.",
        )

    def watch(self, flow: FlowControl) -> None:
        with self._flows_lock:
            self._flows.add(flow)

    def _live(self) -> list[FlowControl]:
        with self._flows_lock:
            return list(self._flows)

    def _in_flight(self, options: CallbackOptions) -> Iterator[Observation]:
        yield self._observation(sum(flow.sending for flow in self._live()))

    def _throttled(self, options: CallbackOptions) -> Iterator[Observation]:
        yield self._observation(sum(1 for flow in self._live() if flow.throttled))

    def _sleeping(self, options: CallbackOptions) -> Iterator[Observation]:
        yield self._observation(sum(flow.sleeping for flow in self._live()))

    def _rate_limit(self, options: CallbackOptions) -> Iterator[Observation]:
        now = time.monotonic()
        rates = [flow.current_rate(now) for flow in self._live()]
        engaged = [rate for rate in rates if rate is not None]
        if engaged:
            yield self._observation(sum(engaged))
