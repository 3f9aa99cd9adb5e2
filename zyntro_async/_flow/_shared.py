"""What flow control needs of a quota shared with other processes, as a Protocol.

The run that owns such a quota (``zyntro_async._shared_quota.SharedQuota``) injects it
into :class:`~._control.FlowControl`; this layer never imports it.
"""

from __future__ import annotations

from typing import Protocol


class Quota(Protocol):
    """A pace shared by every process on one API key."""

    @property
    def rate(self) -> float | None:
        """The rate this process paces by now; None when nothing limits it."""

    @property
    def mode(self) -> str:
        """``"shared"`` while the fleet is reachable; ``"local"`` while this process
        limits itself alone."""

    @property
    def hold(self) -> float:
        """Seconds until a ``Retry-After`` reported anywhere in the fleet ends (0: none)."""

    async def acquire(self) -> float:
        """Wait for this request's turn in the fleet's pace; return the seconds waited."""

    def on_refusal(self, retry_after: float | None = None, *, sent_at: float | None = None) -> None:
        """A request sent at ``sent_at`` (``time.monotonic()``) was refused."""

    def on_accepted(self) -> None:
        """A request was accepted."""

    def on_limit_header(self, limit: float) -> None:
        """A rate-limit header's limit, per second."""
