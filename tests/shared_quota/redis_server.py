"""A real Redis for the shared-quota tests: Debian's ``redis-server`` in the foreground on
a free 127.0.0.1 port, no persistence, in a temporary folder; it can be killed and started
again on the same port, as an outage would.

``.ci/run`` installs it. Without it these tests skip, except under ``CI`` (set by
``.ci/run``), where a missing server fails them: CI must not pass by skipping.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import free_port, require_binary, stop_process


class RedisServer:
    def __init__(self, binary: str, folder: Path) -> None:
        self.binary = binary
        self.folder = folder
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for _ in range(5):  # a free port can be taken between the probe and the bind
            if not self.port or self._process is None:
                self.port = self.port or free_port()
            self._process = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--dir", str(self.folder),
                 "--daemonize", "no", "--logfile", str(self.folder / "redis.log")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self._process.poll() is None:
                if self.ping():
                    return
                time.sleep(0.02)
            self.stop()
            self.port = 0
        raise RuntimeError(f"redis-server did not start; its log: {self.folder / 'redis.log'}")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """Die at once, as a crashed or unplugged server (SIGKILL)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()

    def stop(self) -> None:
        process, self._process = self._process, None
        stop_process(process)

    def cli(self, *args: str) -> str:
        """``redis-cli`` against this server (the same binary folder's)."""
        cli = shutil.which("redis-cli") or str(Path(self.binary).with_name("redis-cli"))
        return subprocess.run(
            [cli, "-h", "127.0.0.1", "-p", str(self.port), *args],
            check=True, capture_output=True, text=True, timeout=10,
        ).stdout  # fmt: skip


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(require_binary("redis-server", "redis-server"), tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()
