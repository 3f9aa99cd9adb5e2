"""Running a command's coroutine so that Ctrl-C and SIGTERM stop it cleanly.

The first SIGINT or SIGTERM cancels the command: a bulk run stops taking input, cancels
what is in flight and flushes its journal, and the command prints what it got done. The
exit code is then 130 (SIGINT) or 143 (SIGTERM), as a shell reports a process killed by
that signal. A second signal while that shutdown runs exits at once, with the same code:
the journal survives that too (it survives SIGKILL), and a re-run reconciles what was in
flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

from ._common import EXIT_SIGINT, EXIT_SIGTERM
from ._render import Console

_T = TypeVar("_T")

CODES = {signal.SIGINT: EXIT_SIGINT, signal.SIGTERM: EXIT_SIGTERM}


class Terminated(BaseException):
    """SIGTERM arrived outside the event loop (like KeyboardInterrupt for SIGINT)."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """Outside the event loop, make SIGTERM raise :class:`Terminated` instead of killing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(
    command: Callable[[], Coroutine[Any, Any, int]],
    console: Console,
    *,
    on_signal: int | None = None,
) -> int:
    """``asyncio.run(command())``; a signal cancels it and gives 130/143, or ``on_signal``
    (a server, for which a signal is the normal way to stop)."""
    received: list[signal.Signals] = []

    async def main() -> int:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def handle(signum: signal.Signals) -> None:
            code = CODES[received[0]] if received else CODES[signum]
            if received:
                console.line(f"zyntro-async: {signum.name} again: quitting at once")
                with contextlib.suppress(Exception):
                    console.err.flush()
                os._exit(code)
            received.append(signum)
            console.line(f"zyntro-async: {signum.name}: stopping (a second signal quits at once)")
            task.cancel()

        installed = []
        for signum in CODES:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, handle, signum)
                installed.append(signum)
        try:
            return await command()
        except asyncio.CancelledError:
            if not received:
                raise
            return on_signal if on_signal is not None else CODES[received[0]]
        finally:
            # Before the loop closes its wakeup pipe: a signal after this point is handled
            # outside the loop (KeyboardInterrupt, Terminated), never written to a closed fd.
            for signum in installed:
                loop.remove_signal_handler(signum)
            if signal.SIGTERM in installed:
                signal.signal(signal.SIGTERM, _raise_terminated)

    with sigterm_raises():  # covers the loop's start and teardown
        return run_event_loop(main())


def run_event_loop(coro: Coroutine[Any, Any, _T]) -> _T:
    """``asyncio.run(coro)``, on uvloop when it is installed (``zyntro-async[speed]``) unless
    ``ZYNTRO_UVLOOP=0``: same behaviour, less CPU per request (see README, Benchmarks)."""
    if os.environ.get("ZYNTRO_UVLOOP", "1").strip() != "0":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            logging.getLogger("zyntro_async").debug("event loop: uvloop")
            return uvloop.run(coro)
    logging.getLogger("zyntro_async").debug("event loop: asyncio")
    return asyncio.run(coro)
