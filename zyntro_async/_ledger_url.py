"""A ledger's address: a ``postgresql://`` (or ``postgres://``) URL as a journal target.

``journal=`` is a SQLite path, or a PostgreSQL URL in libpq's URI form with three
parameters of ours, taken out before the rest reaches libpq:

* ``run``: the run's name (default ``default``). Every process given the same URL and
  ``run`` shares one run's ledger; other names are other runs in the same table.
* ``lease``: seconds a claim is leased for (default 30), renewed while its request is in
  flight; a holder that stops renewing loses the key ``lease`` plus the request timeout
  after its last renewal.
* ``table``: the table the ledger lives in (default ``zyntro_journal``), created if absent.

The password (in the URL, or a ``password=`` parameter) is never shown: :attr:`LedgerURL.shown`
is the URL with it masked, and that is what every message and ``repr`` carries. It can also
stay out of the URL altogether: libpq reads ``PGPASSWORD`` and ``~/.pgpass``.
"""

from __future__ import annotations

import re
import urllib.parse

import attrs

from ._exceptions import ConfigurationError

_SCHEMES = ("postgresql://", "postgres://")
_OURS = ("run", "lease", "table")
_SECRET_PARAMS = frozenset({"password", "sslpassword"})
_MASK = "***"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
DEFAULT_LEASE = 30.0


def is_ledger_url(target: object) -> bool:
    """Whether a ``journal=`` target names a PostgreSQL ledger (not a SQLite path)."""
    return isinstance(target, str) and target.lower().startswith(_SCHEMES)


def _mask(url: str) -> tuple[str, list[str]]:
    """``url`` with its passwords masked, and the passwords (to scrub from messages)."""
    parts = urllib.parse.urlsplit(url)
    secrets: list[str] = []
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        user, _, password = userinfo.partition(":")
        secrets.append(urllib.parse.unquote(password))
        netloc = f"{user}:{_MASK}@{hostport}"
    query = []
    for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        if name.lower() in _SECRET_PARAMS:
            secrets.append(value)
            value = _MASK
        query.append((name, value))
    shown = urllib.parse.urlunsplit(
        (parts.scheme, netloc, parts.path, urllib.parse.urlencode(query, safe="*"), "")
    )
    return shown, [s for s in secrets if s]


def redact(url: str) -> str:
    """``url`` with any password masked (a ledger URL; anything else is returned as is)."""
    if not is_ledger_url(url):
        return url
    try:
        return _mask(url)[0]
    except ValueError:
        return "postgresql://(unreadable URL)"


@attrs.frozen(repr=False)
class LedgerURL:
    """A parsed ledger URL: what to connect to (``conninfo``, kept out of ``repr``), the
    run's name, the lease and the table."""

    conninfo: str
    shown: str
    run: str
    lease: float
    table: str
    secrets: tuple[str, ...]

    def __repr__(self) -> str:
        return f"LedgerURL({self.shown!r})"

    def scrub(self, text: str) -> str:
        """``text`` with every password of this URL masked (for a driver's message)."""
        for secret in self.secrets:
            text = text.replace(secret, _MASK)
        return text


def parse_ledger_url(url: str) -> LedgerURL:
    """Parse a ledger URL; a bad one is a :class:`ConfigurationError` that never shows the
    password."""
    try:
        shown, secrets = _mask(url)
        parts = urllib.parse.urlsplit(url)
        params = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        raise ConfigurationError("journal: the PostgreSQL URL cannot be read") from None
    ours = {name: value for name, value in params if name in _OURS}
    rest = [(name, value) for name, value in params if name not in _OURS]
    run = ours.get("run", "default")
    if not run or len(run) > 200:
        raise ConfigurationError(f"journal {shown!r}: run= must be 1 to 200 characters")
    try:
        lease = float(ours.get("lease", DEFAULT_LEASE))
    except ValueError:
        lease = -1.0
    if not 0.5 <= lease <= 3600:
        raise ConfigurationError(f"journal {shown!r}: lease= must be seconds, 0.5 to 3600")
    table = ours.get("table", "zyntro_journal")
    if not _NAME.fullmatch(table):
        raise ConfigurationError(
            f"journal {shown!r}: table= must be a plain SQL name (letters, digits, _)"
        )
    scheme = "postgresql" if parts.scheme.lower() == "postgresql" else "postgres"
    conninfo = urllib.parse.urlunsplit(
        (scheme, parts.netloc, parts.path, urllib.parse.urlencode(rest), "")
    )
    return LedgerURL(conninfo, shown, run, lease, table, tuple(secrets))
