"""The only module that speaks aiohttp: one pooled session, and aiohttp errors mapped to ours.

Every failure leaves here as a :class:`~._exceptions.APIConnectionError` subclass that says how
far the request got (nothing sent / sent and no answer), because that is what decides
whether a retry is safe for a non-idempotent endpoint. Only failures that provably happen
before a byte leaves (connecting, TLS, a pool slot) are "nothing sent"; every other
exception, named here or not (an answer aiohttp cannot parse, an error from below it),
is "sent, no usable answer".
"""

from __future__ import annotations

import asyncio
import functools
import io
import logging
import platform
import ssl

import aiohttp
from yarl import URL

from ._config import Limits, Timeout
from ._deadlines import Deadlines
from ._exceptions import (
    APIConnectionError,
    ClientClosedError,
    ConnectError,
    ConnectTimeout,
    DisconnectedError,
    ProxyError,
    ReadTimeout,
    ServerError,
    TLSError,
    ZyntroError,
)
from ._protocol import RawResponse
from ._version import __version__

log = logging.getLogger("zyntro_async")

USER_AGENT = (
    f"zyntro-async/{__version__} Python/{platform.python_version()} aiohttp/{aiohttp.__version__}"
)

_CHUNK = 64 * 1024
_STREAM_BODY_FROM = 512 * 1024


@functools.lru_cache(maxsize=64)  # per Timeout (frozen): a per-call one is built once
def _client_timeout(timeout: Timeout) -> aiohttp.ClientTimeout:
    # aiohttp's ``connect`` includes the wait for a pool slot; ``sock_connect`` only the TCP
    # (and TLS) handshake. Ours means both, so it bounds each. ``total`` is ours to enforce
    # (:mod:`._deadlines`): aiohttp would arm and disarm a timer per request for it.
    return aiohttp.ClientTimeout(
        total=None,
        connect=timeout.connect,
        sock_connect=timeout.connect,
        sock_read=timeout.read,
    )


def _tls_reason(exc: aiohttp.ClientError) -> str:
    """Why a TLS handshake failed, in OpenSSL's words ("certificate verify failed: unable
    to get local issuer certificate"), not aiohttp's class name."""
    cause = getattr(exc, "certificate_error", None) or getattr(exc, "os_error", None)
    detail = getattr(cause, "verify_message", None)
    reason = getattr(cause, "reason", None)
    if isinstance(reason, str) and reason:
        reason = reason.replace("_", " ").lower()
        return f"{reason}: {detail}" if isinstance(detail, str) and detail else reason
    if isinstance(detail, str) and detail:
        return detail
    return type(exc).__name__


def map_error(exc: BaseException, *, endpoint: str, contact_id: str) -> APIConnectionError:
    """Translate an aiohttp/asyncio failure into the SDK's tree, keeping 'was it sent?'."""
    where = {"endpoint": endpoint, "contact_id": contact_id}
    # Order matters: aiohttp's timeout classes are also ClientErrors and OSErrors.
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return ConnectTimeout("no connection or pool slot within the connect timeout", **where)
    if isinstance(exc, aiohttp.SocketTimeoutError):
        return ReadTimeout("no answer within the read timeout", **where)
    if isinstance(exc, asyncio.TimeoutError):
        return ReadTimeout("no complete answer within the total timeout", **where)
    if isinstance(exc, (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError)):
        return TLSError(f"TLS failure: {_tls_reason(exc)}", **where)
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        reason = exc.os_error.strerror or type(exc).__name__
        return ProxyError(f"cannot connect to the proxy: {reason}", **where)
    if isinstance(exc, aiohttp.ClientHttpProxyError):  # CONNECT refused: nothing went out
        return ProxyError(
            f"the proxy refused a tunnel to the API: HTTP {exc.status} {exc.message}", **where
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        reason = exc.os_error.strerror or type(exc).__name__
        return ConnectError(f"cannot connect: {reason}", **where)
    if isinstance(exc, aiohttp.InvalidURL):
        return ConnectError(f"cannot connect: invalid URL ({type(exc).__name__})", **where)
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError)):
        return DisconnectedError("the server closed the connection before answering", **where)
    if isinstance(exc, (aiohttp.ClientOSError, aiohttp.ServerConnectionError)):
        return DisconnectedError(f"connection lost: {type(exc).__name__}", **where)
    # Anything else happened once the request may have left: an answer that is not valid
    # HTTP (aiohttp's ClientResponseError), or an exception no branch above names. Only
    # the type is kept: the parser's message quotes the raw answer.
    return APIConnectionError(
        f"request failed after it may have been sent, no usable answer ({type(exc).__name__})",
        **where,
    )


class Lease:
    """One client's use of a transport that clients made by ``with_options`` share: once
    closed, that client's requests are refused; the pool stays open for the others."""

    __slots__ = ("closed",)

    def __init__(self) -> None:
        self.closed = False


