"""The API's two calls with their retries: one paced request, a fetch, the exactly-once add.

This module owns what "add a profile exactly once" means: attempt, classify once, reconcile
before any re-send, pace every request (reconcile fetches included) through the run's flow
control, and spend the run's retry budget on re-sends only: the looks that settle an add
in doubt are never refused for want of budget, and go on (waiting between them without a
request slot) until the contact can be read or the call's deadline passes, so a stalled
server costs time, not items. ``ZyntroClient`` calls it for single calls; the bulk
pipelines receive an :class:`Operations` bound to their run's :class:`FlowControl` and
never reach into the client.

Every request gets a total timeout of at most what is left of its call's deadline, so a
deadline bounds a call even against a server that answers slowly. One paced request, the
fetch, and the exactly-once add (its state across attempts, reconcile, settle) are one
concern -- what a request and a retry may do -- and are kept in one place on purpose.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from . import _telemetry
from ._answers import interpret
from ._config import Credentials
from ._digest import payload_digest
from ._exceptions import (
    ClientClosedError,
    ConnectTimeout,
    DisconnectedError,
    RateLimitError,
    ZyntroError,
)
from ._flow import FlowControl, GateClosed
from ._models import ContactDetails, Profile
from ._payload import apply_default
from ._protocol import Call, add_profile_call, fetch_contact_call
from ._reconcile import find_applied
from ._retry import (
    DEFAULT_RULES,
    FailureKind,
    RetryPolicy,
    RetryStats,
    RetryTally,
    deadline_of,
    kind_of,
    retry_after,
    run_with_retries,
)
from ._transport import Transport

log = logging.getLogger("zyntro_async")

T = TypeVar("T")

_SLACK = 0.01  # seconds a deadline may be overrun rather than build a timeout per request
_ALL_TRIES = 1 << 30  # an add's tries once nothing more may be sent: any max_attempts


class Operations:
    """Calls on one transport with one retry policy, paced by ``flow`` when given."""

    __slots__ = (
        "_credentials",
        "_flow",
        "_json_default",
        "_policy",
        "_rules",
        "_tally",
        "_telemetry",
        "_transport",
    )

    def __init__(
        self,
        transport: Transport,
        credentials: Credentials,
        policy: RetryPolicy | None,
        flow: FlowControl | None = None,
        *,
        json_default: Callable[[Any], Any] | None = None,
    ) -> None:
        self._transport = transport
        self._json_default = json_default
        self._credentials = credentials
        self._policy = policy
        self._rules = DEFAULT_RULES if policy is None else policy.rules
        self._flow = flow
        # Every retry of a run's calls, counted where it is logged (None: not a run).
        self._tally = None if flow is None else RetryTally()
        # Decided here, once: None unless an OpenTelemetry provider is configured.
        self._telemetry = _telemetry.for_transport(transport)

    def paced(self, flow: FlowControl) -> Operations:
        """The same calls, every request paced and budgeted by ``flow``."""
        return Operations(
            self._transport,
            self._credentials,
            self._policy,
            flow,
            json_default=self._json_default,
        )

    def plain(self, payload: T) -> T:
        """``payload`` as it will be sent: with ``json_default`` applied, if there is one
        (the same kind of container; what is inside may have changed type)."""
        default = self._json_default
        return payload if default is None else cast(T, apply_default(payload, default))

    @property
    def policy(self) -> RetryPolicy | None:
        return self._policy

    @property
    def flow(self) -> FlowControl | None:
        return self._flow

    @property
    def request_timeout(self) -> float | None:
        """The longest one request attempt may take (``Timeout.total``; None: unbounded)."""
        return self._transport.total_timeout

    @property
    def tally(self) -> RetryTally | None:
        """The run's retries (for a run's operations, see :meth:`paced`)."""
        return self._tally

    # -- one request --------------------------------------------------------------------------

    async def turn(self, call: Call[Any]) -> float | None:
        """A call's first request waits here for its turn (the gate, a slot, the pace)
        *before* its deadline starts: waiting for one's turn is not a failure. Returns
        the turn's start time, for :meth:`send`'s ``turn``; None when nothing paces."""
        flow = self._flow
        if flow is None:
            return None
        quick = flow.try_acquire()
        if quick is not None:
            return quick
        # The deadline only judges the gate here: one that outlasts a whole deadline
        # fails the call at once.
        return await self._acquire(flow, call, deadline_of(self._policy))

    async def _acquire(
        self, flow: FlowControl, call: Call[Any], deadline_at: float | None
    ) -> float:
        try:
            return await flow.acquire(deadline_at)
        except GateClosed as gate:
            raise RateLimitError(
                f"the server asked every request to wait {gate.wait:.0f} s, past this "
                "call's deadline",
                retry_after=gate.wait,
                endpoint=call.endpoint,
                contact_id=call.contact_id,
            ) from None

    async def send(
        self,
        call: Call[T],
        deadline_at: float | None,
        key: str | None = None,
        attempt: int = 1,
        stats: RetryStats | None = None,
        turn: float | None = None,
    ) -> T:
        """One request: paced, bounded by the deadline, its outcome reported to the flow.

        ``key`` and ``attempt`` only label its log record; ``stats`` learns that a request
        of its call went on the wire (so a pending retry counts as sent); ``turn``: the
        start time :meth:`turn` returned, when this request already has its turn."""
        flow = self._flow
        started = 0.0
        traced = None  # this request's telemetry record, while telemetry is on
        if turn is not None:
            started = turn
        elif flow is not None and (quick := flow.try_acquire()) is not None:
            started = quick  # nothing to wait for: no coroutine
        elif flow is not None:
            started = await self._acquire(flow, call, deadline_at)
        try:
            total = None
            if deadline_at is not None:
                left = deadline_at - time.monotonic()
                if left <= 0:
                    raise ConnectTimeout(
                        "the call's deadline passed before this request was sent",
                        endpoint=call.endpoint,
                        contact_id=call.contact_id,
                    )
                limit = self._transport.total_timeout
                # Shorten the attempt only when the deadline binds; within 10 ms of the
                # pool's own total (a first attempt with deadline == total) the default
                # timeout stands, so the common request builds no per-request timeout.
                if limit is None or left < limit - _SLACK:
                    total = left
            if self._telemetry is not None:
                traced = self._telemetry.request(call)
            if stats is not None:
                stats.on_wire()
            sent = time.monotonic()
            response = await self._transport.post(
                call.endpoint, call.body, contact_id=call.contact_id, total=total
            )
            if log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "%s -> HTTP %d in %.0f ms",
                    call.endpoint,
                    response.status,
                    (time.monotonic() - sent) * 1000,
                    extra=_extra(call, None, key, attempt),
                )
            result = interpret(call, response)
        except BaseException as exc:
            if traced is not None:
                traced.failed(exc)
            if flow is not None:
                flow.release(started, exc, kind_of(exc, self._rules))
            raise
        if traced is not None:
            traced.succeeded()
        if flow is not None:
            flow.release(started, None, None)
        return result

    # -- fetchContact -------------------------------------------------------------------------

    async def fetch_contact(
        self,
        contact_id: object,
        *,
        include_notes: bool = False,
        include_entity: bool = False,
        include_profile: bool = False,
        include_signals: bool = False,
        member_id: str | None = None,
        stats: RetryStats | None = None,
    ) -> ContactDetails:
        call = fetch_contact_call(
            self._credentials,
            contact_id,
            member_id=member_id,
            include_notes=include_notes,
            include_entity=include_entity,
            include_profile=include_profile,
            include_signals=include_signals,
        )
        send = self.send
        stats = counted = RetryStats() if stats is None else stats
        if self._tally is not None:
            stats.tally = self._tally
        flow = self._flow
        first_turn = [None if flow is None else flow.try_acquire()]
        if flow is not None and first_turn[0] is None:
            first_turn[0] = await self.turn(call)

        async def attempt(deadline_at: float | None) -> ContactDetails:
            turn, first_turn[0] = first_turn[0], None
            return await send(call, deadline_at, None, counted.attempts, counted, turn)

        retries = run_with_retries(
            attempt,
            policy=self._policy,
            idempotent=True,
            endpoint=call.endpoint,
            stats=stats,
            budget=self._flow,
            log_fields=_fields(call, None),
        )
        if self._telemetry is not None:
            return await self._telemetry.call(call, stats, retries)  # in the call's span
        return await retries

    # -- addProfileToContact ------------------------------------------------------------------

    def prepare_add(
        self, contact_id: object, payload: object, source: object, *, member_id: object = None
    ) -> Call[Profile]:
        """The add's request, validated locally (raises ``ValidationError``); nothing sent."""
        return add_profile_call(self._credentials, contact_id, payload, source, member_id=member_id)

    async def add_profile(
        self,
        contact_id: object,
        payload: object,
        source: object,
        *,
        member_id: str | None = None,
        stats: RetryStats | None = None,
    ) -> Profile:
        """Add a profile; never sends twice unless the first was shown not applied."""
        payload = self.plain(payload)
        call = self.prepare_add(contact_id, payload, source, member_id=member_id)
        return await self.add(call, payload, source, member_id=member_id, stats=stats)

    async def add(
        self,
        call: Call[Profile],
        payload: object,
        source: object,
        *,
        member_id: str | None = None,
        stats: RetryStats | None = None,
        maybe_applied: bool = False,
        digest: str | None = None,
        key: str | None = None,
    ) -> Profile:
        """Send a prepared add (:meth:`prepare_add`) exactly once.

        ``maybe_applied``: an earlier run sent this very add and never saw the answer (a
        journal says so): reconcile before the first send. ``digest``: the payload's
        digest, if the caller has it. ``key``: the item's key, for log records.
        """
        stats = RetryStats() if stats is None else stats
        if self._tally is not None:
            stats.tally = self._tally
        telemetry = self._telemetry
        if telemetry is not None and telemetry.opens(call):
            # This same method, run inside the call's span (where ``opens`` is False).
            inner = self.add(
                call,
                payload,
                source,
                member_id=member_id,
                stats=stats,
                maybe_applied=maybe_applied,
                digest=digest,
                key=key,
            )
            return await telemetry.call(call, stats, inner)
        policy = self._policy
        deadline_at = deadline_of(policy)
        retries: Awaitable[Profile]
        if maybe_applied:
            add = _Add(self, call, source, payload, member_id, digest, True, stats, key)
            retries = run_with_retries(
                add.attempt,
                policy=policy,
                idempotent=False,
                endpoint=call.endpoint,
                stats=stats,
                budget=self._flow,
                tries=add.tries,
                log_fields=_fields(call, key),
                looks_next=add.looks_next,
            )
        else:
            # Fast path: the first send, before any retry state exists. Its deadline
            # counts from its turn, not from the wait for it.
            stats.attempts += 1
            try:
                flow = self._flow
                turn = None if flow is None else flow.try_acquire()
                if flow is not None and turn is None:
                    turn = await self.turn(call)
                deadline_at = deadline_of(policy)
                return await self.send(call, deadline_at, key, turn=turn)
            except BaseException as exc:
                first = exc
            add = _Add(self, call, source, payload, member_id, digest, False, stats, key)
            add.sent_and_failed(first, deadline_at)
            retries = add.retry(first, deadline_at)
        while True:
            try:
                return await retries
            except ClientClosedError:
                # Closed under us: an add already on the wire may have been applied.
                stats.unknown = add.sends > 0 or maybe_applied
                raise
            except ZyntroError as exc:
                found = await add.settle(exc)
                if found is not None:
                    return found
                # The looks settled it as not applied, with sends and time left: re-send,
                # through the same loop (budgeted, paced, bounded by max_attempts).
                retries = add.retry(exc, add.deadline_at)


