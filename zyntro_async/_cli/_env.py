"""Settings from the environment (or ``--env-file``), checked in the CLI's own words, and
API failures explained with what to do about them.

Credentials never come from flags (argv is visible to every user of the machine) and no
message ever shows a value, only variable names.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from .._client import ZyntroClient
from .._config import DEFAULT_BASE_URL, ENV_VARS, is_loopback
from .._exceptions import (
    AuthenticationError,
    ConfigurationError,
    ConnectError,
    ConnectTimeout,
    ProxyError,
    ReadTimeout,
    ServerError,
    TLSError,
    ValidationError,
    ZyntroError,
)
from .._policy import stops_run
from ._common import EXIT_FAILED, EXIT_STOPPED, EXIT_UNREACHABLE, EXIT_USAGE, UsageError

BASE_URL = ENV_VARS["base_url"]
REQUIRED = tuple(ENV_VARS[name] for name in ("api_key", "developer_secret", "org_id", "member_id"))


def _env_file(path: str) -> dict[str, str]:
    try:
        import dotenv
    except ImportError:
        raise UsageError(
            "--env-file needs python-dotenv: pip install 'zyntro-async[cli]'"
        ) from None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read --env-file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"--env-file {path} is not UTF-8 text") from None
    values = dotenv.dotenv_values(stream=io.StringIO(text), interpolate=False)
    return {
        name: value for name, value in values.items() if name in (*REQUIRED, BASE_URL) and value
    }


def load_settings(env_file: str | None, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The ``ZYNTRO_*`` settings: the environment's, else ``env_file``'s; all checked.

    Names every missing variable at once; a base URL must be https (http only to loopback).
    """
    settings = _env_file(env_file) if env_file else {}
    settings.update({name: environ[name] for name in ENV_VARS.values() if environ.get(name)})
    missing = [name for name in REQUIRED if not settings.get(name)]
    if missing:
        them = "them" if len(missing) > 1 else "it"
        where = (
            f"neither the environment nor --env-file {env_file} sets {them}"
            if env_file
            else f"export {them}, or give a file that sets {them} with --env-file"
        )
        raise UsageError(f"missing {', '.join(missing)}: {where}")
    if settings.get(BASE_URL):
        check_base_url(settings[BASE_URL])
    return settings


def check_base_url(url: str) -> None:
    example = f"such as {DEFAULT_BASE_URL}"
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        raise UsageError(f"{BASE_URL} is not a valid URL; it should be one {example}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{BASE_URL} must be an absolute https:// URL, {example}")
    if parts.username or parts.password:
        raise UsageError(f"{BASE_URL} must not hold a user name or password")
    if parts.query or parts.fragment:
        raise UsageError(f"{BASE_URL} must not hold a query string or #fragment")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise UsageError(
            f"{BASE_URL} uses plain http to {parts.hostname}: the credentials would travel "
            "unencrypted; use https://"
        )


def base_url(settings: Mapping[str, str]) -> str:
    url = settings.get(BASE_URL) or DEFAULT_BASE_URL
    return url if url.endswith("/") else url + "/"


def make_client(settings: Mapping[str, str]) -> ZyntroClient:
    """A client from checked settings (passed explicitly: the environment is not re-read)."""
    try:
        return ZyntroClient(
            api_key=settings[ENV_VARS["api_key"]],
            developer_secret=settings[ENV_VARS["developer_secret"]],
            org_id=settings[ENV_VARS["org_id"]],
            member_id=settings[ENV_VARS["member_id"]],
            base_url=base_url(settings),
        )
    except ConfigurationError as exc:  # what the checks above did not foresee
        raise UsageError(f"configuration: {exc}") from None


def hint(error: BaseException, url: str) -> str | None:
    """What to do about ``error``, in terms of the CLI's settings."""
    code = getattr(error, "code", None)
    if isinstance(error, AuthenticationError):
        if code == "USER_INACTIVE":
            return "the API user of this key is not active"
        return f"check {ENV_VARS['api_key']} and {ENV_VARS['developer_secret']}"
    if code == "IP_NOT_WHITELISTED":
        return "this machine's IP address is not on the API key's whitelist"
    if code == "NOT_OWNER":
        return f"the contact belongs to another member than {ENV_VARS['member_id']}"
    if code in ("MISSING_ORG_ID", "MISSING_MEMBER_ID"):
        return f"check {ENV_VARS['org_id']} and {ENV_VARS['member_id']}"
    if isinstance(error, ServerError) and stops_run(error):  # the base URL or a gateway is wrong
        endpoint = getattr(error, "endpoint", None) or ""
        return (
            f"{url}{endpoint} answered HTTP {error.status}: is {BASE_URL} right? "
            f"(the API's is {DEFAULT_BASE_URL})"
        )
    if isinstance(error, ServerError) and error.status == 200:  # not the API's JSON envelope
        return f"{url} did not answer like the Zyntro API: is {BASE_URL} right?"
    if isinstance(error, ServerError) and error.status >= 500:
        return "the server failed; try again later"
    if isinstance(error, TLSError):
        return f"the TLS handshake with {url} failed; check {BASE_URL}"
    if isinstance(error, ProxyError):
        return "check HTTPS_PROXY / HTTP_PROXY, or list the API host in NO_PROXY to bypass it"
    if isinstance(error, ConnectError):
        return f"cannot connect to {url}: is {BASE_URL} right, and the server up?"
    if isinstance(error, (ConnectTimeout, ReadTimeout)):
        return f"no answer from {url} in time; try again later"
    return None


def describe(error: ZyntroError, url: str) -> tuple[str, int]:
    """One line for a failed single call, and its exit code."""
    more = hint(error, url)
    text = f"{error}; {more}" if more else str(error)
    if isinstance(error, (ValidationError, ConfigurationError)):
        return text, EXIT_USAGE
    if unreachable(error):
        return text, EXIT_UNREACHABLE
    # Every request would fail the same way (fix the setup, not the data): what a bulk run
    # stops on, too.
    return text, EXIT_STOPPED if stops_run(error) else EXIT_FAILED


def unreachable(error: BaseException) -> bool:
    """The API could not be reached at all: nothing was sent (a wrong host or port, DNS,
    TLS, a proxy, or no connection within the connect timeout)."""
    return isinstance(error, (ConnectError, TLSError, ConnectTimeout))
