"""The ``zyntro-async`` command line (also ``python -m zyntro_async``).

Credentials come from ``ZYNTRO_*`` environment variables or ``--env-file``, never from
flags: argv is visible to every user of the machine. No input, flag or server answer ends
in a Python traceback: each failure is one line on stderr and an exit code (see
``_common``): 0 all succeeded, 1 some items failed, 2 usage or configuration error, 3
stopped early on a failure every item would hit, 4 the journal failed mid-run (items may
have been sent: the same command reconciles them), 130 Ctrl-C, 143 SIGTERM, 70 a bug.

Modules: ``_parser`` (flags, dispatch), ``_commands`` and ``_enrich`` (the commands),
``_env`` (settings, error advice), ``_render`` (output), ``_signals`` (Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import traceback
from collections.abc import Sequence

from .._exceptions import ConfigurationError, JournalError, ZyntroError
from ._common import (
    EXIT_FAILED,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_SIGINT,
    EXIT_SIGTERM,
    EXIT_USAGE,
    Context,
    UsageError,
)
from ._parser import build_parser
from ._render import Console, ConsoleLogHandler
from ._signals import Terminated, sigterm_raises

__all__ = ["main"]


def _tolerant(stream: object) -> None:
    """Never fail on a character the terminal's encoding lacks (a contact's name)."""
    if isinstance(stream, io.TextIOWrapper):
        with contextlib.suppress(Exception):
            stream.reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None, *, prog: str = "zyntro-async") -> int:
    """Run one command; return its exit code (argparse exits 2 itself on a bad flag)."""
    _tolerant(sys.stdout)
    _tolerant(sys.stderr)
    args = build_parser(prog).parse_args(argv)
    console = Console(sys.stderr)
    verbose = args.verbose + getattr(args, "verbose_after", 0)
    logger = logging.getLogger("zyntro_async")
    level = logger.level
    handler = ConsoleLogHandler(console)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    if verbose:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    try:
        with sigterm_raises():
            return int(args.func(args, Context(sys.stdout, console)))
    except (UsageError, JournalError, ConfigurationError) as exc:  # found before sending
        console.line(f"zyntro-async: error: {exc}")
        return EXIT_USAGE
    except ZyntroError as exc:
        console.line(f"zyntro-async: error: {exc}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        console.line("zyntro-async: interrupted")
        return EXIT_SIGINT
    except Terminated:
        console.line("zyntro-async: terminated")
        return EXIT_SIGTERM
    except BrokenPipeError:  # e.g. piped into `head`: stop quietly
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:  # a file or device failed mid-run (disk full, I/O error)
        console.line(f"zyntro-async: error: {exc}")
        return EXIT_FAILED
    except Exception as exc:
        if verbose > 1:
            traceback.print_exc(file=console.err)
        console.line(
            f"zyntro-async: internal error: {type(exc).__name__}: {exc} "
            "(a bug: please report it, with the output of -vv)"
        )
        return EXIT_INTERNAL
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
