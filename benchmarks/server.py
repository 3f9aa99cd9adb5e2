"""``python -m benchmarks.server``: the sandbox in its own process, on uvloop when installed.

A launcher around :class:`zyntro_async.testing.ZyntroSandbox` (127.0.0.1 only, requests
not recorded) that seeds ``--contacts`` contacts, prints the ``export ZYNTRO_...=`` lines
and then serves until one of these happens:

* SIGTERM or SIGINT (the benchmark runner terminates it after each run);
* its stdin reaches end of file (the runner holds a pipe open: if the runner dies, even
  by SIGKILL, the pipe closes and the server exits by itself);
* ``--max-seconds`` have passed (a last-resort bound on its lifetime).

Next to the sandbox it serves ``GET /stats`` on a second loopback port (printed as
``BENCH_STATS_URL``; the sandbox's own port serves only the API): the sandbox's counters
per endpoint (requests, successes, errors, injected faults by kind, quota refusals
included) as JSON, and with ``?census=1`` a census of the stored profiles:

* ``profiles``: records stored;
* ``duplicates``: records whose contact, ``profile_source`` and payload (canonical JSON)
  equal an earlier record's. Every benchmark item has a unique payload, so each one is
  an add applied twice;
* ``items_stored``: distinct (contact, source, payload) among the measured items (payload
  ``seq`` below the warm-up offset), to set against the successes a client reported.

A worker reads it before and after its timed part, so the counts cover exactly that part
(the census covers the whole run, warm-up included: a duplicate is one wherever it is).
``POST /reset`` on the same port forgets every stored profile (the seeded contacts stay)
and collects the garbage, so the runner can reuse one server for many runs of the same
configuration, each starting from the state a fresh server has (the counters go on:
workers read differences).

``--lean`` serves the same two endpoints from a minimal HTTP/1.1 front end (keep-alive,
``Content-Length`` bodies: what aiohttp sends) instead of ``aiohttp.web``, with the
sandbox's own rules, seeded contacts and credentials, and stores no profile: each
answer's bytes are what the sandbox sends (``profile_id`` counting from 1 included), at a
fraction of the server's CPU. Scenario (d) uses it: a million-item memory run measures the
client, and neither a server holding a million profiles (over a gigabyte) nor the
sandbox's request handling (a few thousand answers/s on one core) should set its pace.
No faults, no latency, no quota; ``/stats`` is served on the API port itself. It uses the
sandbox's private pieces (``_rules.answer``, ``_wire``, the sandbox's store): this
launcher lives in the same repository and moves with them.
``--script ENDPOINT:N:KIND`` makes the N-th request to ENDPOINT answer with fault KIND
(a :class:`~zyntro_async.testing.Fault` value), e.g. ``addProfileToContact:20:rate_limit``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import shlex
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from email.utils import formatdate
from typing import Any

import aiohttp
from aiohttp import web

from zyntro_async.testing import ENDPOINTS, Fault, Faults, ZyntroSandbox
from zyntro_async.testing._rules import answer as sandbox_answer
from zyntro_async.testing._stats import answered
from zyntro_async.testing._wire import API_PATH, dumps, parse_body

from ._common import HOST, WARMUP_OFFSET, run_loop, uvloop_available


def _script(spec: str) -> tuple[str, int, Fault]:
    endpoint, n, kind = spec.split(":")
    if endpoint not in ENDPOINTS or int(n) < 1:
        raise argparse.ArgumentTypeError(f"bad --script {spec!r}: ENDPOINT:N:KIND")
    return endpoint, int(n), Fault(kind)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.server", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    parser.add_argument("--contacts", type=int, default=1000, help="seed this many contacts")
    parser.add_argument("--faults", type=Faults.parse, default=None, help="fault spec")
    parser.add_argument("--seed", type=int, default=0, help="seed for contacts and faults")
    parser.add_argument(
        "--script",
        type=_script,
        action="append",
        default=[],
        help="ENDPOINT:N:KIND, the N-th request to ENDPOINT answers with fault KIND",
    )
    parser.add_argument("--no-uvloop", action="store_true", help="serve on the stdlib asyncio loop")
    parser.add_argument(
        "--max-seconds", type=float, default=3600.0, help="exit after this long (default 3600)"
    )
    parser.add_argument(
        "--lean",
        action="store_true",
        help="answer from a minimal HTTP front end with the sandbox's rules, storing nothing "
        "(no faults): scenario (d)",
    )
    parser.add_argument(
        "--watch-stdin",
        action="store_true",
        help="exit when stdin reaches EOF (the parent process went away)",
    )
    return parser


def counters(sandbox: ZyntroSandbox) -> dict[str, Any]:
    """The sandbox's counters, JSON-ready: per endpoint, faults by kind name."""
    out: dict[str, Any] = {}
    for endpoint in ENDPOINTS:
        stats = sandbox.stats[endpoint]
        out[endpoint] = {
            "requests": stats.requests,
            "successes": stats.successes,
            "errors": dict(stats.errors),
            "faults": {kind.value: count for kind, count in stats.faults.items()},
        }
    return out


