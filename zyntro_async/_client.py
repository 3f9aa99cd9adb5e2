"""``ZyntroClient``: the async entry point. It composes the pieces and owns their lifetime:
settings (``_config``), request building and answer reading (``_protocol``), the aiohttp
session (``_transport``) and the retry/reconcile loop (``_retry``).
"""

from __future__ import annotations

import logging
import os
import ssl
import weakref
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

import aiohttp

from ._bulk import BulkRun, _Run
from ._config import Limits, Timeout, resolve_settings
from ._exceptions import ConfigurationError, ValidationError
from ._flow import DEFAULT_BUDGET, FlowControl
from ._models import ContactDetails, Profile
from ._operations import Operations
from ._pipelines import AddProfiles, EnrichContacts, Enricher, FetchContacts
from ._protocol import ADD_PROFILE, php_empty
from ._results import FailurePolicy, ProfileRequest, Progress
from ._retry import RetryPolicy
from ._transport import Transport

log = logging.getLogger("zyntro_async")

_DEFAULT_RETRY = RetryPolicy()


class ZyntroClient:
    """An async client for the Zyntro CRM public API.

    Use it as ``async with ZyntroClient(...) as client:`` (or call :meth:`close`). One
    pooled ``aiohttp.ClientSession`` is created lazily, inside the running loop, on the
    first call; pass ``session=`` to use your own (the client never closes it).

    Every setting falls back to its ``ZYNTRO_*`` environment variable; ``base_url``
    defaults to the public API. A missing setting raises :class:`ConfigurationError` here.
    """

    def __init__(
        self,
        api_key: str | None = None,
        developer_secret: str | None = None,
        org_id: str | None = None,
        member_id: str | None = None,
        base_url: str | None = None,
        *,
        timeout: Timeout = Timeout(),  # noqa: B008 - frozen, so a shared default is safe
        limits: Limits = Limits(),  # noqa: B008
        retry: RetryPolicy | None = _DEFAULT_RETRY,
        session: aiohttp.ClientSession | None = None,
        allow_insecure_http: bool = False,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        settings = resolve_settings(
            api_key=api_key,
            developer_secret=developer_secret,
            org_id=org_id,
            member_id=member_id,
            base_url=base_url,
            allow_insecure_http=allow_insecure_http,
        )
        self._credentials = settings.credentials
        self._base_url = settings.base_url
        self._timeout = timeout
        self._limits = limits
        self._retry = retry
        self._transport = Transport(
            base_url=settings.base_url,
            timeout=timeout,
            limits=limits,
            session=session,
            ssl_context=True if ssl_context is None else ssl_context,
        )
        self._ops = Operations(self._transport, settings.credentials, retry)
        self._runs: weakref.WeakSet[_Run[Any]] = weakref.WeakSet()

    def __repr__(self) -> str:
        return (
            f"ZyntroClient(base_url={self._base_url!r}, org_id={self._credentials.org_id!r}, "
            f"member_id={self._credentials.member_id!r})"
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
        return self._transport.closed

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
        keep what was in flight), then close the pooled session (unless it is
        caller-owned). Idempotent."""
        for run in list(self._runs):
            await run.cancel("the client was closed")
        await self._transport.close()

    # -- endpoints --------------------------------------------------------------------------

    async def fetch_contact(
        self,
        contact_id: str | int,
        *,
        include_notes: bool = False,
        include_entity: bool = False,
        include_profile: bool = False,
        include_signals: bool = False,
        member_id: str | None = None,
    ) -> ContactDetails:
        """Fetch one contact, with the related data asked for (``fetchContact``)."""
        return await self._ops.fetch_contact(
            contact_id,
            include_notes=include_notes,
            include_entity=include_entity,
            include_profile=include_profile,
            include_signals=include_signals,
            member_id=member_id,
        )

    async def add_profile_to_contact(
        self,
        contact_id: str | int,
        payload: dict[str, Any] | list[Any],
        source: str,
        *,
        member_id: str | None = None,
    ) -> Profile:
        """Attach a profile record to a contact (``addProfileToContact``).

        Not idempotent on the server: every accepted call creates a record. This method
        never re-sends blindly after an ambiguous failure (see ``RetryPolicy.on_ambiguous``).
        """
        return await self._ops.add_profile(contact_id, payload, source, member_id=member_id)

    # -- bulk -----------------------------------------------------------------------------

    def _effective_concurrency(self, concurrency: int) -> int:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ConfigurationError(f"concurrency must be an integer >= 1 (got {concurrency!r})")
        pool = self._transport.connection_limit
        if pool is not None and concurrency > pool:
            # More requests than pool slots would only queue for a slot (and time out there).
            log.info("concurrency %d lowered to the connection pool's size %d", concurrency, pool)
            return pool
        return concurrency

    def _run(
        self,
        items: Any,
        pipeline: Callable[[Operations], Any],
        *,
        concurrency: int,
        max_per_second: float | None,
        retry_budget: int | None,
        on_progress: Callable[[Progress], object] | None,
        on_failure: FailurePolicy,
        total: int | None,
    ) -> BulkRun[Any]:
        """One run: flow control shared by its requests, the pipeline on it, the engine."""
        flow = FlowControl(
            self._effective_concurrency(concurrency),
            max_per_second=max_per_second,
            retry_budget=retry_budget,
        )
        process = pipeline(self._ops.paced(flow))
        run: _Run[Any] = _Run(
            items,
            process,
            flow=flow,
            on_progress=on_progress,
            progress_interval=0.5,
            on_failure=on_failure,
            total=total,
            keep_failures=10_000,
            setup=getattr(process, "setup", None),
            teardown=getattr(process, "teardown", None),
            max_wait=None if self._retry is None else self._retry.deadline,
        )
        self._runs.add(run)
        return BulkRun(run)

    def bulk_add_profiles(
        self,
        requests: Iterable[ProfileRequest | Mapping[str, Any]]
        | AsyncIterable[ProfileRequest | Mapping[str, Any]],
        *,
        concurrency: int = 64,
        max_per_second: float | None = None,
        journal: str | os.PathLike[str] | None = None,
        retry_failed: bool = False,
        source: str | None = None,
        on_progress: Callable[[Progress], object] | None = None,
        on_failure: FailurePolicy = "continue",
        retry_budget: int | None = DEFAULT_BUDGET,
        total: int | None = None,
    ) -> BulkRun[Profile]:
        """Add many profiles: ``await`` it for the report, or ``async for`` the results.

        ``requests`` is any (async) iterable of :class:`ProfileRequest` or mappings with
        ``contact_id``, ``payload``, ``source`` (defaults to ``source=``) and ``key``. With
        ``journal=`` (a SQLite path) the run is resumable and never adds an item twice.
        """
        return self._run(
            requests,
            lambda ops: AddProfiles(
                ops, journal=journal, retry_failed=retry_failed, default_source=source
            ),
            concurrency=concurrency,
            max_per_second=max_per_second,
            retry_budget=retry_budget,
            on_progress=on_progress,
            on_failure=on_failure,
            total=total,
        )

    def bulk_fetch_contacts(
        self,
        contact_ids: Iterable[str | int] | AsyncIterable[str | int],
        *,
        include_notes: bool = False,
        include_entity: bool = False,
        include_profile: bool = False,
        include_signals: bool = False,
        concurrency: int = 64,
        max_per_second: float | None = None,
        on_progress: Callable[[Progress], object] | None = None,
        on_failure: FailurePolicy = "continue",
        retry_budget: int | None = DEFAULT_BUDGET,
        total: int | None = None,
    ) -> BulkRun[ContactDetails]:
        """Fetch many contacts; same run object as :meth:`bulk_add_profiles`."""
        return self._run(
            contact_ids,
            lambda ops: FetchContacts(
                ops,
                include_notes=include_notes,
                include_entity=include_entity,
                include_profile=include_profile,
                include_signals=include_signals,
            ),
            concurrency=concurrency,
            max_per_second=max_per_second,
            retry_budget=retry_budget,
            on_progress=on_progress,
            on_failure=on_failure,
            total=total,
        )

    def enrich_contacts(
        self,
        contact_ids: Iterable[str | int] | AsyncIterable[str | int],
        enricher: Enricher,
        *,
        source: str,
        concurrency: int = 64,
        skip_if_enriched: bool = True,
        max_per_second: float | None = None,
        journal: str | os.PathLike[str] | None = None,
        on_progress: Callable[[Progress], object] | None = None,
        on_failure: FailurePolicy = "continue",
        retry_budget: int | None = DEFAULT_BUDGET,
        total: int | None = None,
    ) -> BulkRun[Profile]:
        """Enrich contacts: fetch each (with profiles), skip it if it already has a profile
        from ``source``, ``await enricher(details)`` for the payload (None: nothing to add),
        add it. An enricher's exception fails that item only (``EnricherError``)."""
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
            concurrency=concurrency,
            max_per_second=max_per_second,
            retry_budget=retry_budget,
            on_progress=on_progress,
            on_failure=on_failure,
            total=total,
        )
