"""The shared quota's Redis side: one bounded script call per booked batch."""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

from .._exceptions import ConfigurationError
from ._fallback import Fallback
from ._local import Batch, FleetView, LocalLimiter, namespace

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("zyntro_async")

#: Every Redis call is bounded by this; past it the process limits itself locally.
CALL_TIMEOUT = 0.1
#: A call that timed out is made again at once, this many times, before the process
#: leaves the fleet's timeline: a held-up event loop times out calls Redis answered, and
#: one process pacing alone while the others share the fleet's whole rate sends more
#: than the quota. A refused or reset connection is proof, and switches at once.
TIMEOUT_RETRIES = 2
#: A batch covers about this much of the fleet's timeline: at high rates a process calls
#: Redis about once per this many seconds.
BATCH_SECONDS = 0.01
MAX_BATCH = 256
#: Idle credit (seconds of traffic) and how far ahead a batch may be booked.
BURST_SECONDS = 0.02
HORIZON = 0.25
#: A token not taken this long after its time lapses.
GRACE = 0.02
#: A free pass outside the fleet's opening is for any number of tokens.
UNCOUNTED = 1 << 30
#: With nothing limiting the fleet, a process still reports and syncs this often.
FREE_PASS = 0.05
#: A process that has not called for this long is no longer counted live.
HEARTBEAT_TTL = 5.0
Mode = Literal["shared", "local"]


def _check_rate(max_per_second: object) -> float | None:
    if max_per_second is None:
        return None
    if (
        isinstance(max_per_second, bool)
        or not isinstance(max_per_second, (int, float))
        or not (max_per_second > 0 and math.isfinite(max_per_second))
    ):
        raise ConfigurationError(f"max_per_second must be a number > 0 (got {max_per_second!r})")
    return float(max_per_second)


def _script() -> str:
    return resources.files(__package__).joinpath("_fleet.lua").read_text(encoding="utf-8")


