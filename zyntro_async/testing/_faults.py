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

Quota (``quota_rps`` > 0), as API gateways enforce one: a token bucket per API key
(the ``api_key`` the body presents, valid or not; one bucket for both endpoints) that
refills ``quota_rps`` tokens per second up to ``quota_burst`` (default: 10 % of
``quota_rps``, at least 1) and starts full. Every request takes a token when it
arrives, before the fault dice and before any state change: a request that finds no
whole token is refused (a refused add stores nothing) with a 429, the same error
envelope as :attr:`Fault.RATE_LIMIT`, and

* ``Retry-After``: whole seconds until the bucket holds a token again, rounded up and
  at least 1 (gateways do not send fractions);
* ``X-RateLimit-Limit``: the quota per second, rounded to an integer (at least 1);
* ``X-RateLimit-Remaining``: whole tokens left (0 on a refusal);
* ``X-RateLimit-Reset``: whole seconds, rounded up, until the bucket holds a token
  again (0 while one is left).

Admitted requests carry the same three ``X-RateLimit-*`` headers (``Remaining`` counts
what is left after this request); their answer then goes through latency and the fault
dice as usual. Refusals are counted as :attr:`Fault.QUOTA` in the sandbox stats; that
kind is never drawn by the dice nor scripted. Latency applies to refusals too.
:class:`Quota` is the bucket logic alone (sans-I/O, with an injectable clock).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import math
import random
import time
from collections import deque
from collections.abc import Callable, Iterable
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
    #: 429 from the per-key quota (``Faults.quota_rps``): decided by the token bucket,
    #: never by the dice or a script; counted in the stats like the other kinds.
    QUOTA = "quota"

    @property
    def is_status(self) -> bool:
        """True for faults answered with an HTTP error status before any state change."""
        return self not in (Fault.DROP_AFTER_COMMIT, Fault.TIMEOUT_AFTER_COMMIT)


#: The kinds the dice choose from (and scripts may queue), in the order they are read.
DICE_FAULTS: Final[tuple[Fault, ...]] = tuple(kind for kind in Fault if kind is not Fault.QUOTA)

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


def _to_optional_float(value: float | str | None) -> float | None:
    return None if value is None else float(value)


def _finite(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value < math.inf:  # also rejects NaN
        raise ValueError(f"{attribute.name} must be a finite number >= 0, got {value!r}")


def _burst(_inst: object, attribute: attrs.Attribute[float | None], value: float | None) -> None:
    if value is not None and not 1.0 <= value < math.inf:
        raise ValueError(f"{attribute.name} must be a finite number >= 1 (or None), got {value!r}")


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
    #: Endpoints the probabilistic faults apply to (latency and the quota apply to all;
    #: scripts ignore this).
    endpoints: frozenset[str] = attrs.field(default=frozenset(ENDPOINTS), converter=_to_endpoints)
    #: Requests per second per API key that the quota admits; 0 = no quota.
    quota_rps: float = attrs.field(default=0.0, converter=_to_float, validator=_finite)
    #: The bucket's capacity (the burst); None = 10 % of ``quota_rps``, at least 1.
    quota_burst: float | None = attrs.field(
        default=None, converter=_to_optional_float, validator=_burst
    )

    def __attrs_post_init__(self) -> None:
        total = sum(p for _, p in self.probabilities)
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault probabilities sum to {total:g}, more than 1")

    @property
    def probabilities(self) -> tuple[tuple[Fault, float], ...]:
        """``(kind, probability)`` pairs in the fixed order the dice are read.

        :attr:`Fault.QUOTA` is not among them: the quota's bucket decides it.
        """
        return tuple((kind, float(getattr(self, kind.value))) for kind in DICE_FAULTS)

    @property
    def quota_capacity(self) -> float:
        """The quota bucket's capacity: ``quota_burst``, or 10 % of ``quota_rps`` (>= 1)."""
        if self.quota_burst is not None:
            return self.quota_burst
        return max(1.0, self.quota_rps * 0.1)

    def to_spec(self) -> str:
        """The :meth:`parse` string for this value (non-default options only).

        ``Faults.parse(f.to_spec()) == f`` for every ``f``.
        """
        parts = []
        for field in attrs.fields(Faults):
            value = getattr(self, field.name)
            if value == field.default:
                continue
            if field.name == "endpoints":
                text = "|".join(name for name in ENDPOINTS if name in value)
            elif isinstance(value, bool):
                text = "1" if value else "0"
            elif isinstance(value, float):
                text = repr(value)
            else:
                text = str(value)
            parts.append(f"{field.name}={text}")
        return ",".join(parts)

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
    if key == "quota_burst" and raw.lower() in ("none", "auto", "default"):
        return None
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


@attrs.frozen
class QuotaDecision:
    """What the quota said about one request, and the headers that say so."""

    admitted: bool
    #: The quota per second, as the integer ``X-RateLimit-Limit`` sends.
    limit: int
    #: Whole tokens left after this request (0 on a refusal).
    remaining: int
    #: Whole seconds (rounded up) until the bucket holds a token again; 0 while one is left.
    reset: int
    #: The ``Retry-After`` of a refusal (``reset``, at least 1); None when admitted.
    retry_after: int | None

    @property
    def headers(self) -> dict[str, str]:
        """``X-RateLimit-Limit/-Remaining/-Reset``, plus ``Retry-After`` on a refusal."""
        out = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }
        if self.retry_after is not None:
            out["Retry-After"] = str(self.retry_after)
        return out


