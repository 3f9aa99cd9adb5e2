"""ZyntroSandbox: a faithful local Zyntro CRM server (aiohttp.web) for tests and benchmarks.

It serves ``POST <base>/apis/v2/public/crm/fetchContact`` and ``.../addProfileToContact``
as the doc pages describe. This module is the server alone: it reads each request, lets
the quota and the fault injector (:mod:`._injector`) have their say, asks the rules
(:mod:`._rules`, where the documented checks and their interpretations live) for the
answer, counts it (:mod:`._stats`) and sends it in the wire format (:mod:`._wire`). The
data it holds is :mod:`._store`; :meth:`ZyntroSandbox.seed` draws from :mod:`._seed`.
"""

from __future__ import annotations

import asyncio
import copy
import ssl
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Final, TypeVar

from aiohttp import web

from ._faults import Fault, Faults
from ._injector import FaultInjector, drop_connection, hang
from ._rules import answer
from ._seed import Seeder, new_key
from ._stats import RecordedRequest, SandboxStats, answered
from ._store import Key, Store, contact_from_fields
from ._wire import API_PATH, ENDPOINTS, dumps, parse_body

_MAX_BODY: Final = 16 * 1024 * 1024

_S = TypeVar("_S", bound="ZyntroSandbox")
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_Waiter = tuple[Callable[[SandboxStats], bool], "asyncio.Future[None]"]


