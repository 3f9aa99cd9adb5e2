"""What every test that starts a real server process needs: a free loopback port, and the
server's binary, which CI always has (``.ci/run`` installs it) and a developer may not."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
from typing import Any

import pytest


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_binary(name: str) -> str | None:
    """``name`` on PATH, or in the folders Debian installs servers to."""
    found = shutil.which(name)
    if found:
        return found
    # Debian's PostgreSQL keeps its server programs out of PATH, one folder per version.
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True)
    for folder in ("/usr/sbin", "/usr/bin", *versions):
        path = os.path.join(folder, name)
        if os.access(path, os.X_OK):
            return path
    return None


def _version(folder: str) -> tuple[int, ...]:
    number = os.path.basename(os.path.dirname(folder))
    return tuple(int(part) for part in number.split(".") if part.isdigit())


def require_binary(name: str, package: str) -> str:
    """``name``'s path; without it, skip -- or fail under CI, which never skips these."""
    binary = find_binary(name)
    if binary is None:
        message = f"{name} is not installed (apt-get install {package})"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; .ci/run installs it, and CI never skips these tests")
        pytest.skip(message)
    return binary


def stop_process(process: subprocess.Popen[Any] | None) -> None:
    """End a server process politely (SIGTERM), forcibly if it has not ended in 10 s."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