class Quota:
    """Token buckets per key, sans I/O: ``take(key)`` at each request's arrival.

    Each key's bucket starts full (``burst`` tokens) and refills ``rate`` tokens per
    second of ``clock()`` up to ``burst``; a request is admitted if it finds a whole
    token, which it takes. ``clock`` defaults to :func:`time.monotonic`.
    """

    def __init__(
        self, rate: float, burst: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not 0.0 < rate < math.inf:
            raise ValueError(f"rate must be a finite number > 0, got {rate!r}")
        if not 1.0 <= burst < math.inf:
            raise ValueError(f"burst must be a finite number >= 1, got {burst!r}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._limit = max(1, round(rate))
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def tokens(self, key: str) -> float:
        """Tokens ``key``'s bucket holds now (``burst`` for a key never seen)."""
        tokens, at = self._buckets.get(key, (self.burst, None))
        if at is None:
            return tokens
        return min(self.burst, tokens + (self._clock() - at) * self.rate)

    def take(self, key: str) -> QuotaDecision:
        """Admit (and take a token) or refuse one request presented with ``key``."""
        now = self._clock()
        tokens = self.tokens(key)
        admitted = tokens >= 1.0
        if admitted:
            tokens -= 1.0
        self._buckets[key] = (tokens, now)
        reset = math.ceil((1.0 - tokens) / self.rate) if tokens < 1.0 else 0
        return QuotaDecision(
            admitted=admitted,
            limit=self._limit,
            remaining=int(tokens),
            reset=reset,
            retry_after=None if admitted else max(1, reset),
        )


class FaultInjector:
    """Per-request fault decisions for one sandbox: quota, scripts, then seeded dice."""

    def __init__(
        self, faults: Faults, seed: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.faults = faults
        self._rng = random.Random(seed)
        self._scripts: dict[str, deque[Fault | None]] = {name: deque() for name in ENDPOINTS}
        self._server_errors = 0
        self._clock = clock
        self._quota: Quota | None = None

    def admit(self, api_key: object) -> QuotaDecision | None:
        """The quota's decision for a request presenting ``api_key``; None without a quota.

        The buckets are rebuilt (full) when ``quota_rps`` or ``quota_burst`` change.
        """
        faults = self.faults
        if not faults.quota_rps:
            self._quota = None
            return None
        quota, burst = self._quota, faults.quota_capacity
        if quota is None or quota.rate != faults.quota_rps or quota.burst != burst:
            quota = self._quota = Quota(faults.quota_rps, burst, clock=self._clock)
        return quota.take(api_key if isinstance(api_key, str) else "")

    def script(self, endpoint: str, *faults: Fault | None) -> None:
        """Queue the next answers for ``endpoint`` (``None`` = answer normally)."""
        if endpoint not in self._scripts:
            raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {ENDPOINTS}")
        for fault in faults:
            if fault is not None and not isinstance(fault, Fault):
                raise TypeError(f"expected Fault or None, got {fault!r}")
            if fault is Fault.QUOTA:
                raise ValueError("Fault.QUOTA is decided by Faults.quota_rps, not scripted")
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

    @staticmethod
    def quota_response(decision: QuotaDecision) -> web.Response:
        """The 429 answer of a request the quota refused, with its headers."""
        return web.json_response(
            {"data": ["Too many requests"], "status": "error"},
            status=429,
            headers=decision.headers,
        )

    def status_response(self, fault: Fault) -> web.Response:
        """The HTTP answer for a status fault (429/500/502/503; not QUOTA)."""
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
