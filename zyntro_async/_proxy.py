"""Which HTTP proxy a client's requests go through, decided once when the client is made.

An explicit ``proxy=`` wins. Otherwise, unless ``trust_env=False``, the environment decides
as it does for requests, httpx, curl and aiohttp: ``HTTPS_PROXY`` for an ``https://`` base
URL, ``HTTP_PROXY`` for an ``http://`` one (lowercase names too, which win), ``ALL_PROXY``
when neither is set, and none when ``NO_PROXY`` names the base URL's host. Loopback hosts
are not exempt unless ``NO_PROXY`` says so (as in those tools). The variables are read
with the standard library's ``urllib.request.getproxies`` and ``proxy_bypass``, the same
functions requests and aiohttp use.

Why not aiohttp's own ``trust_env=True``: it re-reads the variables (and ``~/.netrc``) in
a worker thread for every request, and sends ``.netrc`` credentials for the API host as
HTTP basic auth. The base URL never changes, so one decision per client is enough.

A proxy URL may carry credentials (``http://user:password@proxy:3128``; aiohttp sends them
as ``Proxy-Authorization``). They never leave this module in a message: errors name the
variable, and :func:`redact` is what any repr or log line shows.
"""

from __future__ import annotations

import logging
import urllib.request
from urllib.parse import urlsplit

import attrs

from ._exceptions import ConfigurationError

log = logging.getLogger("zyntro_async")

_VARIABLES = {"http": "HTTP_PROXY", "https": "HTTPS_PROXY", "all": "ALL_PROXY"}


def redact(url: str) -> str:
    """``url`` without its user name and password (``http://***@proxy:3128``)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<a proxy URL that cannot be parsed>"
    if ":" in host:
        host = f"[{host}]"
    where = f"{host}:{port}" if port is not None else host
    userinfo = "***@" if parts.username is not None or parts.password is not None else ""
    return f"{parts.scheme}://{userinfo}{where}"


@attrs.frozen
class Proxy:
    """A proxy to send requests through; the repr never shows its credentials."""

    url: str = attrs.field(repr=False)
    source: str  # "proxy=" or the variable it came from

    def __repr__(self) -> str:
        return f"Proxy({redact(self.url)!r}, source={self.source!r})"


def _checked(value: str, source: str) -> str:
    """The proxy URL to use, or a ConfigurationError naming ``source`` (never the value)."""
    value = value.strip()
    if "://" not in value:  # "proxy:3128", as curl and requests take it
        value = "http://" + value
    try:
        parts = urlsplit(value)
        _ = parts.port
    except ValueError:
        raise ConfigurationError(f"{source} is not a valid proxy URL") from None
    if parts.scheme != "http":
        raise ConfigurationError(
            f"{source}: only http:// proxies are supported (got a {parts.scheme}:// URL); "
            "an http:// proxy carries https:// requests too, through a CONNECT tunnel"
        )
    if not parts.hostname:
        raise ConfigurationError(f"{source} is not a valid proxy URL (no host)")
    return value


def resolve_proxy(base_url: str, proxy: str | None, *, trust_env: bool) -> Proxy | None:
    """The proxy for requests to ``base_url``: ``proxy`` if given, else the environment's
    (with ``trust_env``), else None (connect directly)."""
    if proxy is not None:
        if not isinstance(proxy, str) or not proxy.strip():
            raise ConfigurationError("proxy must be a non-empty URL string, or None")
        return Proxy(_checked(proxy, "proxy="), "proxy=")
    if not trust_env:
        return None
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if host and urllib.request.proxy_bypass(host):
        log.debug("proxy: none for %s (NO_PROXY)", host)
        return None
    found = urllib.request.getproxies()
    for scheme in (parts.scheme, "all"):
        value = found.get(scheme)
        if not value:
            continue
        source = f"{_VARIABLES[scheme]} (or {_VARIABLES[scheme].lower()})"
        scheme_of_value = value.strip().lower().partition("://")[0] if "://" in value else ""
        if scheme == "all" and scheme_of_value not in ("", "http", "https"):
            # e.g. socks5://, set for other tools: not ours to refuse
            log.debug("proxy: %s is not an http:// proxy; connecting directly", source)
            return None
        chosen = Proxy(_checked(value, source), source)
        log.debug("proxy: %s from %s", redact(chosen.url), source)
        return chosen
    return None
