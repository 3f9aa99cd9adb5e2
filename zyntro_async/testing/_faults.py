"""What can go wrong in the sandbox: :class:`Fault` kinds and the :class:`Faults` setting.

A :class:`Faults` value describes what can go wrong (latency, and per-kind
probabilities of the :class:`Fault` answers) and the per-key quota; it parses from and
prints to the CLI's ``--faults`` string. The injector (:mod:`._injector`) decides per
request from a ``random.Random(seed)``, so a failing run replays exactly with the same
seed and the same request order; the quota's limiters are :mod:`._quota`.

The quota comes in the shapes real gateways enforce (``quota_shape``), answers with the
status, body and headers they send (``quota_status``, ``quota_body``, ``quota_headers``),
at the edge before the backend's latency or after it (``quota_instant``). For example,
nginx's ``limit_req zone=... rate=300r/s burst=30 nodelay`` with its default
``limit_req_status 503``::

    Faults(quota_rps=300, quota_burst=30, quota_shape="leaky_bucket", quota_status=503,
           quota_body="html", quota_headers="none", quota_instant=True, latency=0.005)

and a Python web app's ``limits`` fixed window of 6,000 per minute::

    Faults(quota_rps=100, quota_shape="fixed_window", quota_window=60,
           quota_headers="retry_after")

Status faults (429/500/502/503) answer before any state change; the
``*_AFTER_COMMIT`` faults let the request commit (an addProfileToContact
profile IS stored) and then lose the answer. Fault bodies are invented (the docs
show none): 429 and the JSON 500 carry the error envelope under a non-200 status,
502/503 are nginx-style HTML pages.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from typing import Any, Final

import attrs

from ._quota import QUOTA_SHAPES
from ._wire import ENDPOINTS


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
    #: A refusal by the per-key quota (``Faults.quota_rps``; 429 or 503 as
    #: ``Faults.quota_status`` says): decided by the quota's limiter, never by the dice
    #: or a script; counted in the stats like the other kinds.
    QUOTA = "quota"

    @property
    def is_status(self) -> bool:
        """True for faults answered with an HTTP error status before any state change."""
        return self not in (Fault.DROP_AFTER_COMMIT, Fault.TIMEOUT_AFTER_COMMIT)


#: The kinds the dice choose from (and scripts may queue), in the order they are read.
DICE_FAULTS: Final[tuple[Fault, ...]] = tuple(kind for kind in Fault if kind is not Fault.QUOTA)

_SERVER_ERROR_BODIES: Final = ("json", "text", "alternate")
_QUOTA_BODIES: Final = ("json", "html")
_QUOTA_HEADERS: Final = ("all", "retry_after", "none")
_QUOTA_STATUSES: Final = (429, 503)
_BOOLEAN_FIELDS: Final = frozenset({"unavailable_retry_after", "quota_instant"})
_TEXT_FIELDS: Final = frozenset({"server_error_body", "quota_shape", "quota_body", "quota_headers"})


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
    if value is not None and not 0.0 <= value < math.inf:
        raise ValueError(f"{attribute.name} must be a finite number >= 0 (or None), got {value!r}")


def _window(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 < value < math.inf:  # also rejects NaN
        raise ValueError(f"{attribute.name} must be a finite number > 0, got {value!r}")


def _to_status(value: int | float | str) -> int:
    number = float(value)
    if number != int(number):
        raise ValueError(f"quota_status must be an integer status, got {value!r}")
    return int(number)


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
    #: The token bucket's capacity (>= 1), or nginx's ``burst`` for the leaky bucket
    #: (>= 0); None = 10 % of ``quota_rps``, at least 1. The windows ignore it.
    quota_burst: float | None = attrs.field(
        default=None, converter=_to_optional_float, validator=_burst
    )
    #: How the quota counts (see :mod:`._quota`): ``"token_bucket"`` (API gateways),
    #: ``"leaky_bucket"`` (nginx ``limit_req ... nodelay``), ``"sliding_window"`` (refused
    #: requests count too) or ``"fixed_window"`` (``limits``-style, ``Retry-After`` to the
    #: window's end).
    quota_shape: str = attrs.field(
        default="token_bucket", validator=attrs.validators.in_(QUOTA_SHAPES)
    )
    #: The windows' length in seconds (1 = per second, 60 = per minute); each window
    #: admits ``quota_rps * quota_window`` requests (rounded, at least 1).
    quota_window: float = attrs.field(default=1.0, converter=_to_float, validator=_window)
    #: The refusal's status: 429, or 503 (nginx's default ``limit_req_status``).
    quota_status: int = attrs.field(
        default=429, converter=_to_status, validator=attrs.validators.in_(_QUOTA_STATUSES)
    )
    #: The refusal's body: ``"json"`` (the API's error envelope) or ``"html"`` (nginx's
    #: error page for the status, ``text/html``).
    quota_body: str = attrs.field(default="json", validator=attrs.validators.in_(_QUOTA_BODIES))
    #: Which headers the quota sends: ``"all"`` (``X-RateLimit-Limit/-Remaining/-Reset`` on
    #: every answer, ``Retry-After`` on refusals), ``"retry_after"`` (``Retry-After`` on
    #: refusals only) or ``"none"`` (nothing: nginx's ``limit_req``).
    quota_headers: str = attrs.field(default="all", validator=attrs.validators.in_(_QUOTA_HEADERS))
    #: Refuse at the edge, at once (as a gateway in front of the backend does), instead of
    #: after ``latency`` and ``jitter`` like the backend's own answers.
    quota_instant: bool = False

    def __attrs_post_init__(self) -> None:
        total = sum(p for _, p in self.probabilities)
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault probabilities sum to {total:g}, more than 1")
        burst = self.quota_burst
        if self.quota_shape == "token_bucket" and burst is not None and burst < 1.0:
            raise ValueError(f"quota_burst of a token bucket must be >= 1, got {burst!r}")

    @property
    def probabilities(self) -> tuple[tuple[Fault, float], ...]:
        """``(kind, probability)`` pairs in the fixed order the dice are read.

        :attr:`Fault.QUOTA` is not among them: the quota's bucket decides it.
        """
        return tuple((kind, float(getattr(self, kind.value))) for kind in DICE_FAULTS)

    @property
    def quota_capacity(self) -> float:
        """The bucket's ``burst``: ``quota_burst``, or 10 % of ``quota_rps`` (>= 1)."""
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
    if key in _TEXT_FIELDS:
        return raw
    if key == "quota_burst" and raw.lower() in ("none", "auto", "default"):
        return None
    if key in _BOOLEAN_FIELDS:
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