class SharedQuota:
    """One API key's quota, shared by every process that uses the same key and Redis.

    Make one per process with :meth:`connect`; one event loop, not thread-safe. Call
    :meth:`acquire` before each request, and report what the server said with
    :meth:`on_refusal`, :meth:`on_accepted` and :meth:`on_limit_header` (plain calls that
    never wait: they are sent with the next booking). :meth:`aclose` when done.
    """

    def __init__(self, client: Redis, api_key: str, max_per_second: float | None) -> None:
        self._redis = client
        prefix = namespace(api_key)
        self._keys = [prefix, prefix + ":live"]
        self._script = client.register_script(_script())
        self._proc = secrets.token_hex(8)
        self._ceiling = max_per_second
        self._view: FleetView | None = None
        self._batch: Batch | None = None  # the tokens being spent
        self._next: Batch | None = None  # the next booking, made before they run out
        self._booking: asyncio.Task[None] | None = None  # the one script call in flight
        self._retry_at = 0.0  # no booking before this (the fleet's queue is full)
        self._fallback = Fallback(self._book)
        self._episode_since = -math.inf  # when this process learned the current episode
        self._sent = 0  # news not yet sent to Redis
        self._accepted = 0
        self._refused = 0
        self._refused_in = -1
        self._retry_after = 0.0
        self._limit = 0.0
        self._demand = 0.0  # this process's recent acquisitions per second
        self._demand_at = time.monotonic()
        self._demand_count = 0
        self._waiting = 0
        self._calls = 0  # script calls done
        self._closed = False
        from redis.exceptions import TimeoutError as RedisTimeout

        self._timeouts = (asyncio.TimeoutError, TimeoutError, RedisTimeout)

    @classmethod
    async def connect(
        cls, url: str, api_key: str, *, max_per_second: float | None = None
    ) -> SharedQuota:
        """Share ``api_key``'s quota through the Redis at ``url``.

        ``max_per_second`` is the whole fleet's ceiling (every process should pass the
        same). Needs the ``redis`` extra. An unreachable Redis is no error: the process
        limits itself locally and tries Redis again as it goes.
        """
        if not isinstance(api_key, str) or not api_key:
            raise ConfigurationError("the shared quota needs the API key it shares")
        ceiling = _check_rate(max_per_second)
        try:
            from redis.asyncio import Redis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff
        except ImportError:
            raise ConfigurationError(
                "a shared quota needs the redis package: pip install 'zyntro-async[redis]'"
            ) from None
        try:
            client = Redis.from_url(
                url,
                socket_timeout=CALL_TIMEOUT,
                socket_connect_timeout=CALL_TIMEOUT,
                retry=Retry(NoBackoff(), 0),
                retry_on_timeout=False,
            )
        except ValueError:
            # redis-py's message repeats the URL, password included: ours does not.
            raise ConfigurationError(
                "the shared quota's Redis URL is not a redis://, rediss:// or unix:// URL"
            ) from None
        quota = cls(client, api_key, ceiling)
        await quota._call(0, time.monotonic())
        return quota

    # -- what the fleet's pace is now ---------------------------------------------------------

    @property
    def mode(self) -> Mode:
        """ "shared" while Redis answers; "local" while this process limits itself."""
        return "local" if self._fallback.away else "shared"

    @property
    def rate(self) -> float | None:
        """The rate this process paces by: the fleet's (shared), or its share (local);
        None when nothing limits it."""
        local = self._fallback.limiter
        if local is not None:
            return local.rate
        if self._view is None:
            return self._ceiling
        return self._view.rate_at(time.monotonic())

    @property
    def hold(self) -> float:
        """Seconds until a ``Retry-After`` reported anywhere in the fleet ends (0: none):
        :meth:`acquire` waits that long, so a caller with a deadline can decide first."""
        now = time.monotonic()
        local = self._fallback.limiter
        if local is not None:
            return max(0.0, local.not_before - now)
        return max(0.0, self._view.not_before - now) if self._view is not None else 0.0

    @property
    def live(self) -> int:
        """Processes that used the quota lately, as Redis last said (1 before it said)."""
        return self._view.live if self._view is not None else 1

    @property
    def episode(self) -> int:
        """How many times the fleet's rate was cut (a token for :meth:`on_refusal`)."""
        return self._view.episode if self._view is not None else 0

    def __repr__(self) -> str:
        rate = self.rate
        shown = "none" if rate is None else f"{rate:.1f}/s"
        return f"<SharedQuota mode={self.mode} rate={shown} live={self.live}>"

    # -- what the server said -------------------------------------------------------------------

    def on_refusal(self, retry_after: float | None = None, *, sent_at: float | None = None) -> None:
        """A request was refused (429/503). ``sent_at`` (its ``time.monotonic()`` start)
        tells old news apart: a request sent before this process learned of the last cut
        does not cut again. A ``Retry-After`` holds every process until it ends."""
        now = time.monotonic()
        if retry_after is not None and not (retry_after >= 0 and math.isfinite(retry_after)):
            retry_after = None
        local = self._fallback.limiter
        if local is not None:
            # Redis hears nothing of it later: a stale cut or hold would hit the fleet.
            local.refused(now, sent_at, retry_after)
            return
        if retry_after:
            self._retry_after = max(self._retry_after, retry_after)
        if sent_at is None or sent_at >= self._episode_since:
            self._refused += 1
            self._refused_in = self.episode
        self._batch = self._next = None  # book again at once, at the cut rate

    def on_accepted(self) -> None:
        """A request was accepted: counts towards the fleet's accepted rate."""
        self._accepted += 1

    def on_limit_header(self, limit: float) -> None:
        """A rate-limit header's limit (per second): a ceiling on the fleet's rate."""
        if isinstance(limit, bool) or not isinstance(limit, (int, float)):
            return
        if not (limit > 0 and math.isfinite(limit)):
            return
        known = self._view.limit if self._view is not None else 0.0
        if limit != known:
            self._limit = float(limit)
        local = self._fallback.limiter
        if local is not None:
            local.cap(float(limit), self.live)

    # -- per request ----------------------------------------------------------------------------

    async def acquire(self) -> float:
        """Wait for this request's turn in the fleet's pace; return the seconds waited."""
        begun = time.monotonic()
        self._waiting += 1
        paced = False  # this request's local turn while rejoining is taken
        try:
            while True:
                if self._closed:
                    raise RuntimeError("this SharedQuota is closed")
                if self._fallback.away:
                    if await self._fallback.turn():
                        self._sent += 1
                        self._demand_count += 1
                        return time.monotonic() - begun
                    continue
                if self._fallback.rejoining and not paced:
                    await self._fallback.rejoin_turn()
                    paced = True
                    continue
                now = time.monotonic()
                due = self._take(now)
                if due is not None:
                    self._sent += 1
                    self._demand_count += 1
                    self._prefetch(now)
                    if due > now:
                        await asyncio.sleep(due - now)
                    return time.monotonic() - begun
                if now < self._retry_at:
                    await asyncio.sleep(self._retry_at - now)
                    continue
                # Wait for the call in flight (or start one); a waiter's cancellation
                # leaves the call alone, and the call is bounded by CALL_TIMEOUT.
                await asyncio.wait({self._book()})
        finally:
            self._waiting -= 1

    def _news(self) -> bool:
        return self._refused_in >= 0 or self._retry_after > 0 or self._limit > 0

    def _take(self, now: float) -> float | None:
        """A token's due time from what this process holds; None: ask Redis."""
        if self._news():
            return None
        return self._take_batch(now)

    def _take_batch(self, now: float) -> float | None:
        while self._batch is not None:
            due = self._batch.take(now)
            if due is not None:
                return due
            self._batch, self._next = self._next, None
        return None

    def _prefetch(self, now: float) -> None:
        """Book the next batch while half of this one is left, so that no request waits
        for Redis's round trip at a steady pace."""
        batch = self._batch
        if self._fallback.away or self._next is not None or self._booking is not None:
            return
        if batch is None:
            return
        if batch.rate is None:
            low = (
                now >= batch.until - FREE_PASS / 2 or 2 * (batch.count - batch.taken) <= batch.count
            )
        else:
            low = 2 * (batch.count - batch.taken) <= batch.count
        if low:
            self._book()

    def _book(self) -> asyncio.Task[None]:
        if self._booking is None:
            self._booking = asyncio.ensure_future(self._booked())
        return self._booking

    async def _booked(self) -> None:
        try:
            await self._refill(time.monotonic())
        finally:
            self._booking = None

    async def _refill(self, now: float) -> None:
        view = self._view
        rate = view.rate_at(now) if view is not None else self._ceiling
        want = min(MAX_BATCH, max(1, self._waiting))  # a free pass: the opening counts it
        if rate is not None:
            span = now - self._demand_at
            if span > 0:
                measured = self._demand_count / span
                self._demand = measured if span >= BATCH_SECONDS else max(self._demand, measured)
                self._demand_at, self._demand_count = now, 0
            fleet = max(1, math.ceil(rate * BATCH_SECONDS))
            mine = math.ceil(min(rate, self._demand) * BATCH_SECONDS)
            want = min(MAX_BATCH, fleet, max(1, mine, self._waiting))
        await self._call(want, now)

    async def _call(self, want: int, now: float) -> None:
        """One script call; on failure, switch to local limiting."""
        sent, accepted, refused = self._sent, self._accepted, self._refused
        refused_in, retry_after, limit = self._refused_in, self._retry_after, self._limit
        numbers = (
            f"{want} {sent} {accepted} {refused} {self.episode} {self._ceiling or 0:.6f} "
            f"{BURST_SECONDS} {HORIZON} {HEARTBEAT_TTL} {refused_in} {retry_after:.6f} "
            f"{limit:.6f}"
        )
        args = [self._proc, numbers]
        # While local, one attempt: the next try comes after the back-off anyway. A call
        # made again may count the same news twice if the first did run: the refusal's
        # episode is a compare-and-set (no second cut), and the rate estimates decay.
        attempts = 1 + (0 if self._fallback.away else TIMEOUT_RETRIES)
        for attempt in range(attempts):
            try:
                reply: Any = await asyncio.wait_for(
                    self._script(keys=self._keys, args=args), CALL_TIMEOUT
                )
                break
            except asyncio.CancelledError:
                raise
            except Exception as error:  # unreachable, timed out, or refused
                if attempt + 1 < attempts and isinstance(error, self._timeouts):
                    continue
                self._go_local(time.monotonic(), error)
                return
            finally:
                self._calls += 1
        at = time.monotonic()
        self._sent -= sent
        self._accepted -= accepted
        self._refused -= refused
        if self._refused_in == refused_in:
            self._refused_in = -1
        if self._retry_after == retry_after:
            self._retry_after = 0.0
        if self._limit == limit:
            self._limit = 0.0
        text = reply.decode() if isinstance(reply, bytes) else str(reply)
        self._on_reply(at, text.split())

    def _on_reply(self, at: float, reply: list[str]) -> None:
        granted, wait, rate = int(reply[0]), float(reply[1]), float(reply[2])
        episode = int(reply[3])
        previous = self._view
        self._view = FleetView(
            at=at,
            rate=rate,
            episode=episode,
            not_before=at + float(reply[4]),
            w_max=float(reply[5]),
            cut_at=at - float(reply[6]),
            limit=float(reply[7]),
            live=max(1, int(reply[8])),
            ceiling=self._ceiling or 0.0,
            doubling=reply[9] == "1",
        )
        if previous is None or episode != previous.episode:
            self._episode_since = at
            self._refused = 0  # counted for the episode before
        if self._fallback.away:
            log.warning("shared quota: Redis answers again; pacing with the fleet")
            self._fallback.back(at)
        if granted > 0:
            batch = Batch(
                issued=at,
                start=at + wait,
                rate=rate if rate > 0 else None,
                count=granted if rate > 0 or reply[10] == "1" else UNCOUNTED,
                until=at + max(0.0, wait) + FREE_PASS,
                grace=GRACE,
            )
            if previous is not None and episode != previous.episode:
                self._batch = self._next = None  # booked at the rate before the cut
            if self._batch is None:
                self._batch = batch
            else:
                self._next = batch
            self._retry_at = 0.0
        elif self._batch is None:
            self._retry_at = at + wait

    def _go_local(self, now: float, error: BaseException) -> None:
        if not self._fallback.away:
            view = self._view
            rate = view.rate_at(now) if view is not None else self._ceiling
            live = view.live if view is not None else 1
            share = None if rate is None else rate / live
            not_before = view.not_before if view is not None else 0.0
            local = LocalLimiter(rate=share, burst=BURST_SECONDS, not_before=not_before)
            self._fallback.leave(local)
            self._batch = self._next = None
            log.warning(
                "shared quota: Redis unreachable (%s); pacing this process alone at %s",
                type(error).__name__,
                "no limit" if share is None else f"{share:.1f}/s",
            )
        self._fallback.attempt_failed(now)

    async def aclose(self) -> None:
        """Leave the fleet (best effort, bounded) and close the connection."""
        if self._closed:
            return
        self._closed = True
        booking = self._booking
        if booking is not None:
            booking.cancel()  # a script call, bounded: its cancellation returns at once
            await asyncio.wait({booking})
        try:
            await asyncio.wait_for(self._redis.zrem(self._keys[1], self._proc), CALL_TIMEOUT)
        except asyncio.CancelledError:
            raise
        except Exception:  # leaving is a courtesy: the heartbeat's TTL does it anyway
            pass
        finally:
            await self._redis.aclose()
