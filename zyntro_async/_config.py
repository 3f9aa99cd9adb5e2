"""Settings: credentials (from arguments or ``ZYNTRO_*`` variables), timeouts, pool limits.

Small frozen config objects instead of loose keyword soup, in the manner of httpx's
``Timeout`` and ``Limits``. Secrets are held with ``repr=False`` so no repr, log line or
traceback ever shows them.
"""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs

from ._exceptions import ConfigurationError, ValidationError
from ._payload import is_utf8
from ._policy import coerce_id

DEFAULT_BASE_URL = "https://app.zyntrohq.com/apis/v2/public/crm/"

#: Retry tokens a bulk run shares unless told otherwise (``BulkOptions.retry_budget``):
#: plain data, so the options and the flow control read the same number.
DEFAULT_RETRY_BUDGET = 500

# setting name -> environment variable
ENV_VARS: dict[str, str] = {
    "api_key": "ZYNTRO_API_KEY",
    "developer_secret": "ZYNTRO_DEVELOPER_SECRET",
    "org_id": "ZYNTRO_ORG_ID",
    "member_id": "ZYNTRO_MEMBER_ID",
    "base_url": "ZYNTRO_BASE_URL",
}


def _positive_or_none(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"{attribute.name} must be a number of seconds or None")
    if not (value > 0 and math.isfinite(value)):
        raise ConfigurationError(f"{attribute.name} must be > 0 (got {value!r})")


@attrs.frozen
class Timeout:
    """Per-attempt time limits, in seconds (``None`` = no limit).

    ``connect`` covers getting a connection, including the wait for a free pool slot;
    ``read`` is the longest silence while reading the answer; ``total`` bounds one attempt.
    The retry policy's ``deadline`` bounds a whole call, retries included.

    ``read`` is off by default: the API's answers are small JSON that arrive at once, so
    ``total`` (30 s) bounds the wait for one as a 30 s ``read`` did, without the timer
    aiohttp re-arms on every read (~5 % of a request's CPU, measured). Set ``read`` for a
    limit on silence within a long answer.
    """

    connect: float | None = attrs.field(default=10.0, validator=_positive_or_none)
    read: float | None = attrs.field(default=None, validator=_positive_or_none)
    total: float | None = attrs.field(default=30.0, validator=_positive_or_none)


def _at_least_one(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{attribute.name} must be an integer >= 1 (got {value!r})")


@attrs.frozen
class Limits:
    """Connection pool and response limits.

    ``max_connections`` is the pool size of the client's one ``aiohttp`` connector;
    bulk runs keep their concurrency at or below it so nothing waits for a slot.
    ``max_response_bytes`` caps an answer's (decompressed) size.
    """

    max_connections: int = attrs.field(default=100, validator=_at_least_one)
    keepalive_expiry: float | None = attrs.field(default=15.0, validator=_positive_or_none)
    max_response_bytes: int = attrs.field(default=16 * 1024 * 1024, validator=_at_least_one)


@attrs.frozen
class Credentials:
    """What authenticates a request. Secrets never appear in the repr.

    ``wire_member_id`` is ``member_id`` as a request writes it (the id rule,
    :func:`._policy.coerce_id`), worked out once; None if the rule refuses it, and then
    each request that needs it refuses it, with that request's code.
    """

    api_key: str = attrs.field(repr=False)
    developer_secret: str = attrs.field(repr=False)
    org_id: str
    member_id: str
    wire_member_id: str | None = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        try:
            wire: str | None = coerce_id(self.member_id, "member_id", "", "")
        except ValidationError:
            wire = None
        object.__setattr__(self, "wire_member_id", wire)  # frozen: attrs' own way in


@attrs.frozen
class Settings:
    """Resolved client settings."""

    credentials: Credentials
    base_url: str


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine (plain http is safe only there)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalise_base_url(url: str, *, allow_insecure_http: bool) -> str:
    """Validate ``url`` and give it the trailing slash endpoints are joined to."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            "base_url must be an absolute http(s) URL such as " + repr(DEFAULT_BASE_URL)
        )
    if parts.query or parts.fragment:
        raise ConfigurationError("base_url must not carry a query string or fragment")
    if parts.username or parts.password:
        raise ConfigurationError("base_url must not carry credentials")
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback(parts.hostname):
        raise ConfigurationError(
            "base_url uses plain http to a non-loopback host; the credentials would travel "
            "unencrypted. Use https, or pass allow_insecure_http=True if you really mean it"
        )
    return url if url.endswith("/") else url + "/"


def resolve_settings(
    *,
    api_key: str | None,
    developer_secret: str | None,
    org_id: str | None,
    member_id: str | None,
    base_url: str | None,
    allow_insecure_http: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Fill each setting from its argument, else its ``ZYNTRO_*`` variable; fail on a gap.

    ``base_url`` falls back to the public API's address. Values are stripped (a stray
    newline from a ``.env`` file); one that is then empty or ``"0"`` (which the API, by
    PHP's ``empty()``, treats as missing) is refused, and so is one that is not valid
    UTF-8 (a lone surrogate). Errors name the setting and its variable, never a value.
    """
    env = os.environ if environ is None else environ
    given = {
        "api_key": api_key,
        "developer_secret": developer_secret,
        "org_id": org_id,
        "member_id": member_id,
        "base_url": base_url,
    }
    values: dict[str, str] = {}
    for name, value in given.items():
        if value is None:
            value = env.get(ENV_VARS[name]) or None
        if value is None and name == "base_url":
            value = DEFAULT_BASE_URL
        if value is None:
            raise ConfigurationError(f"{name} is not set: pass {name}= or set {ENV_VARS[name]}")
        if not isinstance(value, str) or not value.strip():
            raise ConfigurationError(
                f"{name} must be a non-empty string (from {name}= or {ENV_VARS[name]})"
            )
        value = value.strip()
        if value == "0":  # PHP empty("0"): the API would answer that it is missing
            raise ConfigurationError(
                f'{name} is "0", which the API treats as missing (from {name}= or {ENV_VARS[name]})'
            )
        if not is_utf8(value):  # the request body is UTF-8: it could not be written
            raise ConfigurationError(
                f"{name} is not valid UTF-8 (from {name}= or {ENV_VARS[name]})"
            )
        values[name] = value
    return Settings(
        credentials=Credentials(
            api_key=values["api_key"],
            developer_secret=values["developer_secret"],
            org_id=values["org_id"],
            member_id=values["member_id"],
        ),
        base_url=normalise_base_url(values["base_url"], allow_insecure_http=allow_insecure_http),
    )
