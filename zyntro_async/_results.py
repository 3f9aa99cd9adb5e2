"""What a bulk run takes and gives back: requests, per-item results, reports, progress, and
the rules that stop a run early (plain data, no I/O)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, Literal, TypedDict, TypeVar, cast

import attrs

from ._config import DEFAULT_RETRY_BUDGET
from ._exceptions import APIError, ConfigurationError, JournalError, ZyntroError
from ._models import payload_summary
from ._policy import stops_run
from ._proxy import redact
from ._shard import Shard, check_shard

T = TypeVar("T")


@attrs.frozen
class ProfileRequest:
    """One profile to add. ``key`` is your correlation id: echoed in the result and, with a
    journal, used as the item's identity instead of (contact_id, source, payload)."""

    contact_id: str
    payload: dict[str, Any] | list[Any] = attrs.field(repr=payload_summary)
    source: str
    key: str | None = None
    member_id: str | None = None


@attrs.frozen
class BulkResult(Generic[T]):
    """The outcome of one item; a failed one always carries the ``error`` that explains it.

    ``skipped``: nothing was sent because an earlier run (or an earlier copy of the item in
    this run) already did it, or there was nothing to do. ``recovered``: the request's
    answer was lost, and reconciliation found the record the server had created.
    ``unknown``: the add failed and *may* have been applied (its answer was lost and the
    contact could not be read back); a journal keeps it for the next run to reconcile.
    ``attempts`` counts the requests' tries, ``retries`` the tries after a failure (each
    one logged as ``retrying``); ``retries_abandoned`` those of them that never went on
    the wire (the item's deadline passed first).
    """

    request: Any
    ok: bool
    value: T | None = None
    error: ZyntroError | None = None
    attempts: int = 0
    skipped: bool = False
    recovered: bool = False
    retries: int = 0
    unknown: bool = False
    retries_abandoned: int = 0

    @property
    def key(self) -> str | None:
        """The caller's correlation key, if the request carried one."""
        key = getattr(self.request, "key", None)
        return key if isinstance(key, str) else None


if TYPE_CHECKING:

    class BulkFailure(BulkResult[T]):
        """A failed :class:`BulkResult`, as :attr:`BulkReport.failures` holds them: its
        ``error`` is never None, so ``failure.error.code`` type-checks."""

        error: ZyntroError

else:
    # At run time a failure is a BulkResult like any other (the same object a streaming
    # run yields); the narrower type only tells type checkers what a failure guarantees.
    BulkFailure = BulkResult


def _failures(results: list[BulkResult[Any]]) -> list[BulkFailure[Any]]:
    """The run's failed results: each carries its error (the engine sets one on every
    failure), so they are typed as :class:`BulkFailure`."""
    return cast("list[BulkFailure[Any]]", results)


class OutcomeNotRecorded(JournalError):
    """The item's outcome (``result``, true as it stands) could not be journaled: the run
    must stop, and the item is reported as ``result`` says, never as "failed, not
    applied" for the journal's sake. Its journal row stays ``sent``, so the next run
    reconciles it."""

    def __init__(self, result: BulkResult[Any], error: JournalError) -> None:  # raise from it
        super().__init__(error.message)
        self.result = result


@attrs.frozen
class BulkReport:
    """The account of a run: ``succeeded + failed + skipped == total`` (items taken).

    ``failures`` keeps the first ``keep_failures`` failed results (all by default: 10,000).
    ``stopped`` says why a run ended before consuming all its input (``None`` when it did);
    the items it did not take were not touched, so a journaled run resumes from them.

    ``retries`` counts every retry the run logged (``retrying ...``), those of items the
    run cancelled when it stopped included; ``retries_abandoned`` those of them that never
    put a request on the wire (a deadline passed first, or the run stopped). When no item
    was cancelled, ``retries`` is the sum of the results' ``retries``.

    A sharded run counts its own shard's items only; ``other_shards`` says how many input
    items it passed over as other shards' (so a finished shard's ``total + other_shards``
    is the input's length).
    """

    total: int
    succeeded: int
    failed: int
    skipped: int
    retries: int
    elapsed: float
    failures: list[BulkFailure[Any]] = attrs.field(repr=False, converter=_failures)
    recovered: int = 0
    stopped: str | None = None
    retries_abandoned: int = 0
    other_shards: int = 0

    @property
    def rate(self) -> float:
        """Items per second."""
        return self.total / self.elapsed if self.elapsed > 0 else 0.0