def _stored_profiles(sandbox: ZyntroSandbox) -> Callable[[str], list[dict[str, Any]]]:
    """Read a contact's stored profiles: from the store itself when it is reachable (the
    census only reads them), else through ``sandbox.profiles`` (a deep copy each: about
    half a second per census of 10,000 contacts, spent between runs)."""
    profiles = getattr(getattr(sandbox, "_store", None), "profiles", None)
    if isinstance(profiles, dict):
        return lambda contact_id: profiles.get(contact_id, [])
    return sandbox.profiles


def census(sandbox: ZyntroSandbox, contact_ids: list[str]) -> dict[str, int]:
    """Profiles stored, duplicates (same contact, source and payload twice), measured items."""
    records = duplicates = items = 0
    stored = _stored_profiles(sandbox)
    for contact_id in contact_ids:
        seen: Counter[str] = Counter()
        for record in stored(contact_id):
            records += 1
            payload = record["profile_payload"]
            key = json.dumps([record["profile_source"], payload], sort_keys=True)
            seen[key] += 1
            if seen[key] > 1:
                duplicates += 1
            elif not (isinstance(payload, dict) and payload.get("seq", 0) >= WARMUP_OFFSET):
                items += 1
    return {"profiles": records, "duplicates": duplicates, "items_stored": items}


def reset(sandbox: ZyntroSandbox) -> bool:
    """Forget every stored profile (contacts, keys and counters stay); False if unable.

    The sandbox offers no public way to drop its profiles: this reaches into its store,
    and says so (False) if that has changed, so the runner starts fresh servers instead.
    """
    profiles = getattr(getattr(sandbox, "_store", None), "profiles", None)
    if not isinstance(profiles, dict):
        return False
    profiles.clear()
    gc.collect()
    return True


def _exports(base_url: str, creds: dict[str, str], stats_url: str, note: str) -> str:
    lines = [
        f"# {note}",
        f"export ZYNTRO_BASE_URL={shlex.quote(base_url)}",
        f"export ZYNTRO_API_KEY={shlex.quote(creds['api_key'])}",
        f"export ZYNTRO_DEVELOPER_SECRET={shlex.quote(creds['developer_secret'])}",
        f"export ZYNTRO_ORG_ID={shlex.quote(creds['org_id'])}",
        f"export ZYNTRO_MEMBER_ID={shlex.quote(creds['member_id'])}",
        f"export BENCH_STATS_URL={shlex.quote(stats_url)}",
        "# ready",
    ]
    return "\n".join(lines) + "\n"