class Transport:
    """POSTs JSON bodies to ``base_url + endpoint`` over one lazily created session."""

    def __init__(
        self,
        *,
        base_url: str,
        timeout: Timeout,
        limits: Limits,
        session: aiohttp.ClientSession | None = None,
        ssl_context: ssl.SSLContext | bool = True,
        proxy: str | None = None,
    ) -> None:
        self._base_url = base_url
        # Credentials in the proxy URL go out as Proxy-Authorization (aiohttp's doing).
        self._proxy = None if proxy is None else URL(proxy)
        self._settings = timeout
        self._timeout = _client_timeout(timeout)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._deadlines: Deadlines | None = None  # the requests' total timeouts, per loop
        self._limits = limits
        self._ssl = ssl_context
        self._session = session
        self._owns_session = session is None
        self._closed = False
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        # A session we create carries our headers itself, so a request passes none (aiohttp
        # then merges nothing); a caller's session gets them per request.
        self._request_headers: dict[str, str] | None = None if session is None else self._headers
        self._urls: dict[str, URL] = {}

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def base_url(self) -> str:
        """Where requests go: ``base_url + endpoint``."""
        return self._base_url

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ClientClosedError("the client is closed")
        session = self._session
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None and self._owns_session:
                raise ClientClosedError(
                    "this client's connection pool belongs to another event loop (an earlier "
                    "asyncio.run()); create one client per event loop, inside it, and close it "
                    "there (async with ZyntroClient(...))"
                )
            self._loop = loop
            self._deadlines = Deadlines(loop)
        if session is None:
            # Created here, inside the running loop, never in __init__.
            connector = aiohttp.TCPConnector(
                limit=self._limits.max_connections,
                limit_per_host=self._limits.max_connections,
                keepalive_timeout=self._limits.keepalive_expiry or 0,
                force_close=self._limits.keepalive_expiry is None,
                ssl=self._ssl,
            )
            session = self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                raise_for_status=False,
                headers=self._headers,
                # The API sets no cookies and reads none: skip the jar's work per request.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return session

    @property
    def total_timeout(self) -> float | None:
        return self._settings.total

    @property
    def connection_limit(self) -> int | None:
        """How many requests the pool can carry at once (None: no limit known)."""
        if self._owns_session:
            return self._limits.max_connections
        connector = self._session.connector if self._session is not None else None
        limit = getattr(connector, "limit", 0) if connector is not None else 0
        return limit if isinstance(limit, int) and limit > 0 else None

    async def post(
        self,
        endpoint: str,
        body: bytes,
        contact_id: str,
        total: float | None = None,
        timeout_settings: Timeout | None = None,
    ) -> RawResponse:
        """Send one request; return the raw answer or raise an APIConnectionError.

        ``timeout_settings`` replaces the pool's :class:`Timeout` for this request (a
        per-call timeout); ``total`` then shortens its total (what is left of a deadline)."""
        session = self._session
        if session is None or self._closed or self._loop is not asyncio.get_running_loop():
            session = self._get_session()  # made, refused, or moved to this loop there
        url = self._urls.get(endpoint)
        if url is None:  # parsed once per endpoint, not per request
            url = self._urls[endpoint] = URL(self._base_url + endpoint)
        timeout = self._timeout
        limit = self._settings.total
        if (
            timeout_settings is not None
            and timeout_settings is not self._settings
            and timeout_settings != self._settings
        ):
            timeout = _client_timeout(timeout_settings)
            limit = timeout_settings.total
        if total is not None:
            limit = total
        deadlines = self._deadlines
        assert deadlines is not None  # set with the loop, by _get_session
        watch = None if limit is None else deadlines.watch(limit)
        try:
            async with session.post(
                url,
                # aiohttp warns about (and blocks the loop on) big raw bodies; stream those.
                data=body if len(body) < _STREAM_BODY_FROM else io.BytesIO(body),
                headers=self._request_headers,
                allow_redirects=False,  # never re-send the credentials somewhere else
                timeout=timeout,
                proxy=self._proxy,
            ) as resp:
                declared = resp.content_length
                if (
                    declared is not None
                    and declared <= self._limits.max_response_bytes
                    and not resp.headers.get("Content-Encoding")
                ):
                    payload = await resp.read()  # the common answer: small, length known
                else:
                    payload = await self._read_capped(
                        resp, endpoint=endpoint, contact_id=contact_id
                    )
                return RawResponse(resp.status, resp.headers, payload)
        except asyncio.CancelledError:
            if watch is not None and deadlines.expired(watch):
                raise ReadTimeout(
                    "no complete answer within the total timeout",
                    endpoint=endpoint,
                    contact_id=contact_id,
                ) from None
            raise
        except ZyntroError:
            raise  # ours already (a capped body, a timeout)
        except Exception as exc:
            # aiohttp may also have set ``exc`` on a future whose waiter's frame is in its
            # traceback (a cycle of asyncio's and aiohttp's own): without its traceback,
            # ``exc`` no longer takes this frame, and what it holds, into that cycle.
            exc.__traceback__ = None
            # aiohttp raises a bare RuntimeError("Session is closed") after close().
            if self._closed or (isinstance(exc, RuntimeError) and session.closed):
                raise ClientClosedError(
                    "the client was closed while this call was in flight",
                    endpoint=endpoint,
                    contact_id=contact_id,
                ) from None
            raise map_error(exc, endpoint=endpoint, contact_id=contact_id) from None
        finally:
            if watch is not None:
                deadlines.done(watch)

    async def _read_capped(
        self, resp: aiohttp.ClientResponse, *, endpoint: str, contact_id: str
    ) -> bytes:
        """The answer ``post`` cannot read at once: length too big, unknown or compressed."""
        cap = self._limits.max_response_bytes
        declared = resp.content_length
        if declared is not None and declared > cap:
            raise ServerError(
                f"answer of {declared} bytes exceeds max_response_bytes={cap}",
                status=resp.status,
                endpoint=endpoint,
                contact_id=contact_id,
            )
        # Unknown or compressed length: count decompressed bytes as they arrive.
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > cap:
                raise ServerError(
                    f"answer exceeds max_response_bytes={cap}",
                    status=resp.status,
                    endpoint=endpoint,
                    contact_id=contact_id,
                )
            chunks.append(chunk)
        return b"".join(chunks)

    async def close(self) -> None:
        """Close the session if we own it. Idempotent."""
        if self._closed:
            return
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()
