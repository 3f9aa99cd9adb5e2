"""Fault configuration and injection for :class:`~zyntro_async.testing.ZyntroSandbox`.

A :class:`Faults` value describes what can go wrong (latency, and per-kind
probabilities of the :class:`Fault` answers); a :class:`FaultInjector` owned by
the sandbox decides per request, from a ``random.Random(seed)``, so a failing
run replays exactly with the same seed and the same request order. Scripted
faults (:meth:`FaultInjector.script`) are consumed first, one per request.

Status faults (429/500/502/503) answer before any state change; the
``*_AFTER_COMMIT`` faults let the request commit (an addProfileToContact
profile IS stored) and then lose the answer. Fault bodies are invented (the docs
show none): 429 and the JSON 500 carry the error envelope under a non-200 status,
502/503 are nginx-style HTML pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import random
from collections import deque
from collections.abc import Iterable
from typing import Any, Final

import attrs
from aiohttp import web

FETCH_CONTACT: Final = "fetchContact"
ADD_PROFILE_TO_CONTACT: Final = "addProfileToContact"
#: The endpoints the sandbox serves, by their path name.
ENDPOINTS: Final[tuple[str, ...]] = (FETCH_CONTACT, ADD_PROFILE_TO_CONTACT)


class Fault(enum.Enum):
    """A kind of injected answer. Values match the :class:`Faults` field names."""

    #: 429 with a ``Retry-After`` header (``Faults.retry_after`` seconds).
    RATE_LIMIT = "rate_limit"
    #: 500, JSON or plain-text body (``Faults.server_error_body``).
    SERVER_ERROR = "server_error"
    #: 502 with nginx's HTML error page (``text/html``).
    BAD_GATEWAY_HTML = "bad_gateway_html"
    #: 503 with an HTML page, with ``Retry-After`` unless ``unavailable_retry_after`` is off.
    UNAVAILABLE = "unavailable"
    #: The request is processed (a profile IS stored), then the connection is
    #: closed with no answer: the client sees ``aiohttp.ServerDisconnectedError``.
    DROP_AFTER_COMMIT = "drop_after_commit"
    #: The request is processed (a profile IS stored), then nothing is sent for
    #: ``Faults.hang_seconds`` and the connection is closed.
    TIMEOUT_AFTER_COMMIT = "timeout_after_commit"

    @property
    def is_status(self) -> bool:
        """True for faults answered with an HTTP error status before any state change."""
        return self not in (Fault.DROP_AFTER_COMMIT, Fault.TIMEOUT_AFTER_COMMIT)


_SERVER_ERROR_BODIES: Final = ("json", "text", "alternate")


def _non_negative(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value >= 0.0:  # also rejects NaN
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


def _probability(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be a probability in [0, 1], got {value!r}")


def _to_endpoints(value: Iterable[str]) -> frozenset[str]:
    names = frozenset((value,) if isinstance(value, str) else value)
    unknown = names - frozenset(ENDPOINTS)
    if unknown:
        raise ValueError(f"endpoints: unknown {sorted(unknown)}; expected some of {ENDPOINTS}")
    return names


def _to_float(value: float | str) -> float:
    return float(value)


def _prob() -> Any:
    return attrs.field(default=0.0, converter=_to_float, validator=_probability)


@attrs.frozen
class Faults:
    """What the sandbox does wrong, and how often. Immutable; swap with ``sb.faults = ...``.

    Probabilities are per request, for requests to ``endpoints``; their sum must be <= 1.
    """

    #: Seconds added to every answer (faulted or not).
    latency: float = attrs.field(default=0.0, converter=_to_float, validator=_non_negative)
    #: Extra uniform delay in ``[0, jitter]`` seconds.
    jitter: float = attrs.field(default=0.0, converter=_to_float, validator=_non_negative)
    rate_limit: float = _prob()
    server_error: float = _prob()
    bad_gateway_html: float = _prob()
    unavailable: float = _prob()
    drop_after_commit: float = _prob()
    timeout_after_commit: float = _prob()
    #: ``Retry-After`` seconds sent with 429 (and 503). Integral values are sent as
    #: integers (RFC 9110); fractional ones as decimals, handy for fast tests.
    retry_after: float = attrs.field(default=1.0, converter=_to_float, validator=_non_negative)
    #: How long TIMEOUT_AFTER_COMMIT withholds the answer before closing.
    hang_seconds: float = attrs.field(default=30.0, converter=_to_float, validator=_non_negative)
    #: Whether 503 answers carry ``Retry-After``.
    unavailable_retry_after: bool = True
    #: 500 body: ``"json"``, ``"text"``, or ``"alternate"`` (JSON first, then text, ...).
    server_error_body: str = attrs.field(
        default="alternate", validator=attrs.validators.in_(_SERVER_ERROR_BODIES)
    )
    #: Endpoints the probabilistic faults apply to (latency applies to all; scripts
    #: ignore this).
    endpoints: frozenset[str] = attrs.field(default=frozenset(ENDPOINTS), converter=_to_endpoints)

    def __attrs_post_init__(self) -> None:
        total = sum(p for _, p in self.probabilities)
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault probabilities sum to {total:g}, more than 1")

    @property
    def probabilities(self) -> tuple[tuple[Fault, float], ...]:
        """``(kind, probability)`` pairs in the fixed order the dice are read."""
        return tuple((kind, float(getattr(self, kind.value))) for kind in Fault)

    @classmethod
    def parse(cls, spec: str) -> Faults:
        """Build from a CLI string like ``"rate_limit=0.05,server_error=0.02,latency=0.01"``.

        ``endpoints`` takes names joined by ``|`` or ``+``; booleans take 1/0, true/false,
        yes/no, on/off. An empty string gives no faults.
        """
        kwargs: dict[str, Any] = {}
        names = [a.name for a in attrs.fields(cls)]
        for item in spec.split(","):
            item = item.strip()
            if not item:
                continue
            key, sep, raw = item.partition("=")
            key, raw = key.strip().replace("-", "_"), raw.strip()
            if key not in names:
                raise ValueError(f"unknown fault option {key!r}; expected one of {names}")
            if not sep:
                raise ValueError(f"fault option {key!r} needs a value ({key}=...)")
            kwargs[key] = _parse_value(key, raw)
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"invalid faults {spec!r}: {exc}") from exc


def _parse_value(key: str, raw: str) -> Any:
    if key == "endpoints":
        return frozenset(part.strip() for part in raw.replace("+", "|").split("|") if part)
    if key == "server_error_body":
        return raw
    if key == "unavailable_retry_after":
        lowered = raw.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"fault option {key!r}: expected a boolean, got {raw!r}")
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"fault option {key!r}: expected a number, got {raw!r}") from None


_BAD_GATEWAY_HTML: Final = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_UNAVAILABLE_HTML: Final = (
    "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n"
    "<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n"
    "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


def _seconds_header(seconds: float) -> str:
    return str(int(seconds)) if seconds == int(seconds) else f"{seconds:g}"


class FaultInjector:
    """Per-request fault decisions for one sandbox: scripts first, then seeded dice."""

    def __init__(self, faults: Faults, seed: int) -> None:
        self.faults = faults
        self._rng = random.Random(seed)
        self._scripts: dict[str, deque[Fault | None]] = {name: deque() for name in ENDPOINTS}
        self._server_errors = 0

    def script(self, endpoint: str, *faults: Fault | None) -> None:
        """Queue the next answers for ``endpoint`` (``None`` = answer normally)."""
        if endpoint not in self._scripts:
            raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {ENDPOINTS}")
        for fault in faults:
            if fault is not None and not isinstance(fault, Fault):
                raise TypeError(f"expected Fault or None, got {fault!r}")
        self._scripts[endpoint].extend(faults)

    def pending(self, endpoint: str) -> int:
        """How many scripted answers are still queued for ``endpoint``."""
        return len(self._scripts[endpoint])

    def choose(self, endpoint: str) -> Fault | None:
        """The fault for the next request to ``endpoint``, or None."""
        queue = self._scripts[endpoint]
        if queue:
            return queue.popleft()
        faults = self.faults
        if endpoint not in faults.endpoints:
            return None
        probabilities = faults.probabilities
        if not any(p for _, p in probabilities):
            return None
        roll = self._rng.random()
        for kind, p in probabilities:
            if roll < p:
                return kind
            roll -= p
        return None

    def delay(self) -> float:
        """Seconds to wait before answering the current request: latency plus jitter."""
        faults = self.faults
        extra = self._rng.uniform(0.0, faults.jitter) if faults.jitter else 0.0
        return faults.latency + extra

    def status_response(self, fault: Fault) -> web.Response:
        """The HTTP answer for a status fault (429/500/502/503)."""
        faults = self.faults
        if fault is Fault.RATE_LIMIT:
            return web.json_response(
                {"data": ["Too many requests"], "status": "error"},
                status=429,
                headers={"Retry-After": _seconds_header(faults.retry_after)},
            )
        if fault is Fault.SERVER_ERROR:
            self._server_errors += 1
            mode = faults.server_error_body
            if mode == "json" or (mode == "alternate" and self._server_errors % 2):
                return web.json_response(
                    {"data": ["Internal server error"], "status": "error"}, status=500
                )
            return web.Response(status=500, text="Internal Server Error")
        if fault is Fault.BAD_GATEWAY_HTML:
            return web.Response(status=502, text=_BAD_GATEWAY_HTML, content_type="text/html")
        if fault is Fault.UNAVAILABLE:
            headers = (
                {"Retry-After": _seconds_header(faults.retry_after)}
                if faults.unavailable_retry_after
                else None
            )
            return web.Response(
                status=503, text=_UNAVAILABLE_HTML, content_type="text/html", headers=headers
            )
        raise ValueError(f"{fault} is not a status fault")


def drop_connection(request: web.BaseRequest) -> web.Response:
    """Close the client connection without an answer; return a response aiohttp will discard.

    Writing the returned response hits the closed transport, which aiohttp treats as a
    premature client disconnection: no traceback, no warning. The client reads EOF
    before any status line and raises ``aiohttp.ServerDisconnectedError``.
    """
    transport = request.transport
    if transport is not None:
        transport.close()
    return web.Response(status=204)


async def hang(seconds: float, stopping: asyncio.Event) -> None:
    """Sleep ``seconds``, waking early when the sandbox is stopping."""
    if seconds <= 0 or stopping.is_set():
        return
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stopping.wait(), timeout=seconds)
