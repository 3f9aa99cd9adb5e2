"""A real nginx in front of a server, for tests and benchmarks: :class:`Nginx`.

Debian's ``/usr/sbin/nginx`` runs as a foreground process (``-g 'daemon off;'``) with a
prefix directory of its own (``-p``): the generated ``nginx.conf``, the pid file, the
error and access logs and every temp path live there. It listens on a free loopback port
and reverse-proxies every request to ``127.0.0.1:<upstream_port>``. :class:`GatewayConfig`
holds the directives a test varies: ``limit_req`` (rate, burst, ``nodelay``,
``limit_req_status``), ``proxy_read_timeout``, keep-alive limits towards the client,
``client_max_body_size`` and ``gzip``.

The access log has one line per request: ``<status> <request_time> <gzip_ratio>``, so a
test counts what nginx answered (refusals it never forwarded included) with
:meth:`Nginx.statuses`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import attrs

from tests.servers import find_binary, free_port


def nginx_binary() -> str | None:
    """The nginx executable, or None when it is not installed."""
    return find_binary("nginx")


def _rate(per_second: float) -> str:
    """nginx's integer ``rate=``: requests per second, or per minute below 1/s."""
    if per_second >= 1 and per_second == int(per_second):
        return f"{int(per_second)}r/s"
    per_minute = per_second * 60
    if per_minute != int(per_minute) or per_minute < 1:
        raise ValueError(f"nginx cannot express {per_second!r} requests per second")
    return f"{int(per_minute)}r/m"


def _ms(seconds: float) -> str:
    """A duration in nginx's syntax (whole milliseconds; ``0`` stays 0: off)."""
    return f"{math.ceil(seconds * 1000)}ms"


@attrs.frozen
class GatewayConfig:
    """What the generated nginx.conf says (the defaults: nginx's, no ``limit_req``)."""

    #: ``limit_req`` rate per second (None: no ``limit_req``), ``burst`` and ``nodelay``.
    limit_rate: float | None = None
    limit_burst: int = 0
    limit_nodelay: bool = True
    #: ``limit_req_status``: 503 is nginx's default, 429 the usual override.
    limit_status: int = 503
    #: ``proxy_read_timeout`` (and send/connect timeouts) in seconds.
    read_timeout: float = 60.0
    #: Towards the client: ``keepalive_requests`` and ``keepalive_timeout`` (seconds).
    keepalive_requests: int = 1000
    keepalive_timeout: float = 75.0
    #: ``client_max_body_size`` (nginx syntax: ``1m``, ``2k``).
    max_body: str = "16m"
    #: ``gzip on`` for JSON answers of any size.
    gzip: bool = False

    def render(self, prefix: Path, port: int, upstream_port: int) -> str:
        """The nginx.conf text for a prefix directory, a listen port and the upstream."""
        limit_zone = limit = ""
        if self.limit_rate is not None:
            limit_zone = (
                f"    limit_req_zone $binary_remote_addr zone=api:1m "
                f"rate={_rate(self.limit_rate)};\n"
                f"    limit_req_status {self.limit_status};\n"
            )
            nodelay = " nodelay" if self.limit_nodelay else ""
            limit = f"            limit_req zone=api burst={self.limit_burst}{nodelay};\n"
        gzip = (
            "    gzip on;\n    gzip_types application/json;\n"
            "    gzip_min_length 0;\n    gzip_proxied any;\n"
            if self.gzip
            else "    gzip off;\n"
        )
        seconds = _ms(self.read_timeout)
        return f"""\
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
{"user root;" if os.geteuid() == 0 else ""}
events {{ worker_connections 1024; }}
http {{
    log_format counted '$status $request_time $gzip_ratio';
    access_log {prefix}/access.log counted;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    keepalive_requests {self.keepalive_requests};
    keepalive_timeout {_ms(self.keepalive_timeout)};
    client_max_body_size {self.max_body};
{gzip}{limit_zone}    upstream backend {{
        server 127.0.0.1:{upstream_port};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
{limit}            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_connect_timeout {seconds};
            proxy_send_timeout {seconds};
            proxy_read_timeout {seconds};
        }}
    }}
}}
"""


class Nginx:
    """One nginx process: ``await Nginx(...).start()``, then ``base_url``, then ``stop()``."""

    def __init__(
        self, binary: str, prefix: Path, upstream_port: int, config: GatewayConfig
    ) -> None:
        self.binary, self.prefix, self.config = binary, prefix, config
        self.upstream_port = upstream_port
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """The API's base URL through nginx."""
        return f"http://127.0.0.1:{self.port}/apis/v2/public/crm/"

    @property
    def access_log(self) -> Path:
        return self.prefix / "access.log"

    @property
    def error_log(self) -> Path:
        return self.prefix / "error.log"

    async def start(self, timeout: float = 10.0) -> None:
        """Write the config, start nginx in the foreground and wait until it listens."""
        self.prefix.mkdir(parents=True, exist_ok=True)
        conf = self.prefix / "nginx.conf"
        conf.write_text(self.config.render(self.prefix, self.port, self.upstream_port))
        self._process = subprocess.Popen(
            [
                *(self.binary, "-p", str(self.prefix), "-c", str(conf)),
                *("-e", str(self.error_log), "-g", "daemon off;"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"nginx exited at start: {self._stderr()}")
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                return
            await asyncio.sleep(0.02)
        self.stop()
        raise RuntimeError(f"nginx did not listen on {self.port} within {timeout:g} s")

    def _stderr(self) -> str:
        process = self._process
        text = process.stderr.read().decode(errors="replace") if process and process.stderr else ""
        if self.error_log.exists():
            text += self.error_log.read_text(errors="replace")
        return text.strip()

    def stop(self) -> None:
        """Stop nginx (SIGTERM: fast shutdown) and reap it. Idempotent."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stderr is not None:
            process.stderr.close()

    def statuses(self) -> Counter[int]:
        """The statuses nginx answered so far, from its access log."""
        return Counter(int(line[0]) for line in self.log_lines())

    def log_lines(self) -> list[list[str]]:
        """The access log's lines, split: ``[status, request_time, gzip_ratio]``.

        nginx writes a request's line after it has sent the answer, so a client can read
        the answer before the line exists: the log is read until it has not grown for
        0.1 s (at most 2 s)."""
        lines = self._read_log()
        quiet_since = time.monotonic()
        give_up = quiet_since + 2.0
        while time.monotonic() < give_up:
            time.sleep(0.02)
            again = self._read_log()
            if len(again) != len(lines):
                lines, quiet_since = again, time.monotonic()
            elif time.monotonic() - quiet_since >= 0.1:
                break
        return lines

    def _read_log(self) -> list[list[str]]:
        if not self.access_log.exists():
            return []
        return [line.split() for line in self.access_log.read_text().splitlines()]
