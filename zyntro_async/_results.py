"""What a bulk run takes and gives back: requests, per-item results, reports, progress, and
the rules that stop a run early (plain data, no I/O)."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

import attrs

from ._exceptions import APIError, ConfigurationError, ServerError, ZyntroError
from ._models import payload_summary

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
    ``attempts`` counts the requests' tries, ``retries`` the tries after a failure.
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

    @property
    def key(self) -> str | None:
        """The caller's correlation key, if the request carried one."""
        key = getattr(self.request, "key", None)
        return key if isinstance(key, str) else None


@attrs.frozen
class BulkReport:
    """The account of a run: ``succeeded + failed + skipped == total`` (items taken).

    ``failures`` keeps the first ``keep_failures`` failed results (all by default: 10,000).
    ``stopped`` says why a run ended before consuming all its input (``None`` when it did);
    the items it did not take were not touched, so a journaled run resumes from them.
    """

    total: int
    succeeded: int
    failed: int
    skipped: int
    retries: int
    elapsed: float
    failures: list[BulkResult[Any]] = attrs.field(repr=False)
    recovered: int = 0
    stopped: str | None = None

    @property
    def rate(self) -> float:
        """Items per second."""
        return self.total / self.elapsed if self.elapsed > 0 else 0.0


@attrs.frozen
class Progress:
    """A snapshot for ``on_progress`` callbacks.

    ``in_flight``: requests on the wire now. ``throttled``: the run is held below its pace
    right now (the server's quota or overload, or a pool-wide ``Retry-After``). ``eta``
    needs a known total; it is computed from the items that did work (skipped ones are
    almost free, so a resumed run does not promise a finish too soon).
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


@attrs.frozen
class ErrorRate:
    """Stop a run once more than ``threshold`` of its finished items failed (checked after
    ``min_items`` items, so one early failure does not stop it)."""

    threshold: float = attrs.field(validator=[attrs.validators.gt(0), attrs.validators.le(1)])
    min_items: int = attrs.field(default=50, validator=attrs.validators.ge(1))


FailurePolicy = Literal["continue", "fail_fast"] | ErrorRate

#: Codes that fail every request of a run the same way: stop at the first one.
GLOBAL_CODES = frozenset(
    {
        "MISSING_API_KEY",
        "INVALID_API_KEY",
        "MISSING_DEVELOPER_SECRET",
        "INVALID_DEVELOPER_SECRET",
        "USER_INACTIVE",
        "IP_NOT_WHITELISTED",
        "MISSING_ORG_ID",
        "MISSING_MEMBER_ID",
    }
)
#: HTTP statuses that say the base URL or the gateway is wrong, not the item.
GLOBAL_STATUSES = frozenset({401, 403, 404, 405})
#: The first this many finished items all failing with one code stops a run.
SAME_CODE_STREAK = 25


class StopRules:
    """Decides, item by item, whether a run should stop taking input (and says why)."""

    __slots__ = ("_failed", "_ok", "_policy", "_streak", "_streak_code")

    def __init__(self, policy: FailurePolicy) -> None:
        if policy not in ("continue", "fail_fast") and not isinstance(policy, ErrorRate):
            raise ConfigurationError(
                f"on_failure must be 'continue', 'fail_fast' or an ErrorRate (got {policy!r})"
            )
        self._policy = policy
        self._ok = 0
        self._failed = 0
        self._streak = 0
        self._streak_code: str | None = None

    def succeeded(self) -> None:
        self._ok += 1
        self._streak = -1  # one success and no streak can stop the run any more

    def failed(self, error: ZyntroError | None) -> str | None:
        """Count a failure; return why the run must stop, or None."""
        self._failed += 1
        code = error.code if error is not None else "UNKNOWN"
        if code in GLOBAL_CODES and isinstance(error, APIError):
            said = "; ".join(error.messages) or "no message"
            return f"{code}: every request would fail the same way ({said})"
        status = getattr(error, "status", None)
        if isinstance(error, ServerError) and status in GLOBAL_STATUSES:
            return (
                f"{code} (HTTP {status}): the server refuses this endpoint; check "
                "ZYNTRO_BASE_URL / base_url"
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
            finished = self._ok + self._failed
            if finished >= policy.min_items and self._failed / finished > policy.threshold:
                return f"error rate {self._failed / finished:.0%} passed {policy.threshold:.0%}"
        return None
