"""The ``enrich --output`` file: one JSON line per input line of this run, nothing else.

Each run rewrites the file, so after a resumed run it holds exactly one final line per
input line: items an earlier run finished come back from the journal as ``skipped`` lines
(with their profile id), items it left unconfirmed are reconciled before their line is
written. Appending instead would leave an earlier run's ``unknown`` lines and the resumed
run's lines for the same items side by side, for the user to dedupe.

Each line goes to the file with one unbuffered write as its result arrives, so whatever
stops the run (Ctrl-C, SIGTERM, SIGKILL, an error) the file holds every result handed out
so far. A write that fails (a full disk) is cut back to the last whole line, and the file
then takes no more: the caller says how many results it lacks.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any


class ResultsFile:
    """Where ``--output`` lines go; :attr:`error` is set once a write failed."""

    def __init__(self, path: str) -> None:
        self.path = path
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
        self._fd: int | None = os.open(path, flags, 0o666)
        self._end = 0  # the offset after the last whole line
        self.written = 0
        self.lost = 0  # results that could not be written after a failure
        self.error: OSError | None = None

    def write(self, record: dict[str, Any]) -> bool:
        """Write one line; False (and nothing half-written) if the file cannot take it."""
        if self.error is not None or self._fd is None:
            self.lost += 1
            return False
        # A lone surrogate (in an id read from a file) becomes its JSON escape, \udXXX.
        text = json.dumps(record, ensure_ascii=False, default=str) + "\n"
        encoded = text.encode("utf-8", errors="backslashreplace")
        data = memoryview(encoded)
        try:
            while data:
                data = data[os.write(self._fd, data) :]
        except OSError as exc:
            self.error = exc
            self.lost += 1
            with contextlib.suppress(OSError):  # a pipe or a device cannot be cut back
                os.ftruncate(self._fd, self._end)
            return False
        self._end += len(encoded)
        self.written += 1
        return True

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
