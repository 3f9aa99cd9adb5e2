"""``ZyntroClient``: the async entry point. It composes the pieces and owns their lifetime:
settings (``_config``), request building and answer reading (``_protocol``), the aiohttp
session (``_transport``) and the calls with their retries (``_operations``).

Per-call options (``timeout=``, ``retry=``) and :meth:`ZyntroClient.with_options` give
calls other settings over the same pool: a client made by ``with_options`` (through the
private constructor :meth:`ZyntroClient._derived`) holds a lease on the pool of the client
it came from, which alone owns (and closes) it (see :mod:`._call_options`).
"""

from __future__ import annotations

import logging
import os
import ssl
import weakref
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any
from uuid import UUID

import aiohttp

from ._bulk import BulkRun, _Run
from ._call_options import (
    UNSET,
    Pool,
    TimeoutArg,
    Unset,
    check_borrowable,
    resolve_timeout,
    retry_policy,
)
from ._config import Credentials, Limits, Timeout, resolve_settings
from ._exceptions import ConfigurationError, ValidationError
from ._models import ContactDetails, Profile
from ._operations import Operations
from ._pipelines import AddProfiles, EnrichContacts, Enricher, FetchContacts
from ._policy import php_empty
from ._protocol import ADD_PROFILE
from ._proxy import redact, resolve_proxy
from ._results import BulkOptions, ProfileRequest
from ._retry import RetryPolicy
from ._run_start import start_run
from ._transport import Lease, Transport

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._results import BulkOptionsArgs

log = logging.getLogger("zyntro_async")

_DEFAULT_RETRY = RetryPolicy()