class ZyntroSandbox:
    """A local Zyntro server: ``async with ZyntroSandbox() as sb: ... sb.base_url``.

    ``stats`` counts requests, successes, errors (by doc code) and faults per endpoint;
    ``requests`` keeps the last ``record_requests`` bodies (secrets redacted) and headers.
    ``seed`` drives both the fault dice and :meth:`seed`'s contacts. To wait for the
    server to reach a state, use :meth:`wait_for_requests` or :meth:`wait_until`.
    ``ssl_context`` (a server-side context with a certificate) serves https instead of
    http, to try a client's TLS or proxy settings end to end.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
        seed: int = 0,
        record_requests: int = 1000,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._host, self._port = host, port
        self._ssl = ssl_context
        self._random_seed = seed
        self._injector = FaultInjector(faults or Faults(), seed)
        self._seeder: Seeder | None = None
        self._store = Store(new_key(None))
        self.stats = SandboxStats()
        self.requests: deque[RecordedRequest] = deque(maxlen=record_requests)
        self._waiters: list[_Waiter] = []
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self._bound_port: int | None = None

    # -- lifecycle

    async def start(self) -> None:
        """Bind ``host:port`` and start serving."""
        if self._runner is not None:
            raise RuntimeError("sandbox already started")
        app = web.Application(client_max_size=_MAX_BODY)
        for endpoint in ENDPOINTS:
            app.router.add_post(API_PATH + endpoint, self._handler(endpoint))
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=5.0
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._port, ssl_context=self._ssl)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._stopping = asyncio.Event()
        self._runner = runner
        self._bound_port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop serving; hanging answers are released at once. Idempotent."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._stopping.set()
        await runner.cleanup()

    async def __aenter__(self: _S) -> _S:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- configuration

    @property
    def port(self) -> int:
        """The bound TCP port (after start)."""
        if self._bound_port is None:
            raise RuntimeError("sandbox not started")
        return self._bound_port

    @property
    def base_url(self) -> str:
        """``http://<host>:<port>/apis/v2/public/crm/`` (trailing slash; ``https`` with an
        ``ssl_context``)."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        scheme = "http" if self._ssl is None else "https"
        return f"{scheme}://{host}:{self.port}{API_PATH}"

    @property
    def random_seed(self) -> int:
        """The ``seed`` this sandbox was built with (faults and seeded contacts)."""
        return self._random_seed

    @property
    def credentials(self) -> dict[str, str]:
        """Working ``api_key``, ``developer_secret``, ``org_id``, ``member_id``."""
        return self._store.primary.credentials()

    @property
    def faults(self) -> Faults:
        """The fault configuration; assign a new :class:`Faults` to change it at runtime."""
        return self._injector.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self._injector.faults = faults

    def script(self, endpoint: str, *faults: Fault | None) -> None:
        """Queue the next answers of ``endpoint`` (None = normal); used before probabilities."""
        self._injector.script(endpoint, *faults)

    def add_credentials(
        self,
        *,
        active: bool = True,
        ip_whitelist: list[str] | None = None,
        org_id: str | None = None,
    ) -> dict[str, str]:
        """Another key and member, in the sandbox's org unless ``org_id`` is given."""
        org = org_id or self._store.primary.org_id
        key = new_key(org, active=active, ip_whitelist=ip_whitelist)
        self._store.keys[key.api_key] = key
        return key.credentials()

    def _use_credentials(self, key: Key) -> None:
        """Serve ``key`` as :attr:`credentials` instead of the random ones (the dev server)."""
        self._store.replace_primary(key)

    # -- data

    def add_contact(self, **fields: Any) -> str:
        """Store a contact; return its id. Fields go without the ``contact_`` prefix.

        Values are converted to the wire format (bool -> "0"/"1", list/dict -> JSON
        string, datetime -> "YYYY-MM-DD HH:MM:SS", None -> ""); ``stage_id`` is served as
        ``contact_stageid``. Special: ``id``, ``owner`` (default: the credentials'
        member), ``org_id`` (default: the sandbox org, not served), ``notes`` (strings or
        note dicts), ``entity`` (dict), ``signals`` (served as given). Unknown names are
        served verbatim as ``contact_<name>``; names already starting with ``contact_``
        are served verbatim under that key (to serve off-spec values).
        """
        store = self._store
        contact = contact_from_fields(
            fields,
            owner=store.primary.member_id,
            org_id=store.primary.org_id,
            taken=store.contacts,
        )
        store.contacts[contact.id] = contact
        return contact.id

    def seed(self, n: int) -> list[str]:
        """Add ``n`` realistic contacts owned by the credentials' member; return their ids.

        Deterministic from the sandbox ``seed`` (ids: :func:`seeded_contact_ids`); later
        calls continue the same stream. Some contacts have notes, some an entity.
        """
        if self._seeder is None:
            self._seeder = Seeder(self._random_seed)
        primary = self._store.primary
        batch = self._seeder.contacts(n, primary.org_id, primary.member_id)
        self._store.contacts.update((c.id, c) for c in batch)
        return [c.id for c in batch]

    def contact(self, contact_id: str) -> dict[str, Any]:
        """The ``contact`` object fetchContact serves for ``contact_id`` (KeyError if none)."""
        return self._store.contacts[contact_id].wire()

    def profiles(self, contact_id: str) -> list[dict[str, Any]]:
        """Stored profile records of a contact, oldest first, payloads as received."""
        return copy.deepcopy(self._store.profiles.get(contact_id, []))

    # -- waiting

    async def wait_until(
        self, condition: Callable[[SandboxStats], bool], *, timeout: float = 10.0
    ) -> None:
        """Wait until ``condition(self.stats)`` holds, at most ``timeout`` seconds.

        The condition is checked now and whenever a counter changes (a request arrives,
        is counted as a fault, a success or an error, or is answered). Instead of
        sleeping in a test and hoping the server got that far::

            await sandbox.wait_until(lambda s: s.add_profile_to_contact.successes >= 100)

        Raises :class:`asyncio.TimeoutError` (on Python 3.11+ the built-in
        ``TimeoutError``) naming the counters if it does not hold in time.
        """
        if condition(self.stats):
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter: _Waiter = (condition, future)
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise asyncio.TimeoutError(
                f"the sandbox did not reach the awaited state in {timeout:g} s: {self.stats}"
            ) from None
        finally:
            self._waiters.remove(waiter)

    async def wait_for_requests(
        self, n: int, endpoint: str | None = None, *, timeout: float = 10.0
    ) -> None:
        """Wait until ``n`` requests have arrived, to ``endpoint`` or to both endpoints.

        Counts every request since the sandbox was built (``stats.requests``), answered
        or not; see :meth:`wait_until` for other states and the timeout.
        """
        if endpoint is None:
            await self.wait_until(lambda s: s.requests >= n, timeout=timeout)
        else:
            self.stats[endpoint]  # KeyError now for an unknown endpoint, not a timeout
            await self.wait_until(lambda s: s[endpoint].requests >= n, timeout=timeout)

    def _changed(self) -> None:
        for condition, future in self._waiters:
            if future.done():
                continue
            try:
                if condition(self.stats):
                    future.set_result(None)
            except Exception as exc:  # a broken condition fails its waiter, not the server
                future.set_exception(exc)

    # -- request handling

    def _handler(self, endpoint: str) -> _Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            stats = self.stats
            stats.in_flight += 1
            stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)
            stats[endpoint].requests += 1
            try:
                body = parse_body(await request.read())
                if self.requests.maxlen:
                    self.requests.append(
                        RecordedRequest.redacted(endpoint, body, request.headers, request.remote)
                    )
                self._changed()
                return await self._answer(endpoint, body, request)
            finally:
                stats.in_flight -= 1
                self._changed()

        return handle

    async def _answer(
        self, endpoint: str, body: dict[str, Any], request: web.Request
    ) -> web.StreamResponse:
        stats, injector = self.stats[endpoint], self._injector
        # The quota sits in front, as a gateway does: decided on arrival, before the
        # dice and before any state change.
        quota = injector.admit(body.get("api_key"))
        quota_headers = None if quota is None else injector.quota_headers(quota)
        if quota is not None and not quota.admitted:
            stats.faults[Fault.QUOTA] += 1
            self._changed()
            if not injector.faults.quota_instant:
                delay = injector.delay()
                if delay > 0:
                    await asyncio.sleep(delay)
            return injector.quota_response(quota)
        fault = injector.choose(endpoint)
        delay = injector.delay()
        if delay > 0:
            await asyncio.sleep(delay)
        if fault is not None:
            stats.faults[fault] += 1
            self._changed()
            if fault.is_status:
                response = injector.status_response(fault)
                if quota_headers is not None:
                    response.headers.update(quota_headers)
                return response
        code, data = answer(endpoint, self._store, body, request.remote)
        envelope = answered(stats, code, data)
        self._changed()
        if fault is Fault.TIMEOUT_AFTER_COMMIT:
            await hang(injector.faults.hang_seconds, self._stopping)
        if fault is not None:
            return drop_connection(request)
        return web.Response(
            body=dumps(envelope),
            content_type="application/json",
            headers=quota_headers,
        )
