"""``python -m zyntro_async.testing``: run a ZyntroSandbox dev server until Ctrl-C/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from ._faults import Faults
from ._sandbox import serve


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m zyntro_async.testing",
        description="Serve a local Zyntro sandbox (fetchContact, addProfileToContact).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    parser.add_argument("--contacts", type=int, default=0, help="seed this many contacts")
    parser.add_argument(
        "--faults",
        type=Faults.parse,
        default=None,
        help='fault spec, e.g. "rate_limit=0.05,server_error=0.02,latency=0.01"',
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for contacts and faults")
    return parser


async def _main(args: argparse.Namespace) -> None:
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if task is not None:
        with contextlib.suppress(NotImplementedError):  # Windows
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await serve(
            host=args.host,
            port=args.port,
            contacts=args.contacts,
            faults=args.faults,
            seed=args.seed,
        )


def _run(coro: Coroutine[Any, Any, None]) -> None:
    """asyncio.run, on uvloop when it is installed."""
    try:
        uvloop: Any = importlib.import_module("uvloop")
    except ImportError:
        asyncio.run(coro)
        return
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(coro)
    else:
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        asyncio.run(coro)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and serve until interrupted."""
    args = _parser().parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        _run(_main(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
