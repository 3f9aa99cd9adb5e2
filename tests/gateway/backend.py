"""The sandbox in a process of its own, so a test can stall it (SIGSTOP) as a backend stalls.

:class:`SandboxProcess` runs ``python -m zyntro_async.testing`` (the dev server) with
seeded contacts and a ``--dump-profiles`` file: :meth:`stall` stops the process (the
kernel still accepts connections; nothing is read or answered), :meth:`resume` lets it
go on, and :meth:`stop` ends it and returns every stored profile, so a test counts what
the server holds after the run (:func:`census`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs


class SandboxProcess:
    """``python -m zyntro_async.testing`` in a subprocess; see the module docstring."""

    def __init__(self, workdir: Path, *, contacts: int, faults: str = "", seed: int = 7) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.ids_file = workdir / "ids.txt"
        self.dump_file = workdir / "profiles.json"
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "zyntro_async.testing",
                "--port",
                "0",
                "--contacts",
                str(contacts),
                "--seed",
                str(seed),
                "--faults",
                faults or "none",
                "--ids-file",
                str(self.ids_file),
                "--dump-profiles",
                str(self.dump_file),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={k: v for k, v in os.environ.items() if not k.startswith("ZYNTRO_")},
        )
        self.env: dict[str, str] = {}
        assert self._process.stdout is not None
        for raw in self._process.stdout:
            line = raw.decode().strip()
            if line.startswith("export "):
                name, _, value = line[len("export ") :].partition("=")
                self.env[name] = value.strip("'")
            if "ZYNTRO_MEMBER_ID" in self.env:
                break
        if "ZYNTRO_BASE_URL" not in self.env:
            self.stop()
            raise RuntimeError("the sandbox process did not start")
        self.port = int(urlsplit(self.env["ZYNTRO_BASE_URL"]).port or 0)
        self.contact_ids = self.ids_file.read_text().split()
        self._stalled = False

    @property
    def credentials(self) -> dict[str, str]:
        """``api_key``, ``developer_secret``, ``org_id``, ``member_id`` for a client."""
        return {
            name: self.env[f"ZYNTRO_{name.upper()}"]
            for name in ("api_key", "developer_secret", "org_id", "member_id")
        }

    def stall(self) -> None:
        """Stop the process: it reads and answers nothing until :meth:`resume`."""
        self._process.send_signal(signal.SIGSTOP)
        self._stalled = True

    def resume(self) -> None:
        """Let a stalled process go on."""
        if self._stalled:
            self._process.send_signal(signal.SIGCONT)
            self._stalled = False

    def stop(self) -> dict[str, list[dict[str, Any]]]:
        """End the process; return the stored profiles by contact (empty if none dumped)."""
        process = self._process
        if process.poll() is None:
            self.resume()
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        if not self.dump_file.exists():
            return {}
        stored: dict[str, list[dict[str, Any]]] = json.loads(self.dump_file.read_text())
        return stored


@attrs.frozen
class Census:
    """What the server holds of a run's items (each item's payload carries a unique ``seq``)."""

    #: ``seq`` of every item stored at least once.
    stored: frozenset[int]
    #: Stored records beyond the first for the same ``seq``: adds applied twice.
    duplicates: int


def census(profiles: Mapping[str, list[dict[str, Any]]]) -> Census:
    """Count stored items and duplicates from ``{contact_id: [profile records]}``."""
    seqs: Counter[int] = Counter()
    for records in profiles.values():
        for record in records:
            payload = record.get("profile_payload")
            if isinstance(payload, dict) and "seq" in payload:
                seqs[int(payload["seq"])] += 1
    return Census(frozenset(seqs), sum(n - 1 for n in seqs.values()))
