"""Starting a bulk run on a client's pool: its flow control, the pipeline on it, the engine."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from ._bulk import BulkRun, _Run
from ._call_options import Pool, bulk_options
from ._flow import FlowControl
from ._operations import Operations
from ._results import BulkOptions
from ._run_quota import quota_hooks

log = logging.getLogger("zyntro_async")


def effective_concurrency(concurrency: int, pool: int | None) -> int:
    """``concurrency``, lowered to the connection pool's size ``pool`` if it is above."""
    if pool is not None and concurrency > pool:
        # More requests than pool slots would only queue for a slot (and time out there).
        log.info("concurrency %d lowered to the connection pool's size %d", concurrency, pool)
        return pool
    return concurrency


def start_run(
    ops: Operations,
    pool: Pool,
    runs: weakref.WeakSet[_Run[Any]],
    api_key: str,
    items: Any,
    pipeline: Callable[[Operations], Any],
    options: BulkOptions | None,
    run_options: Mapping[str, Any],
) -> BulkRun[Any]:
    """One run of ``pipeline`` over ``items`` with ``ops`` paced by the run's own flow
    control; the run is one of ``runs`` (the client's) and of the pool's."""
    opts = bulk_options(options, run_options)
    shared = opts.shared_quota
    flow = FlowControl(
        effective_concurrency(opts.concurrency, pool.transport.connection_limit),
        # With a shared quota, max_per_second is the fleet's total: the quota's.
        max_per_second=opts.max_per_second if shared is None else None,
        retry_budget=opts.retry_budget,
    )
    paced = ops.paced(flow)
    process = pipeline(paced)
    setup = getattr(process, "setup", None)
    teardown = getattr(process, "teardown", None)
    if shared is not None:
        setup, teardown = quota_hooks(flow, shared, api_key, opts.max_per_second, setup, teardown)
    policy = ops.policy
    run: _Run[Any] = _Run(
        items,
        process,
        flow=flow,
        on_progress=opts.on_progress,
        progress_interval=0.5,
        on_failure=opts.on_failure,
        total=opts.total,
        keep_failures=10_000,
        setup=setup,
        teardown=teardown,
        max_wait=None if policy is None else policy.deadline,
        tally=paced.tally,
        shard=opts.shard,
        shard_key=getattr(process, "shard_key", None),
    )
    runs.add(run)
    pool.runs.add(run)
    return BulkRun(run)
