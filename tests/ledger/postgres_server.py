"""A PostgreSQL cluster of the tests' own: ``initdb`` into a temporary folder, ``pg_ctl``
start on a free loopback port, stopped (and removed) at the end -- as pytest-postgresql
does. As root (CI's containers), the server runs as the ``postgres`` user (or ``nobody``):
PostgreSQL refuses to run as root."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

from tests.servers import free_port, require_binary

PASSWORD = "ledger-secret-pw"  # the URL carries one, so the tests can look for it


def _server_user() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root, and no postgres or nobody user to run PostgreSQL as")


@contextlib.contextmanager
def postgres_cluster() -> Iterator[str]:
    """Start a cluster; yield its URL (``postgresql://ledger:PASSWORD@127.0.0.1:PORT/postgres``)."""
    initdb = require_binary("initdb", "postgresql")
    pg_ctl = require_binary("pg_ctl", "postgresql")
    user = _server_user()
    base = tempfile.mkdtemp(prefix="zyntro-pg-")
    data = os.path.join(base, "data")
    os.mkdir(data, 0o700)
    pwfile = os.path.join(base, "pw")
    with open(pwfile, "w") as out:
        out.write(PASSWORD + "\n")
    if user is not None:
        for path in (base, data, pwfile):
            os.chown(path, user.pw_uid, user.pw_gid)
    as_user = {} if user is None else {"user": user.pw_uid, "group": user.pw_gid}
    port = free_port()
    env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
    subprocess.run(
        [initdb, "-D", data, "-U", "ledger", "--pwfile", pwfile, "-A", "scram-sha-256",
         "-E", "UTF8", "--no-sync", "--no-instructions"],
        check=True, capture_output=True, timeout=120, env=env, cwd=base, **as_user,
    )  # fmt: skip
    options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={base} -F"
    subprocess.run(
        [pg_ctl, "-D", data, "-o", options, "-l", os.path.join(base, "log"), "-w", "-t", "60",
         "start"],
        check=True, capture_output=True, timeout=90, env=env, cwd=base, **as_user,
    )  # fmt: skip
    try:
        yield f"postgresql://ledger:{PASSWORD}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [pg_ctl, "-D", data, "-m", "immediate", "-w", "-t", "30", "stop"],
            capture_output=True, timeout=60, env=env, cwd=base, **as_user,
        )  # fmt: skip
        shutil.rmtree(base, ignore_errors=True)
