"""Retry policy for a non-idempotent API: how failures are classified, what a call took.

Every failure is classified once, by :data:`DEFAULT_RULES`, into a :class:`FailureKind`,
by how far the request got:

=========  ===========================================================  =====================
kind       failures                                                      retried?
=========  ===========================================================  =====================
NOT_SENT   ConnectError (refused/reset/DNS), ConnectTimeout (incl.       always
           waiting for a pool slot, or the deadline before sending)
REFUSED    RateLimitError (429), ServerError 503                         always, after
                                                                         ``Retry-After``
FATAL      APIError (any ``{"status": "error"}``), a 3xx/4xx status,      never
           TLSError, ClientClosedError, InvalidArgumentError, a
           BaseException that is not an Exception (cancellation, exit)
AMBIGUOUS  everything else: ReadTimeout, DisconnectedError, any 5xx but   reads: yes; adds: per
           503, a 200 that is not the JSON envelope, an answer that      ``on_ambiguous``
           cannot be parsed, an exception no row names
=========  ===========================================================  =====================

Ambiguous is the default: once a byte of a request may have left, only an answer that
proves it was not applied (the API's own refusal, a 4xx, a 429/503 refusal) makes a
failure anything else. ``fatal`` is for what provably never reached the server or what
the server refused; an exception no table names is never taken for either.

For ``addProfileToContact`` (each call creates a record, no idempotency key) an AMBIGUOUS
failure is *reconciled* before anything is re-sent: the contact is fetched with its
profiles and, if a record with the same source and payload is there, that record is the
call's result. The attempt loop that applies this policy is :mod:`._attempts`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, Literal, Protocol

import attrs

from ._exceptions import ConfigurationError
from ._policy import CODES


class FailureKind(enum.Enum):
    """How far a failed request got, which decides whether re-sending it is safe."""

    NOT_SENT = "not_sent"
    REFUSED = "refused"
    AMBIGUOUS = "ambiguous"
    FATAL = "fatal"

    @property
    def retryable(self) -> bool:
        return self is not FailureKind.FATAL


@attrs.frozen
class Rule:
    """One row of the classification table: errors of ``error`` (and, if given, with one of
    ``statuses``) are of ``kind``. The first matching row wins."""

    error: type[BaseException]
    kind: FailureKind
    statuses: frozenset[int] | None = None

    def matches(self, exc: BaseException) -> bool:
        if not isinstance(exc, self.error):
            return False
        return self.statuses is None or getattr(exc, "status", None) in self.statuses


#: The SDK's table: the retry rows of the error policy's table, in its order.
DEFAULT_RULES: tuple[Rule, ...] = tuple(
    Rule(row.error, FailureKind(row.retry), row.retry_statuses)
    for row in CODES
    if row.retry is not None
)
# No row for the rest: what no row names is AMBIGUOUS (see RetryPolicy.classify).


def _positive(_: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not value > 0:
        raise ConfigurationError(f"{attribute.name} must be > 0 (got {value!r})")


def _at_least(low: float, *, integer: bool = False) -> Callable[[object, Any, Any], None]:
    def check(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        kind = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kind) or not value >= low:
            raise ConfigurationError(f"{attribute.name} must be >= {low} (got {value!r})")

    return check


def _one_of(*choices: str) -> Callable[[object, Any, Any], None]:
    def check(_: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value not in choices:
            raise ConfigurationError(f"{attribute.name} must be one of {choices} (got {value!r})")

    return check


@attrs.frozen(cache_hash=True)  # the retry strategies are cached per policy
class RetryPolicy:
    """How a call is retried. ``ZyntroClient(retry=None)`` or ``max_attempts=1`` disables.

    Backoff is "full jitter": a random wait in ``[0, min(max_backoff, initial_backoff *
    2**n)]``; a server's ``Retry-After`` replaces it. An add whose request got *no answer*
    (a timeout, a dropped connection, a gateway's 502/504) waits at least ``settle_delay``
    before it looks for the record, so a server still working on the lost request can
    finish it first; a failure the API itself answered (a 500) needs no such floor.
    ``deadline`` bounds a whole call (attempts and sleeps); a ``Retry-After`` beyond it
    fails the call at once.
    An add whose outcome is in doubt keeps looking for its record (never re-sending) until
    the contact can be read or ``deadline`` passes, waiting between looks without holding
    a pool slot; a bulk run's ``retry_budget`` limits re-sends, never these looks.
    ``on_ambiguous`` decides what an add does when its request may have been applied:
    ``"reconcile"`` (look before re-sending), ``"retry"`` (re-send blindly; may duplicate)
    or ``"raise"`` (give the caller the ambiguous error).
    """

    max_attempts: int = attrs.field(default=3, validator=_at_least(1, integer=True))
    initial_backoff: float = attrs.field(default=0.1, validator=_positive)
    max_backoff: float = attrs.field(default=8.0, validator=_positive)
    settle_delay: float = attrs.field(default=0.25, validator=_at_least(0))
    jitter: bool = True
    deadline: float | None = attrs.field(default=60.0, validator=_positive)
    on_ambiguous: Literal["reconcile", "retry", "raise"] = attrs.field(
        default="reconcile", validator=_one_of("reconcile", "retry", "raise")
    )
    rules: tuple[Rule, ...] = DEFAULT_RULES

    def classify(self, exc: BaseException) -> FailureKind:
        """The kind of ``exc`` per ``rules`` (the first matching row). When no row matches:
        AMBIGUOUS for an ``Exception`` (nothing proves the request did not reach the
        server), FATAL for a ``BaseException`` that is not one (cancellation, exit: never
        retried)."""
        for rule in self.rules:
            if rule.matches(exc):
                return rule.kind
        return FailureKind.AMBIGUOUS if isinstance(exc, Exception) else FailureKind.FATAL


class RetryTally:
    """Every retry of a run, counted where it is logged: ``scheduled`` (each ``retrying``
    log record) and ``sent`` (those that put a request on the wire); the rest were
    abandoned (the deadline passed first, or the run stopped and cancelled the item)."""

    __slots__ = ("scheduled", "sent")

    def __init__(self) -> None:
        self.scheduled = 0
        self.sent = 0

    @property
    def abandoned(self) -> int:
        return self.scheduled - self.sent


@attrs.define
class RetryStats:
    """What one call took: attempts, retries, seconds slept, and how an ambiguity ended.

    ``retries``: retries scheduled (each one logged as ``retrying``); ``retries_sent``: of
    those, the ones that put a request on the wire (the rest were abandoned).
    ``recovered``: an answer was lost and reconciliation found the applied record.
    ``unknown``: the call failed and *may* have been applied -- only when reconciliation
    was impossible (the contact could not be read) or disabled by ``on_ambiguous``.
    """

    attempts: int = 0
    waited: float = 0.0
    recovered: bool = False
    unknown: bool = False
    retries: int = 0
    retries_sent: int = 0
    #: The run's tally, when the call is part of one (set by the run's operations).
    tally: RetryTally | None = attrs.field(default=None, repr=False, eq=False)
    _pending: bool = attrs.field(default=False, repr=False, eq=False)

    @property
    def retries_abandoned(self) -> int:
        """Retries scheduled (and logged) that never put a request on the wire."""
        return self.retries - self.retries_sent

    def retry_scheduled(self) -> None:
        """A retry is logged and about to wait for its turn: count it."""
        self.retries += 1
        self._pending = True
        if self.tally is not None:
            self.tally.scheduled += 1

    def on_wire(self) -> None:
        """A request of this call goes on the wire: the pending retry, if any, was sent."""
        if self._pending:
            self._pending = False
            self.retries_sent += 1
            if self.tally is not None:
                self.tally.sent += 1


# -- testing switch ------------------------------------------------------------------------

_testing = False


def set_testing(testing: bool = True) -> None:
    """In tests, retry without sleeping: each item's own backoff and ``Retry-After`` sleep
    becomes 0 s.

    Attempts, classification and reconciliation are unchanged, and so are the pool-wide
    decisions of a bulk run (pacing, the ``Retry-After`` gate, deadlines): tests exercise
    the real mechanisms without waiting out backoffs. An add in doubt whose looks keep
    failing waits in real time for the server to answer again (that wait is the mechanism
    under test, and zeroing it would hammer a stalled server until the deadline).
    """
    global _testing
    _testing = testing


def is_testing() -> bool:
    """Whether :func:`set_testing` is on."""
    return _testing


class Budget(Protocol):
    """Shared retry pacing for many calls (a bulk run's flow control)."""

    def allow_retry(self, error: BaseException, kind: FailureKind) -> bool: ...

    def paces(self, kind: FailureKind) -> bool:
        """Whether a retry of this kind waits for the pool's pace rather than using up one
        of the call's attempts (a refusal while the run is paced)."""
        ...

    def own_wait(self, error: BaseException, seconds: float) -> float:
        """How much of the server's ``Retry-After`` of ``seconds`` the item sleeps itself
        (a pool-wide wait is the budget's own, which the next attempt waits out)."""
        ...

    async def pause(self, seconds: float) -> None: ...
