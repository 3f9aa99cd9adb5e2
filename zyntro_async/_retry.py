"""Retries that are safe for a non-idempotent API, run on tenacity.

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
call's result. A new ``AsyncRetrying`` is built per call: tenacity keeps its state on the
instance, which concurrent calls must not share.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, Protocol, TypeVar

import attrs
import tenacity as _t

from ._exceptions import ConfigurationError, ZyntroError
from ._policy import CODES

log = logging.getLogger("zyntro_async")

T = TypeVar("T")


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
# No row for the rest: what no row names is AMBIGUOUS (see classify).


def classify(exc: BaseException, rules: tuple[Rule, ...] = DEFAULT_RULES) -> FailureKind:
    """The kind of ``exc`` per ``rules``. When no row matches: AMBIGUOUS for an
    ``Exception`` (nothing proves the request did not reach the server), FATAL for a
    ``BaseException`` that is not one (cancellation, exit: never retried)."""
    for rule in rules:
        if rule.matches(exc):
            return rule.kind
    return FailureKind.AMBIGUOUS if isinstance(exc, Exception) else FailureKind.FATAL


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


@attrs.frozen
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
        return classify(exc, self.rules)


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


def kind_of(exc: BaseException, rules: tuple[Rule, ...] = DEFAULT_RULES) -> FailureKind:
    """``classify``, once per failure: the kind is kept on the exception for the table it
    came from, so the flow control and the retry loop never disagree or pay twice."""
    cached = getattr(exc, "_zyntro_kind", None)
    if cached is not None and cached[0] is rules:
        return cached[1]  # type: ignore[no-any-return]
    kind = classify(exc, rules)
    with contextlib.suppress(AttributeError):  # a built-in exception has no __dict__
        exc._zyntro_kind = (rules, kind)  # type: ignore[attr-defined]
    return kind


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


#: An attempt gets the call's deadline (a ``time.monotonic()`` instant, or None).
Attempt = Callable[["float | None"], Awaitable[T]]


class _StopAfterTries(_t.stop.stop_base):
    """Stop after ``max_attempts`` tries, as the call counts them (default: every attempt)."""

    def __init__(
        self, max_attempts: int, tries: Callable[[], int] | None, paced: list[int]
    ) -> None:
        self._max = max_attempts
        self._tries = tries
        self._paced = paced

    def __call__(self, retry_state: _t.RetryCallState) -> bool:
        used = retry_state.attempt_number if self._tries is None else self._tries()
        return used - self._paced[0] >= self._max


class _StopAtDeadline(_t.stop.stop_base):
    """Stop once the call's deadline has passed."""

    def __init__(self, deadline_at: float | None) -> None:
        self._deadline_at = deadline_at

    def __call__(self, retry_state: _t.RetryCallState) -> bool:
        return self._deadline_at is not None and time.monotonic() >= self._deadline_at


#: Statuses of an ambiguous failure that may leave the request still running on the server:
#: no answer at all (None), or a gateway that gave up on the backend (502, 504).
_UNSETTLED = frozenset({None, 502, 504})


class _DeadlineReached(Exception):
    """Internal: the next sleep would end past the deadline."""


async def run_with_retries(
    attempt: Attempt[T],
    *,
    policy: RetryPolicy | None,
    idempotent: bool,
    endpoint: str,
    stats: RetryStats,
    budget: Budget | None = None,
    tries: Callable[[], int] | None = None,
    log_fields: Mapping[str, object] | None = None,
    looks_next: Callable[[], bool] | None = None,
) -> T:
    """Run ``attempt`` until it succeeds or the policy says stop; re-raise the last error.

    ``tries`` says how many of ``policy.max_attempts`` the call has used, when not every
    attempt counts as one (an add counts its sends, and its failed looks, apart).
    ``looks_next`` says whether the next attempt only looks (an add in doubt reads the
    contact before anything is re-sent): such a retry is not taken from ``budget``, which
    limits re-sends, never the looks that keep an add exactly-once.

    The deadline (``policy.deadline`` from now) is passed to every attempt, which bounds
    its requests by it. Fast path: the first attempt runs before any tenacity object
    exists (building them costs more than the rest of a call's overhead); a retryable
    failure starts tenacity, which replays that failure as its attempt 1, so stop, wait
    and retry decisions are tenacity's strategies.
    """
    deadline_at = deadline_of(policy)
    stats.attempts += 1
    try:
        return await attempt(deadline_at)
    except BaseException as exc:
        first = exc
    return await retry_after(
        attempt,
        first,
        policy=policy,
        idempotent=idempotent,
        endpoint=endpoint,
        stats=stats,
        budget=budget,
        deadline_at=deadline_at,
        tries=tries,
        log_fields=log_fields,
        looks_next=looks_next,
    )


def deadline_of(policy: RetryPolicy | None) -> float | None:
    """The ``time.monotonic()`` instant a call started now must end by (None: no deadline)."""
    deadline = None if policy is None else policy.deadline
    return None if deadline is None else time.monotonic() + deadline