class ZyntroClient:
    """An async client for the Zyntro CRM public API.

    Use it as ``async with ZyntroClient(...) as client:`` (or call :meth:`close`). One
    pooled ``aiohttp.ClientSession`` is created lazily, inside the running loop, on the
    first call; pass ``session=`` to use your own (the client never closes it).

    Every setting falls back to its ``ZYNTRO_*`` environment variable; ``base_url``
    defaults to the public API. A missing setting raises :class:`ConfigurationError` here.

    ``timeout`` takes a :class:`Timeout` or seconds (``Timeout`` with that ``total``).
    :meth:`with_options` gives a client with another ``timeout``/``retry`` on the same pool,
    and every call takes ``timeout=`` and ``retry=`` for itself.

    ``json_default``: called, like ``json.dumps(default=...)``, for each payload value JSON
    cannot carry (a ``datetime``, ``Decimal``, ``UUID``, ...); it returns what to send
    instead. Without it such a payload is refused locally, naming the value's key path.

    Proxies: ``proxy=`` (an ``http://`` URL, credentials allowed) sends every request
    through that proxy (``https://`` ones through a CONNECT tunnel). Without it the
    ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY``/``NO_PROXY`` variables decide, as for
    requests and httpx, read once here; ``trust_env=False`` ignores them (a ``session=``
    of yours is left to its own settings). A proxy's credentials appear in no repr, log
    line or message.
    """

    def __init__(
        self,
        api_key: str | None = None,
        developer_secret: str | None = None,
        org_id: str | None = None,
        member_id: str | None = None,
        base_url: str | None = None,
        *,
        timeout: TimeoutArg = Timeout(),  # noqa: B008 - frozen, so a shared default is safe
        limits: Limits = Limits(),  # noqa: B008
        retry: RetryPolicy | None = _DEFAULT_RETRY,
        session: aiohttp.ClientSession | None = None,
        allow_insecure_http: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        json_default: Callable[[Any], Any] | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
    ) -> None:
        settings = resolve_settings(
            api_key=api_key,
            developer_secret=developer_secret,
            org_id=org_id,
            member_id=member_id,
            base_url=base_url,
            allow_insecure_http=allow_insecure_http,
        )
        timeout = resolve_timeout(timeout, Timeout())
        # A session of the caller's is configured by the caller: only proxy= applies to it.
        chosen = resolve_proxy(
            settings.base_url, proxy, trust_env=bool(trust_env) and session is None
        )
        if json_default is not None and not callable(json_default):
            raise ConfigurationError(f"json_default must be callable (got {json_default!r})")
        transport = Transport(
            base_url=settings.base_url,
            timeout=timeout,
            limits=limits,
            session=session,
            ssl_context=True if ssl_context is None else ssl_context,
            proxy=None if chosen is None else chosen.url,
        )
        self._assemble(
            credentials=settings.credentials,
            base_url=settings.base_url,
            proxy=None if chosen is None else redact(chosen.url),
            timeout=timeout,
            limits=limits,
            retry=retry_policy(retry),
            json_default=json_default,
            pool=Pool(transport, timeout),
            lease=None,
        )

    def _assemble(
        self,
        *,
        credentials: Credentials,
        base_url: str,
        proxy: str | None,
        timeout: Timeout,
        limits: Limits,
        retry: RetryPolicy | None,
        json_default: Callable[[Any], Any] | None,
        pool: Pool,
        lease: Lease | None,
    ) -> None:
        """The one place a client's state is set, from settings already resolved: by
        ``__init__`` (which owns the pool, ``lease=None``) and by :meth:`_derived`."""
        self._credentials = credentials
        self._base_url = base_url
        self._proxy = proxy
        self._timeout = timeout
        self._limits = limits
        self._retry = retry
        self._json_default = json_default
        self._pool = pool
        self._lease = lease
        self._transport = pool.transport
        self._ops = Operations(
            pool.transport,
            credentials,
            retry,
            json_default=json_default,
            timeout=None if timeout == pool.timeout else timeout,
            lease=lease,
        )
        # The owner's runs are the pool's; a derived client's own runs are its own.
        self._runs: weakref.WeakSet[_Run[Any]] = pool.runs if lease is None else weakref.WeakSet()

    @classmethod
    def _derived(
        cls, parent: ZyntroClient, timeout: Timeout, retry: RetryPolicy | None
    ) -> ZyntroClient:
        """The private constructor :meth:`with_options` uses: ``parent``'s settings and
        pool, another timeout and retry policy, and a lease of its own on the pool."""
        client = cls.__new__(cls)
        client._assemble(
            credentials=parent._credentials,
            base_url=parent._base_url,
            proxy=parent._proxy,
            timeout=timeout,
            limits=parent._limits,
            retry=retry,
            json_default=parent._json_default,
            pool=parent._pool,
            lease=Lease(),
        )
        return client

    def with_options(
        self,
        *,
        timeout: TimeoutArg | Unset = UNSET,
        retry: RetryPolicy | Unset | None = UNSET,
    ) -> ZyntroClient:
        """A client that differs from this one only in ``timeout`` and/or ``retry``.

        It shares this client's connection pool (the session and its connector): creating
        one is cheap, and there is no extra pool to size or close. The client you
        constructed owns the pool; a derived client borrows it. Closing a derived client
        (``close()``, ``async with``) cancels the bulk runs *it* started and makes it
        refuse further calls; the pool stays open for the others. Closing the owner closes
        the pool for every client derived from it (their calls raise
        :class:`ClientClosedError`).

        ``timeout``: a :class:`Timeout`, or seconds for this client's ``Timeout`` with that
        ``total``. ``retry``: a :class:`RetryPolicy`, or ``None`` to disable retries.
        """
        new_timeout = self._timeout if timeout is UNSET else resolve_timeout(timeout, self._timeout)
        new_retry = self._retry if retry is UNSET else retry_policy(retry)
        check_borrowable(new_timeout, self._pool.timeout)
        return ZyntroClient._derived(self, new_timeout, new_retry)

    def _operations(
        self, timeout: TimeoutArg | Unset, retry: RetryPolicy | Unset | None
    ) -> Operations:
        """The calls for one call's own options (this client's when none are given)."""
        if timeout is UNSET and retry is UNSET:
            return self._ops
        resolved = self._timeout
        if timeout is not UNSET:
            resolved = resolve_timeout(timeout, self._timeout)
            if resolved != self._timeout:
                check_borrowable(resolved, self._pool.timeout)
        policy = self._retry if retry is UNSET else retry_policy(retry)
        pool_timeout = self._pool.timeout
        return self._ops.evolve(policy, None if resolved == pool_timeout else resolved)

    def __repr__(self) -> str:
        proxy = "" if self._proxy is None else f", proxy={self._proxy!r}"
        return (
            f"ZyntroClient(base_url={self._base_url!r}, org_id={self._credentials.org_id!r}, "
            f"member_id={self._credentials.member_id!r}{proxy})"
        )

    # -- configuration, read-only ----------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def limits(self) -> Limits:
        return self._limits

    @property
    def timeout(self) -> Timeout:
        return self._timeout

    @property
    def retry(self) -> RetryPolicy | None:
        return self._retry

    @property
    def closed(self) -> bool:
        lease = self._lease
        return self._transport.closed or (lease is not None and lease.closed)

    # -- lifetime ---------------------------------------------------------------------------

    async def __aenter__(self) -> ZyntroClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Cancel the bulk runs this client started that are still going (their journals
        keep what was in flight), then close the pooled session. Idempotent.

        Who owns what: the client you constructed owns the pool and closes its session
        here (never one you passed as ``session=``: that stays yours). A client from
        :meth:`with_options` borrows the pool: closing it ends its own runs and its own
        use of the pool, which stays open for the owner and the other derived clients.
        Closing the owner ends every run on the pool and every derived client's use of it.
        """
        for run in list(self._runs):
            await run.cancel("the client was closed")
        if self._lease is None:
            await self._transport.close()
        else:
            self._lease.closed = True

    # -- endpoints --------------------------------------------------------------------------

    async def fetch_contact(
        self,
        contact_id: str | int | UUID,
        *,
        include_notes: bool = False,
        include_entity: bool = False,
        include_profile: bool = False,
        include_signals: bool = False,
        member_id: str | None = None,
        timeout: TimeoutArg | Unset = UNSET,
        retry: RetryPolicy | Unset | None = UNSET,
    ) -> ContactDetails:
        """Fetch one contact, with the related data asked for (``fetchContact``).

        ``timeout=`` (seconds, or a :class:`Timeout`) and ``retry=`` (a
        :class:`RetryPolicy`, or ``None`` for one attempt) apply to this call only.
        """
        return await self._operations(timeout, retry).fetch_contact(
            contact_id,
            include_notes=include_notes,
            include_entity=include_entity,
            include_profile=include_profile,
            include_signals=include_signals,
            member_id=member_id,
        )

    async def add_profile_to_contact(
        self,
        contact_id: str | int | UUID,
        payload: dict[str, Any] | list[Any],
        source: str,
        *,
        member_id: str | None = None,
        timeout: TimeoutArg | Unset = UNSET,
        retry: RetryPolicy | Unset | None = UNSET,
    ) -> Profile:
        """Attach a profile record to a contact (``addProfileToContact``).

        Not idempotent on the server: every accepted call creates a record. This method
        never re-sends blindly after an ambiguous failure (see ``RetryPolicy.on_ambiguous``).
        ``timeout=`` and ``retry=`` apply to this call only, as on :meth:`fetch_contact`.
        """
        return await self._operations(timeout, retry).add_profile(
            contact_id, payload, source, member_id=member_id
        )

    # -- bulk -----------------------------------------------------------------------------

    def _run(
        self,
        items: Any,
        pipeline: Callable[[Operations], Any],
        options: BulkOptions | None,
        run_options: Mapping[str, Any],
    ) -> BulkRun[Any]:
        return start_run(
            self._ops,
            self._pool,
            self._runs,
            self._credentials.api_key,
            items,
            pipeline,
            options,
            run_options,
        )

    def bulk_add_profiles(
        self,
        requests: Iterable[ProfileRequest | Mapping[str, Any]]
        | AsyncIterable[ProfileRequest | Mapping[str, Any]],
        *,
        journal: str | os.PathLike[str] | None = None,
        retry_failed: bool = False,
        source: str | None = None,
        options: BulkOptions | None = None,
        **run_options: Unpack[BulkOptionsArgs],
    ) -> BulkRun[Profile]:
        """Add many profiles: ``await`` it for the report, or ``async for`` the results.

        ``requests`` is any (async) iterable of :class:`ProfileRequest` or mappings with
        ``contact_id``, ``payload``, ``source`` (defaults to ``source=``) and ``key``. With
        ``journal=`` (a SQLite path) the run is resumable and never adds an item twice.
        How the run runs (``concurrency``, ``max_per_second``, ``retry_budget``,
        ``on_failure``, ``on_progress``, ``total``, ``shared_quota``, ``shard``): a
        :class:`BulkOptions` as ``options=``, or the same names as keyword arguments (they
        win over ``options``).
        """
        return self._run(
            requests,
            lambda ops: AddProfiles(
                ops, journal=journal, retry_failed=retry_failed, default_source=source
            ),
            options,
            run_options,
        )

    def bulk_fetch_contacts(
        self,
        contact_ids: Iterable[str | int | UUID] | AsyncIterable[str | int | UUID],
        *,
        include_notes: bool = False,
        include_entity: bool = False,
        include_profile: bool = False,
        include_signals: bool = False,
        options: BulkOptions | None = None,
        **run_options: Unpack[BulkOptionsArgs],
    ) -> BulkRun[ContactDetails]:
        """Fetch many contacts; same run object and run options as :meth:`bulk_add_profiles`."""
        return self._run(
            contact_ids,
            lambda ops: FetchContacts(
                ops,
                include_notes=include_notes,
                include_entity=include_entity,
                include_profile=include_profile,
                include_signals=include_signals,
            ),
            options,
            run_options,
        )

    def enrich_contacts(
        self,
        contact_ids: Iterable[str | int | UUID] | AsyncIterable[str | int | UUID],
        enricher: Enricher,
        *,
        source: str,
        skip_if_enriched: bool = True,
        journal: str | os.PathLike[str] | None = None,
        options: BulkOptions | None = None,
        **run_options: Unpack[BulkOptionsArgs],
    ) -> BulkRun[Profile]:
        """Enrich contacts: fetch each (with profiles), skip it if it already has a profile
        from ``source``, ``await enricher(details)`` for the payload (None: nothing to add),
        add it. An enricher's exception fails that item only (``EnricherError``). Run
        options as on :meth:`bulk_add_profiles`."""
        if not isinstance(source, str) or php_empty(source):
            raise ValidationError(
                ["source must be a non-empty string"], code="MISSING_FIELDS", endpoint=ADD_PROFILE
            )
        return self._run(
            contact_ids,
            lambda ops: EnrichContacts(
                ops,
                enricher,
                source=source,
                skip_if_enriched=skip_if_enriched,
                journal=journal,
            ),
            options,
            run_options,
        )
