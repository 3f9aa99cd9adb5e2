"""The API's two calls with their retries: one paced request, a fetch, the exactly-once add.

This module owns what "add a profile exactly once" means: attempt, classify once, reconcile
before any re-send, pace every request (reconcile fetches included) through the run's flow
control, and spend the run's retry budget on re-sends only: the looks that settle an add
in doubt are never refused for want of budget, and go on (waiting between them without a
request slot) until the contact can be read or the call's deadline passes, so a stalled
server costs time, not items. ``ZyntroClient`` calls it for single calls; the bulk
pipelines receive an :class:`Operations` bound to their run's :class:`FlowControl` and
never reach into the client.

The call path: a call waits for its first turn (:meth:`Operations.turn`), then runs its
attempt loop (:class:`~._attempts.Attempts`; an add's is :class:`~._add.AddOnce`), each
attempt one :meth:`Operations.send` (an add's attempt may look first); telemetry, when
on, wraps the loop in the call's span. :meth:`Operations.send` is the one place a request
is made: paced, bounded by what is left of the call's deadline (so a deadline bounds a
call even against a server that answers slowly), with the call's own :class:`Timeout`,
and its failure classified there for the flow control (the attempt loop asks the same
rules).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, cast

from . import _telemetry
from ._add import AddOnce, extra
from ._answers import interpret
from ._attempts import Attempts, deadline_of
from ._config import Credentials, Timeout
from ._exceptions import ClientClosedError, ConnectTimeout, RateLimitError
from ._flow import FlowControl, GateClosed
from ._models import ContactDetails, Profile
from ._payload import apply_default
from ._protocol import Call, add_profile_call, fetch_contact_call
from ._retry import RetryPolicy, RetryStats, RetryTally
from ._transport import Lease, Transport

log = logging.getLogger("zyntro_async")

T = TypeVar("T")

_SLACK = 0.01  # seconds a deadline may be overrun rather than build a timeout per request


class Operations:
    """Calls on one transport with one retry policy, paced by ``flow`` when given (read
    it, never set it: :meth:`paced` gives operations with another).

    ``timeout``: the calls' own :class:`Timeout` (None: the transport's); ``lease``: the
    client's use of a shared transport, refused once that client is closed."""

    __slots__ = (
        "_credentials",
        "_json_default",
        "_lease",
        "_limit",
        "_policy",
        "_tally",
        "_telemetry",
        "_timeout",
        "_transport",
        "flow",
    )

    def __init__(
        self,
        transport: Transport,
        credentials: Credentials,
        policy: RetryPolicy | None,
        flow: FlowControl | None = None,
        *,
        json_default: Callable[[Any], Any] | None = None,
        timeout: Timeout | None = None,
        lease: Lease | None = None,
    ) -> None:
        self._transport = transport
        self._json_default = json_default
        self._credentials = credentials
        self._policy = policy
        self.flow = flow
        self._timeout = timeout
        self._lease = lease
        # The longest one request may take (``Timeout.total``; None: unbounded).
        self._limit = transport.total_timeout if timeout is None else timeout.total
        # Every retry of a run's calls, counted where it is logged (None: not a run).
        self._tally = None if flow is None else RetryTally()
        # Decided here, once: None unless an OpenTelemetry provider is configured.
        self._telemetry = _telemetry.for_transport(transport)

    def paced(self, flow: FlowControl) -> Operations:
        """The same calls, every request paced and budgeted by ``flow``."""
        return self._with(self._policy, self._timeout, flow)

    def evolve(self, policy: RetryPolicy | None, timeout: Timeout | None) -> Operations:
        """The same calls with another retry policy and timeout (a call's own options)."""
        return self._with(policy, timeout, self.flow)

    def _with(
        self, policy: RetryPolicy | None, timeout: Timeout | None, flow: FlowControl | None
    ) -> Operations:
        return Operations(
            self._transport,
            self._credentials,
            policy,
            flow,
            json_default=self._json_default,
            timeout=timeout,
            lease=self._lease,
        )

    @property
    def converts(self) -> bool:
        """Whether :meth:`plain` may change a payload (a ``json_default`` is set)."""
        return self._json_default is not None

    def plain(self, payload: T) -> T:
        """``payload`` as it will be sent: with ``json_default`` applied, if there is one
        (the same kind of container; what is inside may have changed type)."""
        default = self._json_default
        return payload if default is None else cast(T, apply_default(payload, default))

    @property
    def credentials(self) -> Credentials:
        return self._credentials

    @property
    def policy(self) -> RetryPolicy | None:
        return self._policy

    @property
    def request_timeout(self) -> float | None:
        """The longest one request attempt may take (``Timeout.total``; None: unbounded)."""
        return self._limit

    @property
    def tally(self) -> RetryTally | None:
        """The run's retries (for a run's operations, see :meth:`paced`)."""
        return self._tally

    # -- one request --------------------------------------------------------------------------

    async def turn(self, flow: FlowControl, call: Call[Any]) -> float:
        """A call's first request waits here for its turn (the gate, a slot, the pace)
        when ``flow.try_acquire()`` had none at once, *before* the call's deadline starts:
        waiting for one's turn is not a failure. Returns the turn's start time, for
        :meth:`send`'s ``turn``."""
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

    async def send(self, call: Call[T], attempts: Attempts, turn: float | None = None) -> T:
        """One request of the call whose loop is ``attempts``: paced, bounded by the
        call's deadline, its outcome (and a failure's kind) reported to the flow.
        ``turn``: the start time :meth:`turn` returned, when this request already has
        its turn."""
        flow = self.flow
        deadline_at = attempts.deadline_at
        stats = attempts.stats
        started = 0.0
        traced = None  # this request's telemetry record, while telemetry is on
        if turn is not None:
            started = turn
        elif flow is not None and (quick := flow.try_acquire()) is not None:
            started = quick  # nothing to wait for: no coroutine
        elif flow is not None:
            started = await self._acquire(flow, call, deadline_at)
        try:
            lease = self._lease
            if lease is not None and lease.closed:
                raise ClientClosedError(
                    "the client is closed", endpoint=call.endpoint, contact_id=call.contact_id
                )
            total = None
            if deadline_at is not None:
                left = deadline_at - time.monotonic()
                if left <= 0:
                    raise ConnectTimeout(
                        "the call's deadline passed before this request was sent",
                        endpoint=call.endpoint,
                        contact_id=call.contact_id,
                    )
                limit = self._limit
                # Shorten the attempt only when the deadline binds; within 10 ms of the
                # timeout's own total (a first attempt with deadline == total) the
                # timeout stands, so the common request builds no per-request timeout.
                if limit is None or left < limit - _SLACK:
                    total = left
            if self._telemetry is not None:
                traced = self._telemetry.request(call)
            stats.on_wire()
            debug = log.isEnabledFor(logging.DEBUG)
            sent = time.monotonic() if debug else 0.0
            response = await self._transport.post(
                call.endpoint, call.body, call.contact_id, total, self._timeout
            )
            if debug:
                log.debug(
                    "%s -> HTTP %d in %.0f ms",
                    call.endpoint,
                    response.status,
                    (time.monotonic() - sent) * 1000,
                    extra=extra(call, None, attempts.key, stats.attempts),
                )
            result = interpret(call, response)
        except BaseException as exc:
            if traced is not None:
                traced.failed(exc)
            if flow is not None:
                flow.release(started, exc, attempts.kind_of(exc))
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
        flow = self.flow
        turn = None if flow is None else flow.try_acquire()
        if flow is not None and turn is None:
            turn = await self.turn(flow, call)
        stats = RetryStats() if stats is None else stats
        if self._tally is not None:
            stats.tally = self._tally
        attempts = Attempts(self._policy, call, stats, flow)
        if self._telemetry is not None:
            return await self._telemetry.call(call, attempts.stats, self._fetch(attempts, turn))
        return await self._fetch(attempts, turn)

    async def _fetch(self, attempts: Attempts, turn: float | None) -> ContactDetails:
        call: Call[ContactDetails] = attempts.call
        async for attempt in attempts:
            with attempt:
                return await self.send(call, attempts, turn)
            turn = None
        raise AssertionError("unreachable: a failure not retried is raised")  # pragma: no cover

    # -- addProfileToContact ------------------------------------------------------------------

    def prepare_add(
        self, contact_id: object, payload: object, source: object, member_id: object = None
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
        call = self.prepare_add(contact_id, self.plain(payload), source, member_id=member_id)
        return await self.add(call, stats=stats)

    def add(
        self,
        call: Call[Profile],
        stats: RetryStats | None = None,
        maybe_applied: bool = False,
        digest: str | None = None,
        key: str | None = None,
    ) -> Coroutine[Any, Any, Profile]:
        """Send a prepared add (:meth:`prepare_add`) exactly once (see :mod:`._add`).

        ``maybe_applied``: an earlier run sent this very add and never saw the answer (a
        journal says so): reconcile before the first send. ``digest``: the payload's
        digest, if the caller has it. ``key``: the item's key, for log records.

        Returns the call to await at once: when the flow has a turn for it now (the
        common case), the add's attempt loop itself, with no frame of ours around it.
        """
        flow = self.flow
        if stats is None:
            stats = RetryStats()
        if self._tally is not None:
            stats.tally = self._tally
        add = AddOnce(self, self._policy, call, stats, digest, maybe_applied, flow, key)
        turn = None if flow is None else flow.try_acquire()
        if flow is not None and turn is None:
            return self._add_in_turn(flow, add)
        return self._traced(add, turn)

    async def _add_in_turn(self, flow: FlowControl, add: AddOnce) -> Profile:
        turn = await self._acquire(flow, add.call, add.deadline_at)
        # The deadline counts from the call's first turn, not from the wait for it (see
        # :meth:`turn`).
        add.deadline_at = deadline_of(self._policy)
        return await self._traced(add, turn)

    def _traced(self, add: AddOnce, turn: float | None) -> Coroutine[Any, Any, Profile]:
        """The add's attempt loop from its first turn, in the call's span while telemetry
        is on (as a fetch's: the wait for the turn is not the call's)."""
        work = add.run(turn)
        if self._telemetry is not None:
            return self._telemetry.call(add.call, add.stats, work)
        return work
