"""A bulk run's shared quota (``BulkOptions.shared_quota``): connected when the run
starts, handed to its flow control, closed when the run ends.

The run owns the connection: one :class:`~._shared_quota.SharedQuota` per run, on the
run's event loop, so nothing outlives the run (the quota's one booking task is cancelled
by its ``aclose``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ._exceptions import ConfigurationError
from ._flow import FlowControl

Hook = Callable[[], Awaitable[None]]

MISSING_EXTRA = "shared_quota needs the redis package: pip install 'zyntro-async[redis]'"


def check_available() -> None:
    """Fail at once, typed, when the ``redis`` extra is not installed."""
    try:
        import redis.asyncio  # noqa: F401
    except ImportError:
        raise ConfigurationError(MISSING_EXTRA) from None


def quota_hooks(
    flow: FlowControl,
    url: str,
    api_key: str,
    max_per_second: float | None,
    setup: Hook | None,
    teardown: Hook | None,
) -> tuple[Hook, Hook]:
    """The run's setup and teardown with the quota's connection around the pipeline's:
    connect, share it with ``flow``, then the pipeline's setup; at the end the pipeline's
    teardown, then the quota's close (bounded: one Redis call at most)."""
    check_available()
    from ._shared_quota import SharedQuota

    held: list[SharedQuota] = []

    async def start() -> None:
        quota = await SharedQuota.connect(url, api_key, max_per_second=max_per_second)
        held.append(quota)
        flow.share(quota)
        if setup is not None:
            await setup()

    async def end() -> None:
        try:
            if teardown is not None:
                await teardown()
        finally:
            flow.share(None)
            while held:
                await held.pop().aclose()

    return start, end
