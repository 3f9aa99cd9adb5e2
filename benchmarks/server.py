"""``python -m benchmarks.server``: the sandbox in its own process, on uvloop when installed.

A thin launcher around :func:`zyntro_async.testing.serve` (127.0.0.1 only) that prints the
sandbox's ``export ZYNTRO_...=`` lines and then serves until one of these happens:

* SIGTERM or SIGINT (the benchmark runner terminates it after each run);
* its stdin reaches end of file (the runner holds a pipe open: if the runner dies, even
  by SIGKILL, the pipe closes and the server exits by itself);
* ``--max-seconds`` have passed (a last-resort bound on its lifetime).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Sequence

from zyntro_async.testing import Faults, serve

from ._common import run_loop, uvloop_available


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.server", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    parser.add_argument("--contacts", type=int, default=1000, help="seed this many contacts")
    parser.add_argument("--faults", type=Faults.parse, default=None, help="fault spec")
    parser.add_argument("--seed", type=int, default=0, help="seed for contacts and faults")
    parser.add_argument("--no-uvloop", action="store_true", help="serve on the stdlib asyncio loop")
    parser.add_argument(
        "--max-seconds", type=float, default=3600.0, help="exit after this long (default 3600)"
    )
    parser.add_argument(
        "--watch-stdin",
        action="store_true",
        help="exit when stdin reaches EOF (the parent process went away)",
    )
    return parser


async def _main(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(
        serve(
            host="127.0.0.1",
            port=args.port,
            contacts=args.contacts,
            faults=args.faults,
            seed=args.seed,
        )
    )
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    if args.watch_stdin:
        fd = sys.stdin.fileno()

        def watch() -> None:  # blocking read in a daemon thread; EOF = the parent is gone
            # os.read on the descriptor, not sys.stdin: a daemon thread blocked inside the
            # buffered reader would hold its lock and stall interpreter shutdown.
            with contextlib.suppress(OSError):
                while os.read(fd, 4096):
                    pass
            with contextlib.suppress(RuntimeError):  # the loop may already be closed
                loop.call_soon_threadsafe(task.cancel)

        threading.Thread(target=watch, name="stdin-watch", daemon=True).start()
    loop.call_later(args.max_seconds, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    use_uvloop = uvloop_available() and not args.no_uvloop
    print(f"# server loop: {'uvloop' if use_uvloop else 'asyncio'}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        run_loop(_main(args), use_uvloop=use_uvloop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
