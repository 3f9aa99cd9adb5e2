"""``ZyntroClient``: the async entry point. It composes the pieces and owns their lifetime:
settings (``_config``), request building and answer reading (``_protocol``), the aiohttp
session (``_transport``) and the retry/reconcile loop (``_retry``).
"""

from __future__ import annotations

import logging
import os
import ssl
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar

import aiohttp
import attrs

from ._bulk import BulkRun, FailurePolicy, ProfileRequest, Progress
from ._config import Limits, Timeout, resolve_settings
from ._exceptions import ClientClosedError, DisconnectedError, ValidationError, ZyntroError
from ._models import ContactDetails, Profile
from ._pipelines import AddProfiles, EnrichContacts, Enricher, FetchContacts
from ._protocol import ADD_PROFILE, Call, add_profile_call, fetch_contact_call, interpret
from ._retry import AttemptHooks, FailureKind, RetryPolicy, RetryStats, run_with_retries
from ._throttle import DEFAULT_BUDGET, Throttle
from ._transport import Transport

log = logging.getLogger("zyntro_async")

T = TypeVar("T")

_DEFAULT_RETRY = RetryPolicy()
SPARE_WORKERS = 2  # bulk workers per request slot


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
        """Close the pooled session (unless it is caller-owned). Idempotent."""
        await self._transport.close()

    # -- endpoints --------------------------------------------------------------------------

    async def fetch_contact(
        self,
        contact_id: str,
        *,
        include_notes: bool = False,
        include_entity: bool = False,
        include_profile: bool = False,
        include_signals: bool = False,
        member_id: str | None = None,
    ) -> ContactDetails:
        """Fetch one contact, with the related data asked for (``fetchContact``)."""
        details, _ = await self._fetch_contact_with_stats(
            contact_id,
            include_notes=include_notes,
            include_entity=include_entity,
            include_profile=include_profile,
            include_signals=include_signals,
            member_id=member_id,
            policy=self._retry,
        )
        return details

    async def add_profile_to_contact(
        self,
        contact_id: str,
        payload: dict[str, Any] | list[Any],
        source: str,
        *,
        member_id: str | None = None,
    ) -> Profile:
        """Attach a profile record to a contact (``addProfileToContact``).

        Not idempotent on the server: every accepted call creates a record. This method
        never re-sends blindly after an ambiguous failure (see ``RetryPolicy.on_ambiguous``).
        """
        profile, _ = await self._add_profile_with_stats(
            contact_id, payload, source, member_id=member_id
        )
        return profile

    # -- bulk -----------------------------------------------------------------------------

    def _effective_concurrency(self, concurrency: int) -> int:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be an integer >= 1 (got {concurrency!r})")
        if self._transport.owns_session and concurrency > self._limits.max_connections:
            # More workers than pool slots would only queue for a slot (and time out there).
            log.info(
                "zyntro_async: concurrency %d lowered to the pool size %d (Limits.max_connections)",
                concurrency,
                self._limits.max_connections,
            )
            return self._limits.max_connections
        return concurrency

    def _run(
        self,
        items: Any,
        pipeline: Callable[[Throttle], Any],
        *,
        concurrency: int,
        max_per_second: float | None,
        retry_budget: int | None,
        on_progress: Callable[[Progress], object] | None,
        on_failure: FailurePolicy,
        total: int | None,
    ) -> BulkRun[Any]:
        """One run: a throttle shared by its items, the pipeline built on it, the engine."""
        concurrency = self._effective_concurrency(concurrency)
        throttle = Throttle(concurrency, max_per_second=max_per_second, retry_budget=retry_budget)
        process = pipeline(throttle)
        return BulkRun(
            items,
            process,
            # The throttle keeps requests in flight <= concurrency; spare workers keep the
            # pool busy while some items sleep in backoff or wait for the journal.
            concurrency=concurrency * SPARE_WORKERS,
            throttle=throttle,
            on_progress=on_progress,
            on_failure=on_failure,
            total=total,
            setup=getattr(process, "setup", None),
            teardown=getattr(process, "teardown", None),
        )

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
            lambda throttle: AddProfiles(
                self, throttle, journal=journal, retry_failed=retry_failed, default_source=source
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
        contact_ids: Iterable[str] | AsyncIterable[str],
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
            lambda throttle: FetchContacts(
                self,
                throttle,
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
        contact_ids: Iterable[str] | AsyncIterable[str],
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
        if not isinstance(source, str) or not source.strip():
            raise ValidationError(
                ["source must be a non-empty string"], code="MISSING_FIELDS", endpoint=ADD_PROFILE
            )
        return self._run(
            contact_ids,
            lambda throttle: EnrichContacts(
                self,
                throttle,
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

    # -- the call path (used by the bulk runner too) ----------------------------------------

    async def _fetch_contact_with_stats(
        self,
        contact_id: str,
        *,
        include_notes: bool = False,
        include_entity: bool = False,
        include_profile: bool = False,
        include_signals: bool = False,
        member_id: str | None = None,
        policy: RetryPolicy | None,
        hooks: AttemptHooks | None = None,
        stats: RetryStats | None = None,
    ) -> tuple[ContactDetails, RetryStats]:
        call = fetch_contact_call(
            self._credentials,
            contact_id,
            member_id=member_id,
            include_notes=include_notes,
            include_entity=include_entity,
            include_profile=include_profile,
            include_signals=include_signals,
        )
        stats = RetryStats() if stats is None else stats

        async def attempt(_: RetryStats, __: FailureKind | None) -> ContactDetails:
            return await self._send(call)

        result = await run_with_retries(
            attempt,
            policy=policy,
            idempotent=call.idempotent,
            endpoint=call.endpoint,
            stats=stats,
            hooks=hooks,
        )
        return result, stats

    async def _add_profile_with_stats(
        self,
        contact_id: str,
        payload: dict[str, Any] | list[Any],
        source: str,
        *,
        member_id: str | None = None,
        hooks: AttemptHooks | None = None,
        maybe_applied: bool = False,
        before_send: Callable[[], Awaitable[None]] | None = None,
        stats: RetryStats | None = None,
    ) -> tuple[Profile, RetryStats]:
        """The add path. ``maybe_applied``: an earlier run sent this very add and never saw
        the answer (the bulk journal says so), so reconcile before the first send."""
        call = add_profile_call(self._credentials, contact_id, payload, source, member_id=member_id)
        policy = self._retry
        reconcile = policy is not None and policy.on_ambiguous == "reconcile"
        stats = RetryStats() if stats is None else stats
        started = time.monotonic()
        # The last ambiguous failure not yet settled by a successful reconcile. While set,
        # no attempt may re-send; a failed reconcile re-raises it (the outcome is unknown).
        unresolved: ZyntroError | None = None
        last: ZyntroError | None = None
        sent_any = False
        if maybe_applied:
            unresolved = DisconnectedError(
                "an earlier run sent this add and saw no answer",
                endpoint=call.endpoint,
                contact_id=call.contact_id,
            )

        async def attempt(stats: RetryStats, previous: FailureKind | None) -> Profile:
            nonlocal unresolved, last, sent_any
            if reconcile and previous is FailureKind.AMBIGUOUS:
                unresolved = last
            if unresolved is not None:
                try:
                    found = await self._reconcile(
                        call, payload, source, member_id, policy or _DEFAULT_RETRY, started
                    )
                except ZyntroError:
                    last = unresolved
                    raise unresolved from None
                if found is not None:
                    stats.recovered = True
                    return found
                unresolved = None
            sent_any = True
            try:
                return await self._send(call)
            except ZyntroError as exc:
                last = exc
                raise

        if before_send is not None:
            # Write-ahead (the journal's "sent"), after validation and before any request,
            # outside the throttle's slot: waiting for a commit must not hold a slot.
            await before_send()
        try:
            profile = await run_with_retries(
                attempt,
                policy=policy,
                idempotent=call.idempotent,
                endpoint=call.endpoint,
                stats=stats,
                hooks=hooks,
            )
        except ClientClosedError:
            # Closed under us: an add already on the wire may have been applied.
            stats.unknown = sent_any or maybe_applied
            raise
        except ZyntroError as exc:
            if (policy or _DEFAULT_RETRY).classify(exc) is not FailureKind.AMBIGUOUS:
                raise  # nothing was applied
            if not (reconcile or maybe_applied):
                stats.unknown = True  # on_ambiguous="raise"/"retry": the caller's call
                raise
            # Out of attempts with the outcome open: settle it once more, so a failure we
            # report means "not applied" whenever the contact can be read at all.
            try:
                found = await self._reconcile(
                    call, payload, source, member_id, policy or _DEFAULT_RETRY, time.monotonic()
                )
            except ZyntroError:
                stats.unknown = True
                raise exc from None
            if found is None:
                raise
            stats.recovered = True
            return found, stats
        return profile, stats

    async def _send(self, call: Call[T]) -> T:
        started = time.perf_counter()
        response = await self._transport.post(call.endpoint, call.body, contact_id=call.contact_id)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "zyntro_async: %s -> HTTP %d in %.1f ms",
                call.endpoint,
                response.status,
                (time.perf_counter() - started) * 1000,
            )
        return interpret(call, response)

    async def _reconcile(
        self,
        call: Call[Profile],
        payload: object,
        source: str,
        member_id: str | None,
        policy: RetryPolicy,
        started: float,
    ) -> Profile | None:
        """After an ambiguous add: is the record there already? Return it, or None.

        Matches a profile with the same source and an equal payload (the newest if several).
        If the contact cannot be fetched, the add's own ambiguous outcome stands: we raise,
        and the retry loop decides whether to come back here. We never re-send unseen.
        """
        remaining = None
        if policy.deadline is not None:
            remaining = max(0.001, policy.deadline - (time.monotonic() - started))
        try:
            details, _ = await self._fetch_contact_with_stats(
                call.contact_id,
                include_profile=True,
                member_id=member_id,
                policy=attrs.evolve(policy, deadline=remaining),
            )
        except ZyntroError as exc:
            log.warning(
                "zyntro_async: could not reconcile %s for contact %r (%s); outcome still unknown",
                call.endpoint,
                call.contact_id,
                exc.code,
            )
            raise
        matches = [
            p for p in (details.profiles or []) if p.source == source and p.payload == payload
        ]
        if not matches:
            log.info(
                "zyntro_async: %s for contact %r was not applied; sending again",
                call.endpoint,
                call.contact_id,
            )
            return None
        found = max(matches, key=lambda p: p.id)
        log.warning(
            "zyntro_async: recovered %s for contact %r: the server had applied it (profile %d)",
            call.endpoint,
            call.contact_id,
            found.id,
        )
        return found
