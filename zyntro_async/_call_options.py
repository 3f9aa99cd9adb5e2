"""A call's own options, and the pool a client shares with the clients ``with_options``
makes from it.

``timeout=`` and ``retry=`` are resolved against the client's own settings (``UNSET``:
as the client is configured). A derived client, or a call with its own timeout, reaches
the pool through a :class:`Borrowed` view of the owner's transport; only the owner closes
the pool. Bulk run options are a :class:`BulkOptions`, the keyword arguments on top.
"""

from __future__ import annotations

import enum
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ._config import Limits, Timeout
from ._exceptions import ClientClosedError, ConfigurationError
from ._protocol import RawResponse
from ._results import BulkOptions
from ._retry import RetryPolicy
from ._transport import Transport

if TYPE_CHECKING:
    from ._bulk import _Run

__all__ = [
    "UNSET",
    "Borrowed",
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


class Borrowed(Transport):
    """Another client's transport, seen with other per-attempt timeouts.

    Requests go through ``parent.post`` (its session, connector, limits and lifetime) with
    this view's :class:`Timeout`; closing the view refuses its own later requests and
    leaves the pool open.
    """

    def __init__(self, parent: Transport, *, base_url: str, timeout: Timeout, limits: Limits):
        super().__init__(base_url=base_url, timeout=timeout, limits=limits)
        self._parent = parent
        self._view_closed = False

    @property
    def closed(self) -> bool:
        return self._view_closed or self._parent.closed

    @property
    def connection_limit(self) -> int | None:
        return self._parent.connection_limit

    async def post(
        self,
        endpoint: str,
        body: bytes,
        *,
        contact_id: str,
        total: float | None = None,
        timeout_settings: Timeout | None = None,
    ) -> RawResponse:
        if self._view_closed:
            raise ClientClosedError(
                "the client is closed", endpoint=endpoint, contact_id=contact_id
            )
        return await self._parent.post(
            endpoint,
            body,
            contact_id=contact_id,
            total=total,
            timeout_settings=timeout_settings or self._settings,
        )

    async def close(self) -> None:
        self._view_closed = True


def check_borrowable(timeout: Timeout, pool: Timeout) -> None:
    """Refuse what a borrowed view cannot apply."""
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