class _Add:
    """The state of one exactly-once add across its attempts."""

    __slots__ = (
        "_digest",
        "_ops",
        "absent",
        "call",
        "deadline_at",
        "failed_looks",
        "key",
        "member_id",
        "payload",
        "reconcile",
        "sends",
        "source",
        "spent",
        "stats",
        "unresolved",
    )

    def __init__(
        self,
        ops: Operations,
        call: Call[Profile],
        source: object,
        payload: object,
        member_id: str | None,
        digest: str | None,
        maybe_applied: bool,
        stats: RetryStats,
        key: str | None = None,
    ) -> None:
        policy = ops.policy
        self._ops = ops
        self._digest = digest
        self.call = call
        self.source = source
        self.payload = payload
        self.member_id = member_id
        self.stats = stats
        self.key = key
        self.deadline_at: float | None = None
        self.reconcile = policy is not None and policy.on_ambiguous == "reconcile"
        self.sends = 0
        self.failed_looks = 0
        # The ambiguous failure not yet settled by a reconcile: while set, nothing is sent.
        self.unresolved: ZyntroError | None = None
        # The latest look found no record and nothing was sent since: not applied.
        self.absent = False
        # A look found nothing but the run's retry budget had no re-send left.
        self.spent = False
        if maybe_applied:
            self.unresolved = DisconnectedError(
                "an earlier run sent this add and saw no answer",
                endpoint=call.endpoint,
                contact_id=call.contact_id,
            )

    def tries(self) -> int:
        """Attempts used: sends and failed looks count apart, so a look that fails does not
        take a send away from the add (each is still paced and budgeted)."""
        if self.spent:
            return _ALL_TRIES
        return max(self.sends, self.failed_looks)

    def looks_next(self) -> bool:
        """Whether the next attempt only looks (or sends nothing): the budget is not asked."""
        return self.unresolved is not None or self.spent

    def retry(self, failure: BaseException, deadline_at: float | None) -> Awaitable[Profile]:
        """The retry loop after ``failure``: budgeted, paced, bounded by ``max_attempts``
        and the deadline; looks for the record before any re-send."""
        call = self.call
        return retry_after(
            self.attempt,
            failure,
            policy=self._ops.policy,
            idempotent=False,
            endpoint=call.endpoint,
            stats=self.stats,
            budget=self._ops.flow,
            deadline_at=deadline_at,
            tries=self.tries,
            log_fields=_fields(call, self.key),
            looks_next=self.looks_next,
        )

    async def attempt(self, deadline_at: float | None) -> Profile:
        self.deadline_at = deadline_at
        unresolved = self.unresolved
        if unresolved is not None:
            try:
                found = await self.look(deadline_at)  # a failed look raises the fetch's error
            except BaseException:
                self.failed_looks += 1
                raise
            if found is not None:
                self.stats.recovered = True
                return found
            self.unresolved = None
            self.absent = True
            self.failed_looks = 0  # the contact answered: the looks are settled
            flow = self._ops.flow
            if (
                self.sends > 0
                and flow is not None
                and not flow.allow_retry(unresolved, FailureKind.AMBIGUOUS)
            ):
                # Not applied, and the budget has no re-send left: the add fails truthfully.
                self.spent = True
                raise unresolved
        self.sends += 1
        self.absent = False
        try:
            return await self._ops.send(
                self.call, deadline_at, self.key, self.stats.attempts, self.stats
            )
        except BaseException as exc:
            self.failed(exc)
            raise

    def sent_and_failed(self, exc: BaseException, deadline_at: float | None) -> None:
        """The first send, made before this object existed, failed with ``exc``."""
        self.deadline_at = deadline_at
        self.sends = 1
        self.failed(exc)

    def failed(self, exc: BaseException) -> None:
        if (
            self.reconcile
            and isinstance(exc, ZyntroError)
            and kind_of(exc, self._ops._rules) is FailureKind.AMBIGUOUS
        ):
            self.unresolved = exc

    async def settle(self, exc: ZyntroError) -> Profile | None:
        """The attempts are over and ``exc`` is the last error: say truthfully what happened.

        With the outcome still open, the add keeps looking (:meth:`last_looks`) until the
        contact can be read or its deadline passes; the retry budget is not asked, as it
        limits re-sends only. Returns the record the looks found, or None when they found
        none and the add may still be re-sent (sends and deadline left). A raised error
        means "not applied" whenever the contact could be read, and ``stats.unknown`` is
        set when it could not.
        """
        stats = self.stats
        unresolved = self.unresolved
        if unresolved is None:
            if not self.absent and kind_of(exc, self._ops._rules) is FailureKind.AMBIGUOUS:
                stats.unknown = True  # on_ambiguous="raise"/"retry": the caller's call
            raise exc
        found = await self.last_looks()
        if found is not None:
            stats.recovered = True
            return found
        self.unresolved = None
        self.absent = True
        self.failed_looks = 0
        policy = self._ops.policy
        assert policy is not None  # reconcile needs a policy
        deadline_at = self.deadline_at
        if (
            self.spent
            or self.sends >= policy.max_attempts
            or (deadline_at is not None and time.monotonic() >= deadline_at)
        ):
            raise unresolved from None
        return None

    async def last_looks(self) -> Profile | None:
        """Look until the contact can be read (the record, or None: not applied); raise the
        add's ambiguous error with ``stats.unknown`` once its deadline leaves no time.

        Between looks the add waits without holding a request slot, from ``settle_delay`` doubling
        up to ``max_backoff`` (half of each wait jittered), or the server's ``Retry-After``:
        a stalled server is looked at again a few times a minute, and the add is settled
        soon after it answers again. Without a deadline it looks ``max_attempts`` times.
        """
        ops = self._ops
        policy = ops.policy
        assert policy is not None  # reconcile needs a policy
        unresolved = self.unresolved
        assert unresolved is not None
        wait = max(policy.settle_delay, policy.initial_backoff)
        looks = 0
        while True:
            looks += 1
            try:
                # The deadline bounds the call: the looks get what is left of it.
                return await self.look(self.deadline_at)
            except ZyntroError as exc:
                err = exc
                retry_after = getattr(err, "retry_after", None)
                if isinstance(retry_after, (int, float)):
                    seconds = float(retry_after)
                else:
                    seconds = wait / 2 + random.uniform(0, wait / 2)
                    wait = min(policy.max_backoff, wait * 2)
                deadline_at = self.deadline_at
                if (
                    not kind_of(err, ops._rules).retryable
                    or (deadline_at is None and looks >= policy.max_attempts)
                    or (deadline_at is not None and time.monotonic() + seconds >= deadline_at)
                ):
                    self.stats.unknown = True
                    raise unresolved from None
            self.stats.attempts += 1
            self.stats.retry_scheduled()
            log.warning(
                "retrying the look for %s for contact %r (%s); waiting %.2fs for the server",
                self.call.endpoint,
                self.call.contact_id,
                err.code,
                seconds,
                extra=_extra(self.call, err.code, self.key, self.stats.attempts),
            )
            self.stats.waited += seconds
            # Not the flow's pause: the add holds no request slot while it waits, but it
            # stays one of the run's items at work, so a run does not take ever more
            # items into an outage while the ones in doubt wait for the server.
            await asyncio.sleep(seconds)

    async def look(self, deadline_at: float | None) -> Profile | None:
        """Is the record there already? One paced fetch with profiles; the newest match."""
        call = self.call
        ops = self._ops
        fetch = fetch_contact_call(
            ops._credentials, call.contact_id, include_profile=True, member_id=self.member_id
        )
        try:
            details = await ops.send(fetch, deadline_at, self.key, self.stats.attempts, self.stats)
        except ZyntroError as exc:
            log.warning(
                "could not reconcile %s for contact %r (%s); outcome still unknown",
                call.endpoint,
                call.contact_id,
                exc.code,
                extra=_extra(call, exc.code, self.key, self.stats.attempts),
            )
            raise
        digest = self._digest or payload_digest(self.payload)
        self._digest = digest
        found = find_applied(details.profiles, self.source, digest)
        if found is None:
            log.info(
                "%s for contact %r was not applied; sending it",
                call.endpoint,
                call.contact_id,
                extra=_extra(call, None, self.key, self.stats.attempts),
            )
            return None
        log.info(
            "recovered %s for contact %r: the server had applied it (profile %d)",
            call.endpoint,
            call.contact_id,
            found.id,
            extra=_extra(call, None, self.key, self.stats.attempts),
        )
        return found


def _fields(call: Call[Any], key: str | None) -> dict[str, Any]:
    """What every record about this call carries; the retry loop adds attempt and code."""
    return {
        "zyntro_endpoint": call.endpoint,
        "zyntro_contact_id": call.contact_id,
        "zyntro_key": key,
    }


def _extra(
    call: Call[Any], code: str | None, key: str | None = None, attempt: int | None = None
) -> dict[str, Any]:
    """Structured fields for log records (``extra=``): index them, never parse messages."""
    return {**_fields(call, key), "zyntro_attempt": attempt, "zyntro_code": code}