@attrs.frozen
class Progress:
    """A snapshot for ``on_progress`` callbacks; ``str(progress)`` is a line to print.

    ``done`` counts finished items (``ok + failed + skipped``). ``total`` is None when
    the input has no ``len()`` and no ``total=`` was given: unknown, not zero.
    ``rate``: items processed per second, skipped ones left out (they are almost free, so
    counting them would overstate a resumed run's speed). ``eta`` needs a known total and
    is computed from the same rate. ``in_flight``: requests on the wire now.
    ``throttled``: the run is held below its pace right now (the server's quota or
    overload, or a pool-wide ``Retry-After``).

    In a sharded run (``shard=(i, n)``), ``shard`` is ``(i, n)`` and ``other_shards``
    counts the input items read so far that belong to other shards (passed over, in no
    other count). ``total`` still counts the whole input, every shard's items, as the
    shard's own share is only known once the input is read: ``done + other_shards``
    reaches ``total`` when the shard ends, and ``eta`` estimates the shard's remaining
    items from the share of them met so far.
    """

    done: int
    ok: int
    failed: int
    skipped: int
    in_flight: int
    throttled: bool
    rate: float
    elapsed: float
    total: int | None
    eta: float | None
    other_shards: int = 0
    shard: Shard | None = None

    def __str__(self) -> str:
        total = "?" if self.total is None else str(self.total)
        eta = "" if self.eta is None else f", eta {self.eta:.0f} s"
        throttled = ", throttled" if self.throttled else ""
        if self.shard is not None:
            index, count = self.shard
            return (
                f"shard {index}/{count}: {self.done + self.other_shards}/{total} items "
                f"({self.done} done: {self.ok} ok, {self.failed} failed, {self.skipped} "
                f"skipped, {self.in_flight} in flight{throttled}; {self.other_shards} "
                f"other shards'), {self.rate:.0f}/s{eta}"
            )
        return (
            f"{self.done}/{total} done ({self.ok} ok, {self.failed} failed, "
            f"{self.skipped} skipped, {self.in_flight} in flight{throttled}), "
            f"{self.rate:.0f}/s{eta}"
        )


def _fraction(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (0 < value <= 1)  # also refuses NaN
    ):
        raise ConfigurationError(f"{attribute.name} must be a number in (0, 1] (got {value!r})")


