"""What every part of the command line shares: exit codes, the usage error, the context."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TextIO

import attrs

from ._render import Console

EXIT_OK = 0  # everything succeeded
EXIT_FAILED = 1  # the API refused or failed an item (enrich: some lines failed or were invalid)
EXIT_USAGE = 2  # bad flags, files or settings: found before anything was sent
EXIT_STOPPED = 3  # a failure every request would hit (credentials, IP, base URL): stopped early
EXIT_JOURNAL = 4  # the journal failed mid-run (disk full, file deleted): items may have been sent
EXIT_UNREACHABLE = 5  # the API could not be reached (refused, DNS, TLS, a proxy): nothing was sent
EXIT_INTERNAL = 70  # a bug (EX_SOFTWARE): please report it
EXIT_SIGINT = 130  # Ctrl-C (128 + SIGINT)
EXIT_SIGTERM = 143  # SIGTERM, as `docker stop` and Kubernetes send (128 + SIGTERM)


class UsageError(Exception):
    """A problem with how the command was called or configured (exit code 2)."""


@attrs.frozen
class Context:
    """Where a command writes: results to ``out``, everything else through ``console``."""

    out: TextIO
    console: Console


def check_writable(flag: str, path: str | None) -> None:
    """A UsageError unless ``path`` (if given) names a file this process can create."""
    if path is None:
        return
    parent = Path(path).resolve().parent
    if Path(path).is_dir():
        raise UsageError(f"{flag} {path} is a directory")
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise UsageError(f"{flag} {path}: cannot write in {parent}")
