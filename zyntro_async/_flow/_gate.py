"""The pool-wide gate: a long ``Retry-After`` holds every request, once confirmed, sans I/O.

A refusal whose ``Retry-After`` is at least :data:`POOL_WAIT_FROM` says the server wants
the whole client to wait. One such answer among successes is not proof of that (a
gateway's stray answer, a quota that was reset since), and honouring a day-long wait on
one answer would stop a healthy run. So, as a circuit breaker's half-open state does:

1. *hold*: no request starts for :data:`PROBE_AFTER` (or the ``Retry-After``, if shorter);
2. *probe*: then one request goes;
3. a success of any request sent after the refused one lifts the hold; a refusal with a
   ``Retry-After`` of at least :data:`POOL_WAIT_FROM` of a request sent after the hold
   began *confirms* it: the gate stays shut until that ``Retry-After`` ends (``until``);
   any other outcome of the probe holds again and probes again.

A ``Retry-After`` in whole seconds (HTTP's delay-seconds, and an HTTP-date) is the wait
rounded to the second, so a confirmed wait ends :data:`WHOLE_SECOND` sooner than it says
(``until`` is the earliest the server may admit again, and what an item's deadline is
judged against); from there the gate holds and probes every :data:`TURN_PROBE` seconds
until a probe is admitted. A per-minute window so opens for the run within a few
hundredths of a second of its turn, and an item refused in the window's first second,
whose deadline ends a moment after that turn, is not failed by the rounding.

A quota found *spent* (:meth:`Gate.spent`: the pace's own requests refused in a row, each
with a short ``Retry-After``) holds the pool the same way, probing every
:data:`SPENT_PROBE` seconds: a window quota refuses everything until its window turns
(and one that counts refusals stays shut while the client knocks), and its whole-second
``Retry-After`` is only an upper bound on when it turns, so a probe finds the new window
within a tenth of a second of its opening instead of up to a second after it.
"""

from __future__ import annotations

import math

import attrs

#: A ``Retry-After`` at least this long is pool-wide (shorter ones delay only their item).
POOL_WAIT_FROM = 2.0
#: How long an unconfirmed hold lasts before its probe.
PROBE_AFTER = 1.0
#: How long a hold for a spent quota lasts before its first probe (or its
#: ``Retry-After``); each refused probe doubles it, up to :data:`SPENT_PROBE_MOST`: a
#: sliding window knocked past its rate admits again within a few hundredths of a
#: second, a fixed window's turn may be most of a second away.
SPENT_PROBE = 0.05
SPENT_PROBE_MOST = 0.1
#: The resolution of a whole-second ``Retry-After``: the wait may end this much sooner.
WHOLE_SECOND = 1.0
#: How often the gate probes for the turn once a confirmed wait has reached its earliest end.
TURN_PROBE = 0.025


def earliest_end(retry_after: float) -> float:
    """Seconds until the wait ``retry_after`` may end: a whole number of seconds is the
    wait rounded up to the second (or down to it, and then the probes find the turn)."""
    if retry_after >= WHOLE_SECOND and float(retry_after).is_integer():
        return retry_after - WHOLE_SECOND
    return retry_after


@attrs.define
class Gate:
    until: float = 0.0  # no request starts before this (confirmed, or the hold's end)
    reason: BaseException | None = None  # the refusal that shut it
    holding: bool = False  # an unconfirmed hold: probe at ``until``
    confirmed: bool = False
    refused_sent: float = math.inf  # send time of the newest long refusal behind it
    held_at: float = math.inf  # when the hold began (a later send may confirm it)
    probe_at: float | None = None  # when the probe went, while it is out
    probe_refused: float = -math.inf  # when the last refused probe of this hold went
    probe_every: float = PROBE_AFTER  # the hold's length before the next probe
    probe_most: float = PROBE_AFTER  # the longest it grows to, probe after refused probe

    def closed(self, now: float) -> bool:
        return self.holding or now < self.until

    def check(self, now: float) -> float:
        """0 when a request may start now (it may be the probe); else seconds to wait
        before asking again."""
        if now < self.until:
            return self.until - now
        if self.confirmed:
            # The confirmed wait is at its earliest end: probe for the turn.
            self.confirmed = False
            self.holding = True
            self.held_at = now
            self.probe_every = self.probe_most = TURN_PROBE
            self.probe_at = now
            return 0.0
        if not self.holding:
            return 0.0
        if self.probe_at is None:
            self.probe_at = now
            return 0.0
        return self.probe_every  # the probe is out: its answer decides (and wakes the waiters)

    def refused(
        self, now: float, started: float, retry_after: float, reason: BaseException
    ) -> bool:
        """A request sent at ``started`` was refused with ``retry_after`` s; True when the
        gate changed."""
        if retry_after < POOL_WAIT_FROM:
            if self.probe_at is not None and started >= self.probe_at:
                self.probe_refused = started
                return self._hold_again(now)
            return False
        self.reason = reason
        end = now + earliest_end(retry_after)
        if self.holding and started >= self.held_at:
            self.holding = False
            self.confirmed = True
            self.probe_at = None
            self.until = max(self.until, end)
            return True
        if self.confirmed and now < self.until:
            self.until = max(self.until, end)
            return False
        if not self.holding:
            self._hold(now, started, min(retry_after, PROBE_AFTER), PROBE_AFTER)
        self.refused_sent = max(self.refused_sent, started)
        return False

    def spent(self, now: float, started: float, retry_after: float, reason: BaseException) -> bool:
        """The quota is spent until at most ``retry_after`` s from ``now`` (the request
        sent at ``started`` was the last refused): hold the pool and probe every
        :data:`SPENT_PROBE` s. True when the gate changed (False while it holds already)."""
        if self.closed(now):
            return False
        self.reason = reason
        self._hold(now, started, min(retry_after, SPENT_PROBE), SPENT_PROBE, SPENT_PROBE_MOST)
        return True

    def pause(self, now: float, until: float) -> bool:
        """Let no request start before ``until`` (the gate open otherwise); True when it
        changed. Nothing while the gate holds or is shut already."""
        if self.closed(now):
            return False
        self.until = until
        return True

    def _hold(
        self, now: float, started: float, first: float, every: float, most: float = 0.0
    ) -> None:
        self.holding = True
        self.confirmed = False
        self.held_at = now
        self.refused_sent = started
        self.probe_at = None
        self.probe_every = every
        self.probe_most = max(every, most)
        self.until = now + first

    def turned(self, started: float) -> float:
        """When the quota most likely admitted again, a request sent at ``started`` being
        the first accepted: midway between it and the hold's last refused probe."""
        if self.probe_refused >= self.held_at and self.probe_refused < started:
            return (self.probe_refused + started) / 2
        return started

    def accepted(self, started: float) -> bool:
        """A request sent at ``started`` succeeded; True when that lifted the gate."""
        if (self.holding or self.confirmed) and started > self.refused_sent:
            self.holding = self.confirmed = False
            self.until = 0.0
            self.probe_at = None
            self.refused_sent = self.held_at = math.inf
            return True
        return False

    def failed(self, now: float, started: float) -> bool:
        """A request sent at ``started`` failed otherwise; the probe's failure re-holds."""
        if self.probe_at is not None and started >= self.probe_at:
            return self._hold_again(now)
        return False

    def _hold_again(self, now: float) -> bool:
        self.probe_at = None
        self.until = now + self.probe_every
        self.probe_every = min(2 * self.probe_every, self.probe_most)
        return True
