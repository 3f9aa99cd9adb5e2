"""Shared by the runner, the workers and the profiler: the work, the server process, the
event loop choice, resource readings and the machine's description."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

import attrs

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
HOST = "127.0.0.1"

#: ``profile_source`` of every benchmark request.
SOURCE = "zyntro-bench"
CONCURRENCY = 64
#: Warm-up items get payload ``seq`` numbers from here on, far from the measured ones.
WARMUP_OFFSET = 100_000_000

_T = TypeVar("_T")

_TITLES = (
    "VP of Marketing",
    "Head of Sales",
    "CTO",
    "Account Executive",
    "Data Engineer",
    "Product Manager",
    "Founder",
    "Customer Success Lead",
)
_COMPANIES = ("Acme Corp", "Globex", "Initech", "Hooli", "Umbrella", "Stark", "Wayne", "Soylent")
_SENIORITY = ("junior", "mid", "senior", "executive")


def payload(i: int) -> dict[str, Any]:
    """The ``profile_payload`` of item ``i``: a small dict (5 keys), unique per item."""
    return {
        "job_title": _TITLES[i % len(_TITLES)],
        "company": _COMPANIES[(i // 8) % len(_COMPANIES)],
        "seniority": _SENIORITY[i % len(_SENIORITY)],
        "linkedin": f"https://linkedin.example/in/bench-{i}",
        "seq": i,
    }


def work(
    contact_ids: list[str], n: int, deadline: float, *, start: int = 0
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The benchmark's work, lazily: ``(contact_id, payload)`` for items ``start..start+n``.

    Every variant consumes this same generator. It stops early (the loop is bounded in
    time as well as in count) once ``time.monotonic()`` passes ``deadline``.
    """
    n_contacts = len(contact_ids)
    for i in range(start, start + n):
        if time.monotonic() > deadline:
            return
        yield contact_ids[i % n_contacts], payload(i)


# ------------------------------------------------------------------------ event loops


def uvloop_available() -> bool:
    try:
        importlib.import_module("uvloop")
    except ImportError:
        return False
    return True


def run_loop(coro: Coroutine[Any, Any, _T], *, use_uvloop: bool) -> _T:
    """``asyncio.run(coro)``, on uvloop if asked (and installed)."""
    if not use_uvloop:
        return asyncio.run(coro)
    uvloop: Any = importlib.import_module("uvloop")
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(coro)
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())  # pragma: no cover - 3.10
    try:  # pragma: no cover - 3.10
        return asyncio.run(coro)
    finally:  # pragma: no cover - 3.10
        asyncio.set_event_loop_policy(None)


# ------------------------------------------------------------------ resource readings


def cpu_seconds() -> float:
    """User + system CPU seconds of this process (all its threads)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def maxrss_kib() -> int:
    """Peak resident set size of this process so far, KiB (Linux reports KiB)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


_PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024 if hasattr(os, "sysconf") else 4


def rss_kib() -> int:
    """Current resident set size, KiB (from /proc/self/statm; falls back to the peak)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE_KIB
    except OSError:
        return maxrss_kib()


# -------------------------------------------------------------------- the sandbox


@attrs.frozen
class ServerInfo:
    base_url: str
    env: dict[str, str]  # ZYNTRO_* variables and BENCH_STATS_URL
    pid: int
    process: subprocess.Popen[Any] | None = attrs.field(default=None, eq=False, repr=False)

    def alive(self) -> bool:
        return self.process is None or self.process.poll() is None


def reset_server(server: ServerInfo, timeout: float = 60.0) -> bool:
    """Ask ``server`` to forget its stored profiles (``POST /reset`` next to ``/stats``).

    True once it has; False if it cannot (then a fresh server is needed for a clean state).
    """
    stats_url = server.env.get("BENCH_STATS_URL")
    if not stats_url or not server.alive():
        return False
    request = urllib.request.Request(stats_url.rsplit("/", 1)[0] + "/reset", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return bool(json.loads(resp.read()).get("reset"))
    except (OSError, ValueError):
        return False


def _read_exports(stream: IO[bytes], out: dict[str, str], done: threading.Event) -> None:
    for raw in stream:
        line = raw.decode("utf-8", "replace").strip()
        if line.startswith(("export ZYNTRO_", "export BENCH_")):
            name, _, value = line[len("export ") :].partition("=")
            out[name] = value.strip("'\"")
        elif line == "# ready":
            break
    done.set()


@contextlib.contextmanager
def sandbox_server(
    *,
    contacts: int,
    seed: int,
    faults: str = "",
    scripts: tuple[str, ...] = (),
    use_uvloop: bool = True,
    lean: bool = False,
    cpu: int | None = None,
    max_seconds: float = 3600.0,
    start_timeout: float = 30.0,
) -> Iterator[ServerInfo]:
    """Run ``python -m benchmarks.server`` in its own process for the ``with`` block.

    The process is terminated (then killed) on exit, also on errors and Ctrl-C. It also
    exits by itself if this process dies (its stdin pipe closes) or after ``max_seconds``.
    """
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.server",
        "--contacts",
        str(contacts),
        "--seed",
        str(seed),
        "--max-seconds",
        str(max_seconds),
        "--watch-stdin",
    ]
    if faults:
        cmd += ["--faults", faults]
    for script in scripts:
        cmd += ["--script", script]
    if not use_uvloop:
        cmd.append("--no-uvloop")
    if lean:
        cmd.append("--lean")
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        preexec_fn=_pin(cpu),
    )
    try:
        env: dict[str, str] = {}
        done = threading.Event()
        assert proc.stdout is not None
        reader = threading.Thread(target=_read_exports, args=(proc.stdout, env, done), daemon=True)
        reader.start()
        if not done.wait(start_timeout) or "ZYNTRO_BASE_URL" not in env:
            log.seek(0)
            tail = log.read()[-2000:].decode("utf-8", "replace")
            raise RuntimeError(f"the sandbox server did not start (exit {proc.poll()}):\n{tail}")
        yield ServerInfo(base_url=env["ZYNTRO_BASE_URL"], env=env, pid=proc.pid, process=proc)
    finally:
        stop_process(proc)
        log.close()


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """Terminate ``proc`` (this exact child), kill it if it does not exit in ``timeout``."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


def _pin(cpu: int | None) -> Any:
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return None

    def pin() -> None:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {cpu})

    return pin


def available_cpus() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))  # pragma: no cover - not Linux


# --------------------------------------------------------------- machine description


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_total_mib() -> int | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def sdk_digest() -> str:
    """A short SHA-256 of the ``zyntro_async`` sources this process would import.

    Other people edit the package while benchmarks run; every worker reports the digest of
    what it measured, so a run that mixes versions is flagged.
    """
    spec = importlib.util.find_spec("zyntro_async")
    if spec is None or not spec.submodule_search_locations:
        return "unknown"
    root = Path(next(iter(spec.submodule_search_locations)))
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        with contextlib.suppress(OSError):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    import zyntro_async

    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "cpus_usable": len(available_cpus()),
        "memory_mib": _mem_total_mib(),
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "zyntro_async": zyntro_async.__version__,
        "aiohttp": _version("aiohttp"),
        "httpx": _version("httpx"),
        "aiometer": _version("aiometer"),
        "uvloop": _version("uvloop"),
        "pyinstrument": _version("pyinstrument"),
    }
