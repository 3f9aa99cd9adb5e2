"""Retries that are safe for a non-idempotent API, run on tenacity.

Every failure is classified once, by :data:`DEFAULT_RULES`, into a :class:`FailureKind`:

=========  ===========================================================  =====================
kind       failures                                                      retried?
=========  ===========================================================  =====================
NOT_SENT   ConnectError (refused/reset/DNS), ConnectTimeout (incl.       always
           waiting for a pool slot)
REFUSED    RateLimitError (429), ServerError 503                         always, after
                                                                         ``Retry-After``
AMBIGUOUS  ReadTimeout, DisconnectedError, ServerError 500/502/504, a    reads: yes; adds: per
           200 whose body is not the JSON envelope (a proxy's HTML)      ``on_ambiguous``
FATAL      APIError (any ``{"status": "error"}``), TLSError, other       never
           statuses, ClientClosedError, anything unlisted
=========  ===========================================================  =====================

For ``addProfileToContact`` (each call creates a record, no idempotency key) an AMBIGUOUS
failure is *reconciled* before anything is re-sent: the contact is fetched with its
profiles and, if a record with the same source and payload is there, that record is the
call's result. A new ``AsyncRetrying`` is built per call: tenacity keeps its state on the
instance, which concurrent calls must not share.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol, TypeVar

import attrs
import tenacity as _t

from ._exceptions import (
    APIError,
    ClientClosedError,
    ConnectError,
    ConnectTimeout,
    DisconnectedError,
    RateLimitError,
    ReadTimeout,
    ServerError,
    TLSError,
    ZyntroError,
)

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

    @property
    def retryable(self) -> bool:
        return self.kind.retryable

    def matches(self, exc: BaseException) -> bool:
        if not isinstance(exc, self.error):
            return False
        return self.statuses is None or getattr(exc, "status", None) in self.statuses


DEFAULT_RULES: tuple[Rule, ...] = (
    Rule(APIError, FailureKind.FATAL),
    Rule(ClientClosedError, FailureKind.FATAL),
    Rule(TLSError, FailureKind.FATAL),
    Rule(ConnectError, FailureKind.NOT_SENT),
    Rule(ConnectTimeout, FailureKind.NOT_SENT),
    Rule(RateLimitError, FailureKind.REFUSED),
    Rule(ServerError, FailureKind.REFUSED, statuses=frozenset({503})),
    Rule(ServerError, FailureKind.AMBIGUOUS, statuses=frozenset({200, 500, 502, 504})),
    Rule(ReadTimeout, FailureKind.AMBIGUOUS),
    Rule(DisconnectedError, FailureKind.AMBIGUOUS),
)


def classify(exc: BaseException, rules: tuple[Rule, ...] = DEFAULT_RULES) -> FailureKind:
    """The kind of ``exc`` per ``rules``; FATAL when no row matches."""
    for rule in rules:
        if rule.matches(exc):
            return rule.kind
    return FailureKind.FATAL


def _positive(_: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{attribute.name} must be > 0 (got {value!r})")


@attrs.frozen
class RetryPolicy:
    """How a call is retried. ``ZyntroClient(retry=None)`` or ``max_attempts=1`` disables.

    Backoff is "full jitter": a random wait in ``[0, min(max_backoff, initial_backoff *
    2**n)]``; a server's ``Retry-After`` replaces it. ``deadline`` bounds a whole call
    (attempts and sleeps); a ``Retry-After`` beyond it fails the call at once.
    ``on_ambiguous`` decides what an add does when its request may have been applied:
    ``"reconcile"`` (look before re-sending), ``"retry"`` (re-send blindly; may duplicate)
    or ``"raise"`` (give the caller the ambiguous error).
    """

    max_attempts: int = attrs.field(default=3, validator=attrs.validators.ge(1))
    initial_backoff: float = attrs.field(default=0.5, validator=_positive)
    max_backoff: float = attrs.field(default=8.0, validator=_positive)
    jitter: bool = True
    deadline: float | None = attrs.field(default=60.0, validator=_positive)
    on_ambiguous: Literal["reconcile", "retry", "raise"] = attrs.field(
        default="reconcile", validator=attrs.validators.in_(("reconcile", "retry", "raise"))
    )
    rules: tuple[Rule, ...] = DEFAULT_RULES

    def classify(self, exc: BaseException) -> FailureKind:
        return classify(exc, self.rules)


@attrs.define
class RetryStats:
    """What one call took: attempts, seconds slept, and how an ambiguity ended.

    ``recovered``: an answer was lost and reconciliation found the applied record.
    ``unknown``: the call failed and *may* have been applied -- only when reconciliation
    was impossible (the contact could not be read) or disabled by ``on_ambiguous``.
    """

    attempts: int = 0
    waited: float = 0.0
    recovered: bool = False
    unknown: bool = False

    @property
    def retries(self) -> int:
        return max(0, self.attempts - 1)


# -- testing switch ------------------------------------------------------------------------

_testing = False


def set_testing(testing: bool = True) -> None:
    """In tests, retry without sleeping: every backoff and ``Retry-After`` becomes 0 s.

    Attempts, classification and reconciliation are unchanged, so tests exercise the real
    retry paths without slowing down.
    """
    global _testing
    _testing = testing


def is_testing() -> bool:
    """Whether :func:`set_testing` is on."""
    return _testing


async def _sleep(seconds: float) -> None:
    # Indirection so tests can fake time (tests patch this name).
    await asyncio.sleep(seconds)


class AttemptHooks(Protocol):
    """Shared pacing for many calls (the bulk runner's throttle): each attempt waits for
    ``before_attempt`` (which returns a token, e.g. its start time), reports through
    ``after_attempt`` with that token, and a retry needs ``allow_retry``. A single call
    uses none."""

    async def before_attempt(self) -> float: ...

    def after_attempt(
        self, token: float, error: BaseException | None, kind: FailureKind | None
    ) -> None: ...

    def allow_retry(self, error: BaseException, kind: FailureKind) -> bool: ...


class _StopAtDeadline(_t.stop.stop_base):
    """Stop once the call's deadline (counted from its first attempt) has passed."""

    def __init__(self, deadline: float | None, started: float) -> None:
        self._deadline = deadline
        self._started = started

    def __call__(self, retry_state: _t.RetryCallState) -> bool:
        deadline = self._deadline
        return deadline is not None and time.monotonic() - self._started >= deadline


class _DeadlineReached(Exception):
    """Internal: the next sleep would end past the deadline."""


async def run_with_retries(
    attempt: Callable[[RetryStats, FailureKind | None], Awaitable[T]],
    *,
    policy: RetryPolicy | None,
    idempotent: bool,
    endpoint: str,
    stats: RetryStats,
    hooks: AttemptHooks | None = None,
) -> T:
    """Run ``attempt`` until it succeeds or the policy says stop; re-raise the last error.

    ``attempt`` receives the stats and the kind of the previous failure (None at first), so
    a non-idempotent call can reconcile after an AMBIGUOUS one before re-sending.

    Fast path: the first attempt runs before any tenacity object exists (building them
    costs more than the rest of a call's overhead). A retryable failure starts tenacity,
    which replays that failure as its attempt 1, so backoff and stop rules are tenacity's.
    """
    if hooks is not None:
        attempt = _paced(attempt, hooks, policy)
    started = time.monotonic()
    stats.attempts += 1
    try:
        return await attempt(stats, None)
    except BaseException as exc:
        if policy is None or policy.max_attempts == 1 or not policy.classify(exc).retryable:
            raise
        first = exc
    return await _retry(attempt, first, policy, idempotent, endpoint, stats, hooks, started)


async def _retry(
    attempt: Callable[[RetryStats, FailureKind | None], Awaitable[T]],
    first: BaseException,
    policy: RetryPolicy,
    idempotent: bool,
    endpoint: str,
    stats: RetryStats,
    hooks: AttemptHooks | None,
    started: float,
) -> T:
    previous: list[FailureKind] = []
    backoff = _t.wait_random_exponential(multiplier=policy.initial_backoff, max=policy.max_backoff)
    plain = _t.wait_exponential(multiplier=policy.initial_backoff, max=policy.max_backoff)

    def should_retry(exc: BaseException) -> bool:
        kind = policy.classify(exc)
        previous.append(kind)
        if not kind.retryable:
            return False
        if hooks is not None and not hooks.allow_retry(exc, kind):
            return False
        refuse = kind is FailureKind.AMBIGUOUS and not idempotent and policy.on_ambiguous == "raise"
        return not refuse

    def wait(state: _t.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, (int, float)):
            seconds = float(retry_after)
        else:
            seconds = (backoff if policy.jitter else plain)(state)
        if policy.deadline is not None:
            remaining = policy.deadline - (time.monotonic() - started)
            if seconds > remaining:
                raise _DeadlineReached
        return 0.0 if _testing else seconds

    async def before_sleep(state: _t.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        seconds = state.upcoming_sleep
        stats.waited += seconds
        code = exc.code if isinstance(exc, ZyntroError) else type(exc).__name__
        log.warning(
            "zyntro_async: retrying %s (attempt %d of %d failed: %s, %s); sleeping %.2fs",
            endpoint,
            state.attempt_number,
            policy.max_attempts,
            code,
            previous[-1].value if previous else "?",
            seconds,
        )

    retrying = _t.AsyncRetrying(
        stop=_t.stop_any(
            _t.stop_after_attempt(policy.max_attempts), _StopAtDeadline(policy.deadline, started)
        ),
        wait=wait,
        retry=_t.retry_if_exception(should_retry),
        before_sleep=before_sleep,
        sleep=_sleep,
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
                    return await attempt(stats, previous[-1] if previous else None)
                except BaseException as exc:
                    last = exc
                    raise
    except _DeadlineReached:
        # The server asked us to wait past the deadline: give the caller its answer now.
        raise last from None
    raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover


def _paced(
    attempt: Callable[[RetryStats, FailureKind | None], Awaitable[T]],
    hooks: AttemptHooks,
    policy: RetryPolicy | None,
) -> Callable[[RetryStats, FailureKind | None], Awaitable[T]]:
    rules = DEFAULT_RULES if policy is None else policy.rules

    async def paced(stats: RetryStats, previous: FailureKind | None) -> T:
        token = await hooks.before_attempt()
        try:
            result = await attempt(stats, previous)
        except BaseException as exc:
            hooks.after_attempt(token, exc, classify(exc, rules))
            raise
        hooks.after_attempt(token, None, None)
        return result

    return paced
