"""A raw-TCP front for the sandbox: it forwards each request (so an add IS applied) and then
answers with bytes of the test's choosing, which may not be HTTP at all.

One request per connection (``Connection: close``), on 127.0.0.1; nothing but asyncio.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import aiohttp

from zyntro_async.testing import ZyntroSandbox

#: Given the endpoint and the sandbox's real answer (status, body), the bytes to send back
#: instead, or None to pass the real answer on.
Answer = Callable[[str, int, bytes], "bytes | None"]


def http(status: int, body: bytes, *extra_headers: bytes) -> bytes:
    head = [
        f"HTTP/1.1 {status} X".encode(),
        b"Content-Type: application/json",
        f"Content-Length: {len(body)}".encode(),
        b"Connection: close",
        *extra_headers,
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def garbled_status_line(_: str, __: int, body: bytes) -> bytes:
    return b"HTTP/1.1 2OO OOPS\x00\r\nContent-Length: 2\r\n\r\n{}"


def ten_thousand_headers(_: str, status: int, body: bytes) -> bytes:
    return http(status, body, *(f"X-Filler-{n}: v".encode() for n in range(10_000)))


def one_huge_header(_: str, status: int, body: bytes) -> bytes:
    return http(status, body, b"X-Huge: " + b"a" * 100_000)


GARBAGE: dict[str, Callable[[str, int, bytes], bytes]] = {
    "garbled-status-line": garbled_status_line,
    "10000-headers": ten_thousand_headers,
    "100KB-header": one_huge_header,
}


@asynccontextmanager
async def raw_front(sandbox: ZyntroSandbox, answer: Answer) -> AsyncIterator[str]:
    """Serve on 127.0.0.1; yield the base URL to give a client instead of the sandbox's."""
    session = aiohttp.ClientSession()
    path = sandbox.base_url.split(str(sandbox.port), 1)[1]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            target = request_line.split(" ")[1]
            length = 0
            for line in header_lines:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            body = await reader.readexactly(length)
            endpoint = target.rsplit("/", 1)[-1]
            async with session.post(
                sandbox.base_url + endpoint,
                data=body,
                headers={"Content-Type": "application/json"},
            ) as upstream:
                real_status, real_body = upstream.status, await upstream.read()
            reply = answer(endpoint, real_status, real_body)
            writer.write(http(real_status, real_body) if reply is None else reply)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}{path}"
    finally:
        server.close()
        await server.wait_closed()
        await session.close()
