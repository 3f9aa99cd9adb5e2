"""``python -m benchmarks.launcher``: a fork server that starts benchmark workers at once.

A worker process spends a good part of a second importing aiohttp, zyntro_async and the
rest before it sends a request, on every run, measuring nothing. The launcher imports them once
(everything a variant may use: aiohttp, zyntro_async and its sandbox module, httpx,
aiometer, uvloop, and :mod:`benchmarks.worker`; no event loop, no connection, no thread),
then for each run ``os.fork()``\\ s a child that is that run's worker: a new process with
the heap a freshly started worker has after its imports, its own environment (the
server's variables), its stdout and stderr in files, and the CPU affinity the launcher
was started with (the client CPUs).

Protocol, one JSON object per line: the runner writes ``{"argv": [...], "env": {...},
"stdout": PATH, "stderr": PATH}``; the launcher answers ``{"pid": N}`` when the child
exists and ``{"pid": N, "returncode": R}`` when it has ended (the runner may kill ``N``
on a timeout). At start it prints ``{"ready": true, "sdk_digest": ..., "sdk_path": ...}``.
It exits when its stdin closes (the runner is gone), and on SIGTERM or SIGINT after
killing the worker it is running.

The SDK is imported once, when the launcher starts: every run of a benchmark measures
that version even if the sources change meanwhile, and each worker reports the digest
of the sources as they were when imported.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import sys
import traceback
from typing import Any

from ._common import sdk_digest

#: Imported before forking; the optional ones only if installed.
PRELOAD = ("aiohttp", "zyntro_async", "zyntro_async.testing", "benchmarks.worker")
PRELOAD_OPTIONAL = ("httpx", "aiometer", "uvloop")


def _preload() -> str:
    """Import what the workers use; the sources' digest as imported ("changed" if they
    changed while importing)."""
    before = sdk_digest()
    for name in PRELOAD:
        importlib.import_module(name)
    for name in PRELOAD_OPTIONAL:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    after = sdk_digest()
    return after if after == before else f"{after} (sources changed while importing)"


def _child(request: dict[str, Any], digest: str) -> int:
    """The forked worker: its environment, its output files, then the worker's main."""
    from . import worker

    os.environ.clear()
    os.environ.update(request["env"])
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    worker.IMPORTED_DIGEST = digest
    try:
        return worker.main(request["argv"])
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        return 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()


def main() -> int:
    sdk_path = os.environ.get("BENCH_SDK_PATH")
    if sdk_path:  # the same zyntro_async the spawned workers would import
        sys.path.insert(0, os.path.abspath(sdk_path))
    digest = _preload()
    import zyntro_async

    location = os.path.dirname(os.path.abspath(zyntro_async.__file__ or ""))
    out = sys.stdout

    def say(message: dict[str, Any]) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    current: list[int] = []  # the worker running now, if any

    def stop(signum: int, frame: object) -> None:  # the runner stops us: its worker too
        for pid in current:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    say({"ready": True, "sdk_digest": digest, "sdk_path": location})
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.default_int_handler)
                code = _child(request, digest)
            finally:
                os._exit(code)
        current.append(pid)
        say({"pid": pid})
        _, status = os.waitpid(pid, 0)
        current.clear()
        say({"pid": pid, "returncode": os.waitstatus_to_exitcode(status)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
