"""Fault injection for one sandbox: per request, the quota, then a script, then the dice.

:class:`FaultInjector` owns the seeded ``random.Random`` the dice and the jitter draw
from, the scripted answers (consumed first, one per request and endpoint) and the quota
(:mod:`._quota`); it also builds the fault answers: the status pages, a dropped
connection, a hang released when the sandbox stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import deque
from collections.abc import Callable
from typing import Final

from aiohttp import web

from ._faults import Fault, Faults
from ._quota import Limiter, QuotaDecision, limiter
from ._wire import ENDPOINTS

_BAD_GATEWAY_HTML: Final = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_TOO_MANY_HTML: Final = (
    "<html>\r\n<head><title>429 Too Many Requests</title></head>\r\n<body>\r\n"
    "<center><h1>429 Too Many Requests</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_UNAVAILABLE_HTML: Final = (
    "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n"
    "<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n"
    "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


def _seconds_header(seconds: float) -> str:
    return str(int(seconds)) if seconds == int(seconds) else f"{seconds:g}"


class FaultInjector:
    """Per-request fault decisions for one sandbox: quota, scripts, then seeded dice."""

    def __init__(
        self, faults: Faults, seed: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.faults = faults
        self._rng = random.Random(seed)
        self._scripts: dict[str, deque[Fault | None]] = {name: deque() for name in ENDPOINTS}
        self._server_errors = 0
        self._clock = clock
        self._quota: tuple[tuple[str, float, float, float], Limiter] | None = None

    def admit(self, api_key: object) -> QuotaDecision | None:
        """The quota's decision for a request presenting ``api_key``; None without a quota.

        The limiters are rebuilt (full, windows empty) when the quota's shape, rate,
        burst or window change.
        """
        faults = self.faults
        if not faults.quota_rps:
            self._quota = None
            return None
        shape = (faults.quota_shape, faults.quota_rps, faults.quota_capacity, faults.quota_window)
        if self._quota is None or self._quota[0] != shape:
            self._quota = (shape, limiter(*shape, clock=self._clock))
        return self._quota[1].take(api_key if isinstance(api_key, str) else "")

    def script(self, endpoint: str, *faults: Fault | None) -> None:
        """Queue the next answers for ``endpoint`` (``None`` = answer normally)."""
        if endpoint not in self._scripts:
            raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {ENDPOINTS}")
        for fault in faults:
            if fault is not None and not isinstance(fault, Fault):
                raise TypeError(f"expected Fault or None, got {fault!r}")
            if fault is Fault.QUOTA:
                raise ValueError("Fault.QUOTA is decided by Faults.quota_rps, not scripted")
        self._scripts[endpoint].extend(faults)

    def pending(self, endpoint: str) -> int:
        """How many scripted answers are still queued for ``endpoint``."""
        return len(self._scripts[endpoint])

    def choose(self, endpoint: str) -> Fault | None:
        """The fault for the next request to ``endpoint``, or None."""
        queue = self._scripts[endpoint]
        if queue:
            return queue.popleft()
        faults = self.faults
        if endpoint not in faults.endpoints:
            return None
        probabilities = faults.probabilities
        if not any(p for _, p in probabilities):
            return None
        roll = self._rng.random()
        for kind, p in probabilities:
            if roll < p:
                return kind
            roll -= p
        return None

    def delay(self) -> float:
        """Seconds to wait before answering the current request: latency plus jitter."""
        faults = self.faults
        extra = self._rng.uniform(0.0, faults.jitter) if faults.jitter else 0.0
        return faults.latency + extra

    def quota_headers(self, decision: QuotaDecision) -> dict[str, str] | None:
        """The headers ``Faults.quota_headers`` says an answer carries for ``decision``."""
        mode = self.faults.quota_headers
        if mode == "all":
            return decision.headers
        if mode == "retry_after" and decision.retry_after is not None:
            return {"Retry-After": str(decision.retry_after)}
        return None

    def quota_response(self, decision: QuotaDecision) -> web.Response:
        """The answer of a request the quota refused: status, body and headers as set."""
        faults = self.faults
        headers = self.quota_headers(decision)
        if faults.quota_body == "html":
            page = _TOO_MANY_HTML if faults.quota_status == 429 else _UNAVAILABLE_HTML
            return web.Response(
                status=faults.quota_status, text=page, content_type="text/html", headers=headers
            )
        message = "Too many requests" if faults.quota_status == 429 else "Service unavailable"
        return web.json_response(
            {"data": [message], "status": "error"}, status=faults.quota_status, headers=headers
        )

    def status_response(self, fault: Fault) -> web.Response:
        """The HTTP answer for a status fault (429/500/502/503; not QUOTA)."""
        faults = self.faults
        if fault is Fault.RATE_LIMIT:
            return web.json_response(
                {"data": ["Too many requests"], "status": "error"},
                status=429,
                headers={"Retry-After": _seconds_header(faults.retry_after)},
            )
        if fault is Fault.SERVER_ERROR:
            self._server_errors += 1
            mode = faults.server_error_body
            if mode == "json" or (mode == "alternate" and self._server_errors % 2):
                return web.json_response(
                    {"data": ["Internal server error"], "status": "error"}, status=500
                )
            return web.Response(status=500, text="Internal Server Error")
        if fault is Fault.BAD_GATEWAY_HTML:
            return web.Response(status=502, text=_BAD_GATEWAY_HTML, content_type="text/html")
        if fault is Fault.UNAVAILABLE:
            headers = (
                {"Retry-After": _seconds_header(faults.retry_after)}
                if faults.unavailable_retry_after
                else None
            )
            return web.Response(
                status=503, text=_UNAVAILABLE_HTML, content_type="text/html", headers=headers
            )
        raise ValueError(f"{fault} is not a status fault")


def drop_connection(request: web.BaseRequest) -> web.Response:
    """Close the client connection without an answer; return a response aiohttp will discard.

    Writing the returned response hits the closed transport, which aiohttp treats as a
    premature client disconnection: no traceback, no warning. The client reads EOF
    before any status line and raises ``aiohttp.ServerDisconnectedError``.
    """
    transport = request.transport
    if transport is not None:
        transport.close()
    return web.Response(status=204)


async def hang(seconds: float, stopping: asyncio.Event) -> None:
    """Sleep ``seconds``, waking early when the sandbox is stopping."""
    if seconds <= 0 or stopping.is_set():
        return
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stopping.wait(), timeout=seconds)