async def retry_after(
    attempt: Attempt[T],
    first: BaseException,
    *,
    policy: RetryPolicy | None,
    idempotent: bool,
    endpoint: str,
    stats: RetryStats,
    budget: Budget | None,
    deadline_at: float | None,
    tries: Callable[[], int] | None = None,
    log_fields: Mapping[str, object] | None = None,
    looks_next: Callable[[], bool] | None = None,
) -> T:
    """Go on after a first attempt (already counted in ``stats``) failed with ``first``:
    re-raise it if it is not retryable, else retry as :func:`run_with_retries` does."""
    if policy is None or policy.max_attempts == 1 or not kind_of(first, policy.rules).retryable:
        raise first
    if looks_next is not None and budget is not None:
        budget = _LooksFree(budget, looks_next)
    return await _retry(
        attempt, first, policy, idempotent, endpoint, stats, budget, deadline_at, tries, log_fields
    )


class _LooksFree:
    """A budget that lets a retry through without charge when it will only look."""

    __slots__ = ("_budget", "_looks_next")

    def __init__(self, budget: Budget, looks_next: Callable[[], bool]) -> None:
        self._budget = budget
        self._looks_next = looks_next

    def allow_retry(self, error: BaseException, kind: FailureKind) -> bool:
        return self._looks_next() or self._budget.allow_retry(error, kind)

    def paces(self, kind: FailureKind) -> bool:
        return self._budget.paces(kind)

    def own_wait(self, error: BaseException, seconds: float) -> float:
        return self._budget.own_wait(error, seconds)

    async def pause(self, seconds: float) -> None:
        await self._budget.pause(seconds)


async def _retry(
    attempt: Attempt[T],
    first: BaseException,
    policy: RetryPolicy,
    idempotent: bool,
    endpoint: str,
    stats: RetryStats,
    budget: Budget | None,
    deadline_at: float | None,
    tries: Callable[[], int] | None,
    log_fields: Mapping[str, object] | None,
) -> T:
    rules = policy.rules
    fields = dict(log_fields) if log_fields is not None else {"zyntro_endpoint": endpoint}
    backoff = (
        _t.wait_random_exponential(multiplier=policy.initial_backoff, max=policy.max_backoff)
        if policy.jitter
        else _t.wait_exponential(multiplier=policy.initial_backoff, max=policy.max_backoff)
    )

    paced = [0]  # refusals re-sent in the pool's pace, which use up no attempt

    def failure(state: _t.RetryCallState) -> BaseException:
        assert state.outcome is not None
        exc = state.outcome.exception()
        assert exc is not None
        return exc

    async def should_retry(state: _t.RetryCallState) -> bool:
        if state.outcome is None or not state.outcome.failed:
            return False
        exc = failure(state)
        kind = kind_of(exc, rules)
        if not kind.retryable:
            return False
        if kind is FailureKind.AMBIGUOUS and not idempotent and policy.on_ambiguous == "raise":
            return False
        if budget is None:
            return True
        if budget.paces(kind):
            paced[0] += 1  # waits for its turn: not one of the call's attempts
        return budget.allow_retry(exc, kind)

    async def wait(state: _t.RetryCallState) -> float:
        exc = failure(state)
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, (int, float)):
            seconds = float(retry_after)  # the server's word replaces our backoff
            if budget is not None:
                seconds = budget.own_wait(exc, seconds)
        else:
            seconds = backoff(state)
            if (
                not idempotent
                and getattr(exc, "status", None) in _UNSETTLED
                and kind_of(exc, rules) is FailureKind.AMBIGUOUS
            ):
                seconds = max(seconds, policy.settle_delay)
        if deadline_at is not None and time.monotonic() + seconds > deadline_at:
            raise _DeadlineReached
        return 0.0 if _testing else seconds

    async def before_sleep(state: _t.RetryCallState) -> None:
        exc = failure(state)
        seconds = state.upcoming_sleep
        stats.waited += seconds
        stats.retry_scheduled()
        code = exc.code if isinstance(exc, ZyntroError) else type(exc).__name__
        log.warning(
            "retrying %s (attempt %d of %d failed: %s, %s); sleeping %.2fs",
            endpoint,
            state.attempt_number,
            policy.max_attempts,
            code,
            kind_of(exc, rules).value,
            seconds,
            extra={**fields, "zyntro_attempt": state.attempt_number, "zyntro_code": code},
        )

    stop_rule = _StopAfterTries(policy.max_attempts, tries, paced) | _StopAtDeadline(deadline_at)

    async def stop(state: _t.RetryCallState) -> bool:
        return stop_rule(state)

    retrying = _t.AsyncRetrying(
        # AsyncRetrying awaits async strategies (tenacity >= 8.3); its stubs type only sync ones.
        stop=stop,  # type: ignore[arg-type]
        wait=wait,  # type: ignore[arg-type]
        retry=should_retry,
        before_sleep=before_sleep,
        sleep=budget.pause if budget is not None else _sleep,
        reraise=True,
    )
    last: BaseException = first
    try:
        async for try_ in retrying:
            with try_:
                if try_.retry_state.attempt_number == 1:
                    raise first  # replay the fast path's failure as tenacity's attempt 1
                stats.attempts += 1
                try:
                    return await attempt(deadline_at)
                except BaseException as exc:
                    last = exc
                    raise
    except _DeadlineReached:
        # The server asked us to wait past the deadline: give the caller its answer now.
        raise last from None
    raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)
