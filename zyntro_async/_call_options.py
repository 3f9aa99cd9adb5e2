"""A call's own options, and the pool a client shares with the clients ``with_options``
makes from it.

``timeout=`` and ``retry=`` are resolved against the client's own settings (``UNSET``:
as the client is configured). A derived client, or a call with its own timeout, sends
through the owner's transport with its own :class:`Timeout` (passed with each request);
only the owner closes the pool. Bulk run options are a :class:`BulkOptions`, the keyword
arguments on top.
"""

from __future__ import annotations

import enum
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ._config import Timeout
from ._exceptions import ConfigurationError
from ._results import BulkOptions
from ._retry import RetryPolicy
from ._transport import Transport

if TYPE_CHECKING:
    from ._bulk import _Run

__all__ = [
    "UNSET",
    "Pool",
    "TimeoutArg",
    "Unset",
    "bulk_options",
    "check_borrowable",
    "resolve_timeout",
    "retry_policy",
]

_DEFAULT_BULK = BulkOptions()


class Unset(enum.Enum):
    """The default of a per-call option: "as the client is configured"."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "<as the client>"


UNSET = Unset.UNSET

#: What ``timeout=`` takes: a :class:`Timeout`, or seconds (``5`` is the client's
#: ``Timeout`` with ``total=5``: each attempt ends within 5 s).
TimeoutArg = Timeout | float


def resolve_timeout(value: object, base: Timeout) -> Timeout:
    """``timeout=`` as a :class:`Timeout`: itself, or seconds as ``base`` with that total."""
    if isinstance(value, Timeout):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(
            f"timeout must be a number of seconds or a Timeout (got {value!r}); for no limit "
            "at all pass Timeout(connect=None, read=None, total=None)"
        )
    return attrs.evolve(base, total=float(value))


def retry_policy(value: object) -> RetryPolicy | None:
    """``retry=`` checked: a :class:`RetryPolicy`, or None for no retries."""
    if value is not None and not isinstance(value, RetryPolicy):
        raise ConfigurationError(f"retry must be a RetryPolicy or None (got {value!r})")
    return value


def check_borrowable(timeout: Timeout, pool: Timeout) -> None:
    """Refuse a derived or per-call timeout that would lift the pool's total."""
    if timeout.total is None and pool.total is not None:
        raise ConfigurationError(
            "timeout total=None: per-call and with_options() timeouts cannot lift the "
            "client's total; set it on ZyntroClient(timeout=...)"
        )


class Pool:
    """What a client shares with the clients ``with_options`` makes from it: the transport
    that owns the session, and every bulk run started on it (closed with the pool)."""

    __slots__ = ("runs", "timeout", "transport")

    def __init__(self, transport: Transport, timeout: Timeout) -> None:
        self.transport = transport
        self.timeout = timeout
        self.runs: weakref.WeakSet[_Run[Any]] = weakref.WeakSet()


def bulk_options(options: BulkOptions | None, run_options: Mapping[str, Any]) -> BulkOptions:
    """``options`` (or the defaults) with the keyword arguments given on top of it."""
    base = _DEFAULT_BULK if options is None else options
    if not isinstance(base, BulkOptions):
        raise ConfigurationError(f"options must be a BulkOptions or None (got {base!r})")
    if not run_options:
        return base
    known = attrs.fields_dict(BulkOptions)
    unknown = sorted(set(run_options) - set(known))
    if unknown:
        raise TypeError(
            f"unexpected keyword argument(s) {', '.join(map(repr, unknown))}; the run options "
            f"are {', '.join(known)}"
        )
    return attrs.evolve(base, **run_options)