async def _serve(args: argparse.Namespace) -> None:
    if args.lean:
        await _serve_lean(args)
        return
    sandbox = ZyntroSandbox(
        host="127.0.0.1", port=args.port, faults=args.faults, seed=args.seed, record_requests=0
    )
    for endpoint, n, kind in args.script:
        sandbox.script(endpoint, *([None] * (n - 1)), kind)
    async with sandbox:
        ids = sandbox.seed(args.contacts) if args.contacts > 0 else []

        async def stats(request: web.Request) -> web.Response:
            out = {"counters": counters(sandbox)}
            if request.query.get("census") == "1":
                out["census"] = census(sandbox, ids)
            return web.json_response(out)

        async def reset_handler(request: web.Request) -> web.Response:
            return web.json_response({"reset": reset(sandbox)})

        app = web.Application()
        app.router.add_get("/stats", stats)
        app.router.add_post("/reset", reset_handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            stats_port = int(runner.addresses[0][1])
            note = f"Zyntro sandbox at {sandbox.base_url} ({len(ids)} contacts, seed {args.seed})"
            stats_url = f"http://127.0.0.1:{stats_port}/stats"
            sys.stdout.write(_exports(sandbox.base_url, sandbox.credentials, stats_url, note))
            sys.stdout.flush()
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()


# --------------------------------------------------------------------- --lean


_SERVER_HEADER = (
    f"Python/{sys.version_info[0]}.{sys.version_info[1]} aiohttp/{aiohttp.__version__}"
).encode()


class _Clock:
    """The ``Date`` header, formatted once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def date(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second, self._value = now, formatdate(now, usegmt=True).encode()
        return self._value


def _response(status: bytes, content_type: bytes, body: bytes, clock: _Clock) -> bytes:
    return b"".join(
        (
            b"HTTP/1.1 ",
            status,
            b"\r\nContent-Type: ",
            content_type,
            b"\r\nContent-Length: ",
            str(len(body)).encode(),
            b"\r\nDate: ",
            clock.date(),
            b"\r\nServer: ",
            _SERVER_HEADER,
            b"\r\n\r\n",
            body,
        )
    )


class _LeanProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive and ``Content-Length`` bodies, pipelining allowed; enough
    for aiohttp's client, not a general server (no chunked bodies, no ``Expect``)."""

    def __init__(self, handle: Callable[[bytes, bytes, bytes], bytes]) -> None:
        self._handle = handle
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while self._transport is not None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(buffer[:end]).split(b"\r\n")
            length, close = 0, False
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection":
                    close = value.strip().lower() == b"close"
            total = end + 4 + length
            if len(buffer) < total:
                return
            body = bytes(buffer[end + 4 : total])
            del buffer[:total]
            method, target, _ = [*lines[0].split(b" ", 2), b"", b""][:3]
            self._transport.write(self._handle(method, target, body))
            if close:
                self._transport.close()
                return


async def _serve_lean(args: argparse.Namespace) -> None:
    if args.faults is not None or args.script:
        raise SystemExit("--lean serves no faults and no scripts")
    # Never started: it seeds the contacts and credentials, holds the rules' store and
    # counts in its public stats, as the real one would.
    sandbox = ZyntroSandbox(seed=args.seed, record_requests=0)
    ids = sandbox.seed(args.contacts) if args.contacts > 0 else []
    store = sandbox._store  # the rules' data: keys, contacts, profiles
    keep_profile = store.add_profile

    def add_and_forget(contact: Any, source: str, payload: Any) -> dict[str, Any]:
        record: dict[str, Any] = keep_profile(contact, source, payload)
        store.profiles.clear()  # store nothing: the ids still count up
        return record

    store.add_profile = add_and_forget  # type: ignore[method-assign]
    clock = _Clock()
    paths = {(API_PATH + endpoint).encode(): endpoint for endpoint in ENDPOINTS}
    json_type, text_type = b"application/json", b"text/plain; charset=utf-8"

    def handle(method: bytes, target: bytes, body: bytes) -> bytes:
        endpoint = paths.get(target)
        if endpoint is not None and method == b"POST":
            stats = sandbox.stats[endpoint]
            stats.requests += 1
            code, data = sandbox_answer(endpoint, store, parse_body(body), HOST)
            envelope = answered(stats, code, data)
            return _response(b"200 OK", json_type, dumps(envelope), clock)
        if target.split(b"?", 1)[0] == b"/stats" and method == b"GET":
            return _response(b"200 OK", json_type, dumps({"counters": counters(sandbox)}), clock)
        if target == b"/reset" and method == b"POST":
            return _response(b"200 OK", json_type, dumps({"reset": True}), clock)
        return _response(b"404 Not Found", text_type, b"404: Not Found", clock)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _LeanProtocol(handle), HOST, args.port)
    try:
        port = int(server.sockets[0].getsockname()[1])
        base_url = f"http://{HOST}:{port}{API_PATH}"
        note = f"lean Zyntro sandbox at {base_url} ({len(ids)} contacts, seed {args.seed})"
        stats_url = f"http://{HOST}:{port}/stats"
        sys.stdout.write(_exports(base_url, sandbox.credentials, stats_url, note))
        sys.stdout.flush()
        await asyncio.Event().wait()
    finally:
        server.close()


async def _main(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(_serve(args))
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    if args.watch_stdin:
        fd = sys.stdin.fileno()

        def watch() -> None:  # blocking read in a daemon thread; EOF = the parent is gone
            # os.read on the descriptor, not sys.stdin: a daemon thread blocked inside the
            # buffered reader would hold its lock and stall interpreter shutdown.
            with contextlib.suppress(OSError):
                while os.read(fd, 4096):
                    pass
            with contextlib.suppress(RuntimeError):  # the loop may already be closed
                loop.call_soon_threadsafe(task.cancel)

        threading.Thread(target=watch, name="stdin-watch", daemon=True).start()
    loop.call_later(args.max_seconds, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    use_uvloop = uvloop_available() and not args.no_uvloop
    print(f"# server loop: {'uvloop' if use_uvloop else 'asyncio'}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        run_loop(_main(args), use_uvloop=use_uvloop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
