"""One call's attempt loop: ``async for attempt in attempts: with attempt: return await ...``.

The shape is tenacity's and stamina's (an iterator of context managers, the body run once
per attempt), with the state kept here, per call: each failure is classified by the
policy's rules (the same answer wherever it is asked), and the decision to retry is taken
in one place, :meth:`Attempts._retry`, in this order:

1. the kind: FATAL is never retried; an AMBIGUOUS add is not when ``on_ambiguous`` is
   ``"raise"``;
2. the run's budget (when the call belongs to one): a refusal while the pool is paced
   waits for its turn and uses up none of the call's attempts; any other retry is taken
   from the budget, unless the next attempt only looks for an add's record (:attr:`free`);
3. the wait: the server's ``Retry-After`` (the part the item sleeps itself), else full
   jitter backoff; an add whose request got no answer waits at least ``settle_delay``;
4. the deadline and the attempts: a wait that would end past the deadline, or
   ``max_attempts`` used (paced refusals not counted), ends the loop with the failure.

A failure the loop does not retry leaves the ``with`` block as it was raised.

The waits and stops are tenacity's strategies, built once per policy (an ``AsyncRetrying``
of ``stop_after_attempt | stop_before_delay`` and ``wait_random_exponential``) and read
with a ``RetryCallState`` the call makes at its first failure. The loop around them is
this small state machine rather than a tenacity ``AsyncRetrying`` per call: that object's
per-iteration action list and thread-safe result future would cost every call, also one
that succeeds at once, and the run's budget and pacing decide between the strategies.

The loop keeps no failure: an exception's traceback holds the frames of the attempt,
which hold this loop, so a failure kept here would make a reference cycle of every
retried attempt, left for the cyclic garbage collector. The state the strategies read is
the attempt's number and the time of its failure (``outcome_timestamp``), not its
outcome.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential,
    wait_random_exponential,
)
from tenacity.stop import stop_base

from ._exceptions import ZyntroError
from ._retry import Budget, FailureKind, RetryPolicy, RetryStats, is_testing

if TYPE_CHECKING:
    from ._protocol import Call

log = logging.getLogger("zyntro_async")

#: Statuses of an ambiguous failure that may leave the request still running on the server:
#: no answer at all (None), or a gateway that gave up on the backend (502, 504).
_UNSETTLED = frozenset({None, 502, 504})

#: Classifies with the default rules when a call has no policy (it is never retried).
_NO_RETRY = RetryPolicy(max_attempts=1)


@functools.lru_cache(maxsize=64)
def _retrying(policy: RetryPolicy) -> AsyncRetrying:
    """``policy`` in tenacity's terms: stop when ``max_attempts`` are used or the next wait
    reaches the deadline; back off with full jitter, uniform in ``[0, min(max_backoff,
    initial_backoff * 2**(n-1))]``. The loop reads these strategies; it does not iterate
    this object."""
    stop: stop_base = stop_after_attempt(policy.max_attempts)
    if policy.deadline is not None:
        stop = stop | stop_before_delay(policy.deadline)
    backoff = wait_random_exponential if policy.jitter else wait_exponential
    return AsyncRetrying(
        stop=stop,
        wait=backoff(multiplier=policy.initial_backoff, max=policy.max_backoff),
        reraise=True,
    )


def deadline_of(policy: RetryPolicy | None) -> float | None:
    """The ``time.monotonic()`` instant a call started now must end by (None: no deadline)."""
    deadline = None if policy is None else policy.deadline
    return None if deadline is None else time.monotonic() + deadline


def log_fields(call: Call[Any], key: str | None) -> dict[str, Any]:
    """What every record about this call carries; a retry's record adds attempt and code."""
    return {
        "zyntro_endpoint": call.endpoint,
        "zyntro_contact_id": call.contact_id,
        "zyntro_key": key,
    }


