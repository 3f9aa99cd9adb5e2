"""A gateway in front of the sandbox that refuses at the edge, as nginx ``limit_req`` does.

A request the leaky bucket admits is forwarded to the sandbox (and so takes the sandbox's
latency); one it refuses is answered at once (429 JSON, or 503 with an HTML page), without
``Retry-After`` unless asked, so the refusals come back far sooner than the accepted answers.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from aiohttp import web
from yarl import URL

HTML_503 = (
    b"<html><head><title>503 Service Temporarily Unavailable</title></head><body>"
    b"<center><h1>503 Service Temporarily Unavailable</h1></center>"
    b"<hr><center>nginx/1.22.1</center></body></html>"
)


class LeakyBucket:
    """nginx ``limit_req rate=R burst=B nodelay``: an excess counter draining at R/s."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.excess = 0.0
        self.at = time.monotonic()

    def admit(self) -> bool:
        now = time.monotonic()
        self.excess = max(0.0, self.excess - (now - self.at) * self.rate)
        self.at = now
        if self.excess + 1 > self.burst + 1:
            return False
        self.excess += 1
        return True


class Edge:
    """Counts what it admitted and refused."""

    def __init__(self) -> None:
        self.admitted = 0
        self.refused = 0
        self.first = 0.0
        self.last = 0.0


@asynccontextmanager
async def edge_gateway(
    upstream: str,
    *,
    rate: float,
    burst: float = 0.0,
    status: int = 429,
    retry_after: str | None = None,
) -> AsyncIterator[tuple[str, Edge]]:
    """Serve on a free loopback port in front of ``upstream`` (the sandbox's base URL);
    yield ``(base_url, counts)``."""
    target = URL(upstream)
    origin, path = str(target.origin()), target.path
    bucket = LeakyBucket(rate, burst)
    edge = Edge()
    session = aiohttp.ClientSession()

    async def handle(request: web.Request) -> web.StreamResponse:
        now = time.monotonic()
        if not edge.first:
            edge.first = now
        if not bucket.admit():
            edge.refused += 1
            headers = {} if retry_after is None else {"Retry-After": retry_after}
            if status == 429:
                return web.json_response(
                    {"status": "error", "data": ["rate limited"]}, status=429, headers=headers
                )
            return web.Response(
                body=HTML_503, status=status, content_type="text/html", headers=headers
            )
        edge.admitted += 1
        body = await request.read()
        async with session.post(origin + request.path, data=body) as answer:
            data = await answer.read()
            edge.last = time.monotonic()
            return web.Response(body=data, status=answer.status, content_type=answer.content_type)

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}{path}", edge
    finally:
        await runner.cleanup()
        await session.close()
