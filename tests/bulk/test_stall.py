"""A stalled backend behind a gateway timeout costs time, not items.

The gateway here behaves as nginx with ``proxy_read_timeout 1s`` in front of a backend
process that is stopped for a while: a request that reaches it during the stall waits in
the backend's socket, the gateway answers 504 after 1 s, and the backend processes the
request (the add IS stored) once it runs again. Every add in doubt must be reconciled when
the server answers again, within its deadline, whatever the retry budget says.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp import web

from zyntro_async import ProfileRequest, ZyntroClient
from zyntro_async.testing import Faults, ZyntroSandbox

ADD = "addProfileToContact"
GATEWAY_TIMEOUT = 1.0
NGINX_504 = (
    b"<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n"
    b"<center><h1>504 Gateway Time-out</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


class StallingGateway:
    """Forwards to the sandbox; after ``stall_after`` adds, the backend stops for
    ``stall`` seconds (requests queue, the gateway answers 504 after its timeout)."""

    def __init__(
        self, sandbox: ZyntroSandbox, *, stall_after: int, stall: float, drops: bool = False
    ) -> None:
        self.sandbox = sandbox
        self.drops = drops  # the backend drops what the gateway gave up on
        self.stall_after = stall_after
        self.stall = stall
        self.adds = 0
        self.resume_at = 0.0
        self.timeouts = 0
        self.backlog: set[asyncio.Task[tuple[int, bytes]]] = set()
        self.session: aiohttp.ClientSession | None = None
        self.order = asyncio.Condition()
        self.queued = self.served = 0

    async def forward(self, endpoint: str, body: bytes, at: float) -> tuple[int, bytes]:
        loop = asyncio.get_running_loop()
        arrived = loop.time()
        if at > loop.time() or self.served < self.queued:
            # In the stopped backend's socket, or behind what queued there: the backend
            # takes them in the order they came.
            turn = self.queued
            self.queued += 1
            if at > loop.time():
                await asyncio.sleep(at - loop.time())
            async with self.order:
                await self.order.wait_for(lambda: self.served == turn)
            try:
                if self.drops and loop.time() - arrived >= GATEWAY_TIMEOUT:
                    return 504, b""  # nobody is waiting for it: not processed
                return await self.post(endpoint, body)
            finally:
                async with self.order:
                    self.served += 1
                    self.order.notify_all()
        return await self.post(endpoint, body)

    async def post(self, endpoint: str, body: bytes) -> tuple[int, bytes]:
        assert self.session is not None
        async with self.session.post(
            self.sandbox.base_url + endpoint,
            data=body,
            headers={"Content-Type": "application/json"},
        ) as upstream:
            return upstream.status, await upstream.read()

    async def handle(self, request: web.Request) -> web.Response:
        endpoint = request.match_info["endpoint"]
        body = await request.read()
        loop = asyncio.get_running_loop()
        if endpoint == ADD:
            self.adds += 1
            if self.adds == self.stall_after:
                self.resume_at = loop.time() + self.stall
        task = loop.create_task(self.forward(endpoint, body, self.resume_at))
        self.backlog.add(task)
        task.add_done_callback(self.backlog.discard)
        done, _ = await asyncio.wait({task}, timeout=GATEWAY_TIMEOUT)
        if not done:
            self.timeouts += 1
            return web.Response(status=504, body=NGINX_504, content_type="text/html")
        status, answer = task.result()
        return web.Response(status=status, body=answer, content_type="application/json")


@asynccontextmanager
async def gateway_for(gateway: StallingGateway) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/apis/v2/public/crm/{endpoint}", gateway.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    gateway.session = aiohttp.ClientSession()
    try:
        yield f"http://127.0.0.1:{port}/apis/v2/public/crm/"
    finally:
        await runner.cleanup()
        if gateway.backlog:  # requests still queued in the backend: it processes them
            await asyncio.wait(set(gateway.backlog))
        await gateway.session.close()


@pytest.mark.slow
@pytest.mark.parametrize("drops", [False, True], ids=["backend-processes", "backend-drops"])
async def test_a_six_second_stall_fails_no_item_and_duplicates_none(drops: bool) -> None:
    async with ZyntroSandbox(seed=213, faults=Faults(latency=0.005)) as sb:
        ids = sb.seed(600)
        items = [ProfileRequest(cid, {"n": n}, "Stall", key=cid) for n, cid in enumerate(ids)]
        gateway = StallingGateway(sb, stall_after=150, stall=6.0, drops=drops)
        # Every default: a 60 s deadline, the default retry budget.
        async with (
            gateway_for(gateway) as base,
            ZyntroClient(**sb.credentials, base_url=base) as client,
        ):
            run = client.bulk_add_profiles(items, concurrency=32)
            results = [r async for r in run]

        assert gateway.timeouts >= 32  # the stall happened, to a full pool
        assert run.report is not None
        assert run.report.stopped is None
        assert run.report.failed == 0, [r.error for r in results if not r.ok][:5]
        assert run.report.succeeded == 600
        stored = {cid: sb.profiles(cid) for cid in ids}
        assert {cid: len(records) for cid, records in stored.items()} == dict.fromkeys(ids, 1)
        for result in results:  # every reported ok is the record on the server
            assert result.value is not None
            assert result.value.id == stored[result.request.contact_id][0]["profile_id"]