class Attempts:
    """One call's attempts under ``policy``: iterate it, run each attempt in ``with``
    (the object is its own attempt: one runs at a time).

    ``used`` counts the attempts that use up ``max_attempts`` (each attempt, unless the
    caller sets it: an add counts its sends and its failed looks apart); ``free``: the
    next retry only looks, so the run's budget is not asked for it."""

    #: Whether the call may be sent again whatever became of a send (a read may; an add,
    #: :class:`~._add.AddOnce`, may not).
    idempotent: ClassVar[bool] = True

    __slots__ = (
        "_judged",
        "_kind",
        "_policy",
        "_sleep",
        "_state",
        "budget",
        "call",
        "deadline_at",
        "free",
        "key",
        "number",
        "paced",
        "stats",
        "used",
    )

    def __init__(
        self,
        policy: RetryPolicy | None,
        call: Call[Any],
        stats: RetryStats,
        budget: Budget | None = None,
        key: str | None = None,
    ) -> None:
        self._policy = policy
        self.call = call
        self.stats = stats
        self.budget = budget
        self.key = key
        deadline = None if policy is None else policy.deadline
        self.deadline_at = None if deadline is None else time.monotonic() + deadline
        self.number = 0  # attempts started
        self.used = 0
        self.paced = 0  # refusals re-sent in the pool's pace: they use up no attempt
        self.free = False
        self._sleep: float | None = None  # the wait before the next attempt, once decided
        # A kind given for the next decision about one error (see :meth:`failed`).
        self._judged: BaseException | None = None
        self._kind = FailureKind.FATAL
        self._state: RetryCallState | None = None  # made at the first failure

    # -- the loop ----------------------------------------------------------------------------

    def __aiter__(self) -> Attempts:
        return self

    async def __anext__(self) -> Attempts:
        if self.number:
            seconds = self._sleep
            if seconds is None:  # the last attempt succeeded, or its failure was raised
                raise StopAsyncIteration
            self._sleep = None
            budget = self.budget
            if budget is not None:
                await budget.pause(seconds)
            else:
                await _sleep(seconds)
        self.number += 1
        self.used += 1
        self.stats.attempts += 1
        return self  # the attempt: a context manager, one at a time

    def __enter__(self) -> Attempts:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        """A failure leaving the attempt is either retried (suppressed: the loop goes on
        after its wait) or raised as it is."""
        return exc is not None and self._retry(exc)

    def resume(self, failure: BaseException) -> bool:
        """Go on after ``failure`` ended the loop, if the policy allows another attempt
        (an add whose looks showed it was not applied): True when the loop goes on."""
        return self._retry(failure)

    # -- classification ----------------------------------------------------------------------

    def failed(self, error: BaseException, kind: FailureKind) -> None:
        """``error`` is about to leave an attempt as a failure of ``kind``, whatever the
        rules would call it: the next decision about it reads ``kind`` (and forgets it)."""
        self._judged = error
        self._kind = kind

    def kind_of(self, error: BaseException) -> FailureKind:
        """The kind of this call's failure ``error``, by the policy's rules."""
        if error is self._judged:
            return self._kind
        return (self._policy or _NO_RETRY).classify(error)

    # -- the decision ------------------------------------------------------------------------

    def _retry(self, error: BaseException) -> bool:
        """Whether to attempt again after ``error``; if so the wait is set and logged."""
        policy = self._policy
        kind = self.kind_of(error)
        self._judged = None
        if policy is None or policy.max_attempts == 1 or not kind.retryable:
            return False
        if kind is FailureKind.AMBIGUOUS and not self.idempotent and policy.on_ambiguous == "raise":
            return False
        budget = self.budget
        if budget is not None:
            if budget.paces(kind):
                self.paced += 1  # waits for its turn: not one of the call's attempts
            if not (self.free or budget.allow_retry(error, kind)):
                return False
        retrying = _retrying(policy)
        state = self._tenacity_state(retrying, policy)
        seconds = self._wait(policy, error, kind, retrying, state)
        state.upcoming_sleep = seconds
        if retrying.stop(
            state
        ):  # max_attempts used (paced refusals not counted), or past the deadline
            return False
        if is_testing():
            seconds = 0.0
        self._sleep = seconds
        stats = self.stats
        stats.waited += seconds
        stats.retry_scheduled()
        code = error.code if isinstance(error, ZyntroError) else type(error).__name__
        log.warning(
            "retrying %s (attempt %d of %d failed: %s, %s); sleeping %.2fs",
            self.call.endpoint,
            self.number,
            policy.max_attempts,
            code,
            kind.value,
            seconds,
            extra={
                **log_fields(self.call, self.key),
                "zyntro_attempt": self.number,
                "zyntro_code": code,
            },
        )
        return True

    def _tenacity_state(self, retrying: AsyncRetrying, policy: RetryPolicy) -> RetryCallState:
        """The call's state as tenacity's strategies read it: the failed attempt's number
        (paced refusals not counted), the time since the call started (its failure is
        now). Not the failure itself: nothing here reads it (see the module's doc)."""
        state = self._state
        if state is None:
            state = self._state = RetryCallState(retrying, None, (), {})
            if self.deadline_at is not None and policy.deadline is not None:
                state.start_time = self.deadline_at - policy.deadline
        state.attempt_number = self.used - self.paced
        state.outcome_timestamp = time.monotonic()
        return state

    def _wait(
        self,
        policy: RetryPolicy,
        error: BaseException,
        kind: FailureKind,
        retrying: AsyncRetrying,
        state: RetryCallState,
    ) -> float:
        """Seconds before the next attempt: the server's ``Retry-After`` replaces backoff."""
        retry_after = getattr(error, "retry_after", None)
        if isinstance(retry_after, (int, float)):
            seconds = float(retry_after)
            budget = self.budget
            return seconds if budget is None else budget.own_wait(error, seconds)
        number = state.attempt_number
        state.attempt_number = self.number  # backoff grows with every attempt made
        seconds = float(retrying.wait(state))
        state.attempt_number = number
        if (
            not self.idempotent
            and kind is FailureKind.AMBIGUOUS
            and getattr(error, "status", None) in _UNSETTLED
        ):
            seconds = max(seconds, policy.settle_delay)
        return seconds


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)
