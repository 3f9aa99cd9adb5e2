"""The exactly-once add: attempt, reconcile before any re-send, settle what is in doubt.

``addProfileToContact`` creates a record per accepted call and takes no idempotency key.
So an add whose request may have been applied (an AMBIGUOUS failure: a timeout, a dropped
connection, a gateway's 502/504, a 500) is never re-sent blindly: its next attempt
*looks* (a paced fetch of the contact with its profiles, :func:`~._reconcile.find_applied`)
and re-sends only once the look shows the record is not there. Looks are not re-sends: the
run's retry budget is not asked for them, and a failed look does not use up one of the
add's sends. When the attempts are over and the outcome is still open, the add keeps
looking (waiting between looks without a request slot) until the contact can be read or
its deadline passes, so a stalled server costs time, not items or duplicates.

The ambiguous error is kept (:attr:`AddOnce.unresolved`) while it is in doubt, to be
raised if the looks cannot settle it. Its traceback holds the frame of :meth:`AddOnce.run`,
which holds the add, and the frames of the request, which hold its answer: so the add
keeps the error without them while it waits to look, lets go of it as soon as the doubt
is settled, and no frame here keeps a failure in a local once it is raised, or the add's
objects would make a reference cycle, left for the cyclic garbage collector, on every
retried add.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ._attempts import Attempts
from ._digest import payload_digest
from ._exceptions import ClientClosedError, DisconnectedError, ZyntroError
from ._models import ContactDetails, Profile
from ._protocol import Call, fetch_contact_call, sent_fields
from ._reconcile import find_applied
from ._retry import Budget, FailureKind, RetryPolicy, RetryStats

if TYPE_CHECKING:
    from ._config import Credentials

log = logging.getLogger("zyntro_async")

T = TypeVar("T")

_ALL_TRIES = 1 << 30  # an add's tries once nothing more may be sent: any max_attempts


class Sender(Protocol):
    """What an add needs from its operations: one paced, bounded request, and whose
    credentials its looks use."""

    @property
    def credentials(self) -> Credentials: ...

    async def send(self, call: Call[T], attempts: Attempts, turn: float | None = None) -> T: ...


def extra(
    call: Call[Any], code: str | None, key: str | None = None, attempt: int | None = None
) -> dict[str, Any]:
    """Structured fields for log records (``extra=``): index them, never parse messages."""
    return {
        "zyntro_endpoint": call.endpoint,
        "zyntro_contact_id": call.contact_id,
        "zyntro_key": key,
        "zyntro_attempt": attempt,
        "zyntro_code": code,
    }


class AddOnce(Attempts):
    """One exactly-once add: its attempt loop (the add is its own :class:`Attempts`, one
    object per call) and the state the rule needs across attempts; :meth:`run` runs it.

    What a look compares (the payload, the source, the member) is read back from the
    add's own request body, when a look is needed: the body is what the server stores."""

    idempotent = False

    __slots__ = (
        "_digest",
        "_sent",
        "absent",
        "failed_looks",
        "maybe_applied",
        "ops",
        "reconcile",
        "sends",
        "spent",
        "unresolved",
    )

    def __init__(
        self,
        ops: Sender,
        policy: RetryPolicy | None,
        call: Call[Profile],
        stats: RetryStats,
        digest: str | None,
        maybe_applied: bool,
        budget: Budget | None = None,
        key: str | None = None,
    ) -> None:
        Attempts.__init__(self, policy, call, stats, budget, key)
        self.ops = ops
        self._digest = digest
        self._sent: dict[str, Any] | None = None
        self.maybe_applied = maybe_applied
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

    @property
    def doubt(self) -> ZyntroError:
        """The ambiguous error not settled yet (only while there is one)."""
        error = self.unresolved
        assert error is not None
        return error

    def _settled(self) -> ZyntroError:
        """The ambiguous error, let go of: raise it (the add failed, its outcome known or
        not, as ``stats`` says)."""
        error = self.doubt
        self.unresolved = None
        return error

    async def run(self, turn: float | None) -> Profile:
        """Attempt until the add is done, shown not applied and out of tries, or settled;
        ``turn``: the first request's start time, when it already has its turn. An
        attempt looks first while the outcome is in doubt, then sends."""
        ops = self.ops
        call = self.call
        try:
            while True:
                try:
                    async for attempt in self:
                        with attempt:
                            if self.unresolved is not None:
                                found = await self.look_first(turn)
                                if found is not None:
                                    return found
                                turn = None
                            self.sends += 1
                            self.absent = False
                            try:
                                return await ops.send(call, self, turn)
                            except BaseException as exc:
                                self.send_failed(exc)
                                raise
                        # The attempt failed, and the loop goes on after its wait.
                        turn = None
                        self._travel_light()
                    # A failure the loop does not retry leaves it raised; success returns.
                    raise AssertionError("unreachable")  # pragma: no cover
                except ClientClosedError:
                    # Closed under us: an add already on the wire may have been applied.
                    self.stats.unknown = self.sends > 0 or self.maybe_applied
                    raise
                except ZyntroError as exc:
                    if self.unresolved is None:
                        # Nothing in doubt: the loop's failure is the add's.
                        if not self.absent and self.kind_of(exc) is FailureKind.AMBIGUOUS:
                            # on_ambiguous="raise"/"retry": the caller's call
                            self.stats.unknown = True
                        raise
                    self._travel_light()
                    found = await self.settle()
                    if found is not None:
                        return found
                    # The looks settled it as not applied, with sends and time left:
                    # re-send, through the same loop (budgeted, paced, bounded by
                    # max_attempts).
                    self._counted()
                    if not self.resume(exc):
                        raise
        finally:
            self.unresolved = None  # settled, or given up on (cancelled): let go of it

    def sent(self) -> dict[str, Any]:
        """The request as sent, read back from its JSON body once: the payload as the
        server stores it (plain JSON values), the source and the member as written."""
        sent = self._sent
        if sent is None:
            sent = self._sent = sent_fields(self.call)
        return sent

    def _travel_light(self) -> None:
        """The ambiguous error kept while the add waits to look keeps nothing else alive:
        not the frames it was raised through (its traceback: the request, its answer),
        nor the transport's exception it replaced (its ``__context__``, never shown).
        Raised in the end, it carries the traceback of where the add gave up."""
        error = self.unresolved
        if error is not None:
            error.__traceback__ = None
            error.__context__ = None

    def _counted(self) -> None:
        """Tell the loop what the add has used: sends and failed looks count apart, so a
        look that fails does not take a send away (each is still paced and budgeted); a
        retry that will only look is not taken from the budget."""
        self.used = _ALL_TRIES if self.spent else max(self.sends, self.failed_looks)
        self.free = self.unresolved is not None or self.spent

    def send_failed(self, exc: BaseException) -> None:
        """A send failed: an ambiguous failure is looked into before anything is re-sent."""
        if (
            self.reconcile
            and isinstance(exc, ZyntroError)
            and self.kind_of(exc) is FailureKind.AMBIGUOUS
        ):
            self.unresolved = exc
        self._counted()

    async def look_first(self, turn: float | None) -> Profile | None:
        """The outcome of an earlier send is in doubt: look for its record. Returns it,
        or None when it is not there and the add may be sent (raises when a look fails,
        or when the run's budget has no re-send left)."""
        try:
            found = await self.look(turn)  # a failed look raises the fetch's error
        except BaseException:
            self.failed_looks += 1
            self._counted()
            raise
        if found is not None:
            self.stats.recovered = True
            return found
        self.absent = True
        self.failed_looks = 0  # the contact answered: the looks are settled
        budget = self.budget
        if (
            self.sends > 0
            and budget is not None
            and not budget.allow_retry(self.doubt, FailureKind.AMBIGUOUS)
        ):
            # Not applied, and the budget has no re-send left: the add fails truthfully.
            self.spent = True
            self.failed(self.doubt, FailureKind.AMBIGUOUS)
            self._counted()
            raise self._settled()
        self.unresolved = None
        return None

    async def settle(self) -> Profile | None:
        """The attempts are over with the outcome still open: say truthfully what happened.

        The add keeps looking (:meth:`last_looks`) until the contact can be read or its
        deadline passes; the retry budget is not asked, as it limits re-sends only.
        Returns the record the looks found, or None when they found none and the add may
        still be re-sent (sends and deadline left). A raised error means "not applied"
        whenever the contact could be read, and ``stats.unknown`` is set when it could not.
        """
        found = await self.last_looks()
        if found is not None:
            self.stats.recovered = True
            return found
        self.absent = True
        self.failed_looks = 0
        policy = self._policy
        assert policy is not None  # reconcile needs a policy
        deadline_at = self.deadline_at
        if (
            self.spent
            or self.sends >= policy.max_attempts
            or (deadline_at is not None and time.monotonic() >= deadline_at)
        ):
            raise self._settled() from None
        self.unresolved = None
        return None

    async def last_looks(self) -> Profile | None:
        """Look until the contact can be read (the record, or None: not applied); raise the
        add's ambiguous error with ``stats.unknown`` once its deadline leaves no time.

        Between looks the add waits without holding a request slot, from ``settle_delay``
        doubling up to ``max_backoff`` (half of each wait jittered), or the server's
        ``Retry-After``: a stalled server is looked at again a few times a minute, and the
        add is settled soon after it answers again. Without a deadline it looks
        ``max_attempts`` times.
        """
        policy = self._policy
        assert policy is not None  # reconcile needs a policy
        stats = self.stats
        wait = max(policy.settle_delay, policy.initial_backoff)
        looks = 0
        while True:
            looks += 1
            try:
                # The deadline bounds the call: the looks get what is left of it.
                return await self.look(None)
            except ZyntroError as exc:
                # What the wait and the log need, not the error (see the module's doc).
                code = exc.code
                retry_after = getattr(exc, "retry_after", None)
                retryable = self.kind_of(exc).retryable
            if isinstance(retry_after, (int, float)):
                seconds = float(retry_after)
            else:
                seconds = wait / 2 + random.uniform(0, wait / 2)
                wait = min(policy.max_backoff, wait * 2)
            deadline_at = self.deadline_at
            if (
                not retryable
                or (deadline_at is None and looks >= policy.max_attempts)
                or (deadline_at is not None and time.monotonic() + seconds >= deadline_at)
            ):
                stats.unknown = True
                raise self._settled() from None
            stats.attempts += 1
            stats.retry_scheduled()
            log.warning(
                "retrying the look for %s for contact %r (%s); waiting %.2fs for the server",
                self.call.endpoint,
                self.call.contact_id,
                code,
                seconds,
                extra=extra(self.call, code, self.key, stats.attempts),
            )
            stats.waited += seconds
            # Not the flow's pause: the add holds no request slot while it waits, but it
            # stays one of the run's items at work, so a run does not take ever more
            # items into an outage while the ones in doubt wait for the server.
            await asyncio.sleep(seconds)

    async def look(self, turn: float | None) -> Profile | None:
        """Is the record there already? One paced fetch with profiles; the newest match."""
        call = self.call
        key = self.key
        sent = self.sent()
        fetch = fetch_contact_call(
            self.ops.credentials,
            call.contact_id,
            include_profile=True,
            member_id=sent["member_id"],
        )
        try:
            details: ContactDetails = await self.ops.send(fetch, self, turn)
        except ZyntroError as exc:
            log.warning(
                "could not reconcile %s for contact %r (%s); outcome still unknown",
                call.endpoint,
                call.contact_id,
                exc.code,
                extra=extra(call, exc.code, key, self.stats.attempts),
            )
            raise
        payload = sent["profile_payload"]
        digest = self._digest or payload_digest(payload)
        self._digest = digest
        found = find_applied(details.profiles, sent["profile_source"], digest, sent=payload)
        if found is None:
            log.info(
                "%s for contact %r was not applied; sending it",
                call.endpoint,
                call.contact_id,
                extra=extra(call, None, key, self.stats.attempts),
            )
            return None
        log.info(
            "recovered %s for contact %r: the server had applied it (profile %d)",
            call.endpoint,
            call.contact_id,
            found.id,
            extra=extra(call, None, key, self.stats.attempts),
        )
        return found
