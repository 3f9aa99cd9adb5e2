"""A real forward proxy for the tests: Debian's tinyproxy, run in the foreground with a
generated config on a free 127.0.0.1 port, with basic auth, logging each request.

``.ci/run`` installs it. Without it the proxy tests skip, except under ``CI`` (set by
``.ci/run``), where a missing proxy fails them: CI must not pass by skipping.
"""

from __future__ import annotations

import re
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import free_port, require_binary, stop_process

USER = "proxyuser"


class Tinyproxy:
    """One tinyproxy process; :meth:`requests` reads what its log says it carried."""

    def __init__(self, binary: str, folder: Path) -> None:
        self.binary = binary
        self.folder = folder
        self.password = "pw-" + secrets.token_hex(8)
        self.port = 0
        self.log = folder / "tinyproxy.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The proxy's URL, credentials included."""
        return f"http://{USER}:{self.password}@127.0.0.1:{self.port}"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for _ in range(5):  # a free port can be taken between the probe and the bind
            self.port = free_port()
            config = self.folder / "tinyproxy.conf"
            config.write_text(
                f"Port {self.port}\n"
                "Listen 127.0.0.1\n"
                "Timeout 30\n"
                f'LogFile "{self.log}"\n'
                "LogLevel Info\n"
                "MaxClients 200\n"
                "Allow 127.0.0.1\n"
                f"BasicAuth {USER} {self.password}\n"
            )
            self._process = subprocess.Popen(
                [self.binary, "-d", "-c", str(config)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self._process.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                    return
                except OSError:
                    time.sleep(0.05)
            self.stop()
        raise RuntimeError(f"tinyproxy did not start; its log: {self.log}")

    def stop(self) -> None:
        process, self._process = self._process, None
        stop_process(process)

    def requests(self) -> list[str]:
        """The request lines the proxy carried (``POST http://...``, ``CONNECT host:port``)."""
        if not self.log.exists():
            return []
        found = re.findall(r"Request \(file descriptor \d+\): (.*)", self.log.read_text())
        return [line.strip() for line in found]

    def carried(self, port: int) -> tuple[int, int]:
        """(plain http requests, CONNECT tunnels) the proxy carried to 127.0.0.1:``port``."""
        lines = self.requests()
        plain = sum(1 for line in lines if f"http://127.0.0.1:{port}/" in line)
        tunnels = sum(1 for line in lines if line.startswith(f"CONNECT 127.0.0.1:{port} "))
        return plain, tunnels


@pytest.fixture
def tinyproxy(tmp_path: Path) -> Iterator[Tinyproxy]:
    proxy = Tinyproxy(require_binary("tinyproxy", "tinyproxy"), tmp_path / "tinyproxy")
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


PROXY_VARIABLES = (
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
    "http_proxy", "https_proxy", "all_proxy", "no_proxy",
)  # fmt: skip


def without_proxy_variables(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in PROXY_VARIABLES}