def _count(minimum: int) -> Callable[[object, attrs.Attribute[Any], object], None]:
    def check(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigurationError(
                f"{attribute.name} must be an integer >= {minimum} (got {value!r})"
            )

    return check


def _optional(
    check: Callable[[object, attrs.Attribute[Any], object], None],
) -> Callable[[object, attrs.Attribute[Any], object], None]:
    def optional(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is not None:
            check(inst, attribute, value)

    return optional


@attrs.frozen
class ErrorRate:
    """Stop a run once more than ``threshold`` of its finished items failed (checked after
    ``min_items`` items, so one early failure does not stop it)."""

    threshold: float = attrs.field(validator=_fraction)
    min_items: int = attrs.field(default=50, validator=_count(1))


FailurePolicy = Literal["continue", "fail_fast"] | ErrorRate


def _failure_policy(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value not in ("continue", "fail_fast") and not isinstance(value, ErrorRate):
        raise ConfigurationError(
            f"{attribute.name} must be 'continue', 'fail_fast' or an ErrorRate (got {value!r})"
        )


def _rate(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (value > 0 and math.isfinite(value))
    ):
        raise ConfigurationError(f"{attribute.name} must be a number > 0 (got {value!r})")


#: The URL schemes the ``redis`` package connects to.
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def _redis_url(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    # The message never repeats the URL: it may hold Redis's password.
    if value is None:
        return
    if not isinstance(value, str):
        raise ConfigurationError(
            f"{attribute.name} must be a Redis URL string or None (got a {type(value).__name__})"
        )
    if not value.lower().startswith(REDIS_SCHEMES):
        raise ConfigurationError(f"{attribute.name} must be a redis://, rediss:// or unix:// URL")


def _url_repr(value: str | None) -> str:
    return "None" if value is None else repr(redact(value))


def _shard(value: object) -> Shard | None:
    return None if value is None else check_shard(value)


def _callable_or_none(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not callable(value):
        raise ConfigurationError(f"{attribute.name} must be callable or None (got {value!r})")


@attrs.frozen(kw_only=True)
class BulkOptions:
    """How a bulk run runs: the options all three entry points share, in one place.

    Pass one as ``options=`` (``client.bulk_add_profiles(items, options=opts)``), or give
    the same names as keyword arguments; both together: the keywords win.

    - ``concurrency``: requests in flight at most (kept at or below the pool's size);
    - ``max_per_second``: your own cap on the request rate (None: the server's evidence
      alone paces the run);
    - ``retry_budget``: retry tokens shared by the run (botocore's quota: 5 per retry, 10
      after a timeout, refunded by successes; None: no budget);
    - ``on_failure``: ``"continue"``, ``"fail_fast"`` or an :class:`ErrorRate`;
    - ``on_progress``: called with a :class:`Progress` about twice a second;
    - ``total``: how many items the input holds, for the ETA (taken from ``len()`` when
      the input has one);
    - ``shared_quota``: a Redis URL (``redis://``, ``rediss://``, ``unix://``; needs the
      ``zyntro-async[redis]`` extra): the run paces with every other run, in any process,
      that uses the same API key and Redis, as one client (see the pacing guide). The run
      connects when it starts and disconnects when it ends. ``max_per_second`` is then
      the whole fleet's total, not this run's share. The URL's password appears in no
      repr, log line or message.
    - ``shard``: ``(index, count)`` (or ``"index/count"``): take only this shard's items
      of the input, so ``count`` workers given the same input and each its own ``index``
      share it out, none twice and none left over. An item's shard follows from its
      key (the journal's identity of it), the same in every process and every run; the
      report and the results hold only this shard's items (see the bulk guide).
    """

    concurrency: int = attrs.field(default=64, validator=_count(1))
    max_per_second: float | None = attrs.field(default=None, validator=_rate)
    retry_budget: int | None = attrs.field(
        default=DEFAULT_RETRY_BUDGET, validator=_optional(_count(0))
    )
    on_failure: FailurePolicy = attrs.field(default="continue", validator=_failure_policy)
    on_progress: Callable[[Progress], object] | None = attrs.field(
        default=None, validator=_callable_or_none
    )
    total: int | None = attrs.field(default=None, validator=_optional(_count(0)))
    shared_quota: str | None = attrs.field(default=None, validator=_redis_url, repr=_url_repr)
    shard: Shard | None = attrs.field(default=None, converter=_shard)


class BulkOptionsArgs(TypedDict, total=False):
    """:class:`BulkOptions`' fields as keyword arguments (for type checkers: ``**kwargs``)."""

    concurrency: int
    max_per_second: float | None
    retry_budget: int | None
    on_failure: FailurePolicy
    on_progress: Callable[[Progress], object] | None
    total: int | None
    shared_quota: str | None
    shard: Shard | str | None


#: The first this many finished items all failing with one code stops a run.
SAME_CODE_STREAK = 25


class StopRules:
    """Decides, item by item, whether a run should stop taking input (and says why)."""

    __slots__ = ("_failed", "_policy", "_streak", "_streak_code")

    def __init__(self, policy: FailurePolicy) -> None:
        _failure_policy(None, attrs.fields(BulkOptions).on_failure, policy)
        self._policy = policy
        self._failed = 0
        self._streak = 0
        self._streak_code: str | None = None

    def failed(self, error: ZyntroError | None, succeeded: int) -> str | None:
        """Count a failure, ``succeeded`` items having succeeded so far (the successes are
        the run's count, kept there); return why the run must stop, or None."""
        self._failed += 1
        if succeeded:
            self._streak = -1  # one success and no streak can stop the run any more
        code = error.code if error is not None else "UNKNOWN"
        if stops_run(error):
            if isinstance(error, APIError):
                said = "; ".join(error.messages) or "no message"
                return f"{code}: every request would fail the same way ({said})"
            return (
                f"{code} (HTTP {getattr(error, 'status', None)}): the server refuses this "
                "endpoint; check ZYNTRO_BASE_URL / base_url"
            )
        if self._streak >= 0:
            if code == self._streak_code:
                self._streak += 1
            elif self._streak == 0:
                self._streak_code, self._streak = code, 1
            else:
                self._streak = -1
            if self._streak >= SAME_CODE_STREAK:
                return f"{code}: the first {self._streak} items all failed with it"
        policy = self._policy
        if policy == "fail_fast":
            return f"fail_fast: an item failed ({code})"
        if isinstance(policy, ErrorRate):
            finished = succeeded + self._failed
            if finished >= policy.min_items and self._failed / finished > policy.threshold:
                return f"error rate {self._failed / finished:.0%} passed {policy.threshold:.0%}"
        return None
