"""ZyntroSandbox: a faithful local Zyntro CRM server (aiohttp.web) for tests and benchmarks.

It serves ``POST <base>/apis/v2/public/crm/fetchContact`` and ``.../addProfileToContact``
as the doc pages describe: every answer is HTTP 200 with ``{"data": ..., "status":
"success"|"error"}``, errors carry the documented message verbatim
(:mod:`._messages`), and contact fields are strings ("0"/"1" booleans, JSON inside
strings for tags/custom fields, ``YYYY-MM-DD HH:MM:SS`` dates). Objects are emitted in
the key order the doc examples show (MySQL JSON order: shorter keys first, then
bytewise), compact like PHP's ``json_encode``.

Checks, in order: api_key (missing -> "Missing service instance", unknown -> "Invalid
API Key"); developer_secret (missing, or not the key's); caller IP against the key's
whitelist (``request.remote``); user active; required fields (org, member, contact,
then for addProfileToContact payload and source); addProfileToContact payload must be a
JSON object/array; contact exists in ``org_id`` and ``org_id`` is the key's org;
addProfileToContact ``member_id`` must be the contact's owner.

Interpretations where the docs are silent or terse:

* "Missing" follows PHP ``empty()``: absent, null, false, 0, "", "0", [] and {}.
  A body that is not a JSON object counts as ``{}`` (so: "Missing service instance").
* addProfileToContact's ``MISSING_FIELDS`` line is sent as one message per field:
  "Missing org ID", "Missing member ID", "Missing contact ID", "Missing
  profile_payload", "Missing profile_source" (checked in that order, also for
  fetchContact's three). Its page does not list USER_INACTIVE; the sandbox checks it
  for both endpoints. A ``profile_source`` that is an object/array counts as missing;
  numbers are stored as their string form.
* A contact is found only if it belongs to the body's ``org_id`` and that is the API
  key's org. ``member_id`` is not checked against the key (the docs do not say it
  is); addProfileToContact compares it with the contact's owner (NOT_OWNER).
* ``include_*`` flags are on for ``1``, ``"1"`` or ``true`` only.
* ``contact_profile`` (include_profile=1) is a LIST of records shaped like
  addProfileToContact's success ``data`` (``profile_id``, ``profile_source``,
  ``profile_payload``), oldest first, ``[]`` if none. The docs never show it.
* ``signals`` (include_signals=1) are INVENTED, the docs never show them: a list of
  ``{"signal_type", "signal_label", "signal_date_created"}`` string dicts derived from
  the contact id, unless ``add_contact(signals=[...])`` set them.
* Echoed ``profile_payload`` objects come back in MySQL key order, as in the doc's
  example; :meth:`ZyntroSandbox.profiles` keeps them as received.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import random
import secrets
import shlex
import sys
import uuid
import zlib
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import date, datetime, timezone
from types import TracebackType
from typing import Any, Final, TextIO, TypeVar

import attrs
from aiohttp import web

from . import _messages as msg
from ._faults import (
    ADD_PROFILE_TO_CONTACT,
    ENDPOINTS,
    FETCH_CONTACT,
    Fault,
    FaultInjector,
    Faults,
    drop_connection,
    hang,
)

API_PATH: Final = "/apis/v2/public/crm/"
_MAX_BODY: Final = 16 * 1024 * 1024
_DATE_FORMAT: Final = "%Y-%m-%d %H:%M:%S"
_REDACTED: Final = "***"
_SECRET_FIELDS: Final = ("api_key", "developer_secret")
_SECRET_HEADERS: Final = frozenset({"authorization", "cookie", "x-api-key"})

#: The documented ``contact`` keys, in the doc's (MySQL) order.
CONTACT_KEYS: Final[tuple[str, ...]] = (
    "contact_id",
    "contact_dnc",
    "contact_zip",
    "contact_city",
    "contact_name",
    "contact_tags",
    "contact_email",
    "contact_owner",
    "contact_phone",
    "contact_stage",
    "contact_state",
    "contact_source",
    "contact_status",
    "contact_address",
    "contact_country",
    "contact_is_test",
    "contact_stageid",
    "contact_timezone",
    "contact_last_name",
    "contact_first_name",
    "contact_role_label",
    "contact_salutation",
    "contact_sms_optout",
    "contact_auto_engage",
    "contact_country_code",
    "contact_date_created",
    "contact_date_updated",
    "contact_email_optout",
    "contact_custom_fields",
    "contact_email_verified",
    "contact_phone_verified",
)
_CONTACT_KEY_SET: Final = frozenset(CONTACT_KEYS)
ENTITY_KEYS: Final[tuple[str, ...]] = (
    "entity_name",
    "entity_tags",
    "entity_label",
    "entity_socials",
    "entity_website",
    "entity_location",
    "entity_custom_fields",
)
NOTE_KEYS: Final[tuple[str, ...]] = ("note_maker", "note_content", "note_date_created")

_S = TypeVar("_S", bound="ZyntroSandbox")
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_Outcome = tuple[str | None, Any]  # (None, data) on success, (code, message) on error


# ---------------------------------------------------------------------------- wire format


def _mysql_key(key: str) -> tuple[int, bytes]:
    raw = key.encode("utf-8", "surrogatepass")  # JSON may carry lone surrogates
    return len(raw), raw


def _mysql_order(value: Any) -> Any:
    """``value`` with every object's keys in MySQL JSON order (length, then bytes)."""
    if isinstance(value, dict):
        keys = sorted(value, key=_mysql_key)
        return {k: _mysql_order(value[k]) for k in keys}
    if isinstance(value, list):
        return [_mysql_order(v) for v in value]
    return value


def _wire(value: Any) -> str:
    """A Python value as the string the API serves for it."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime):
        return value.strftime(_DATE_FORMAT)
    if isinstance(value, date):
        return f"{value.isoformat()} 00:00:00"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return str(value)


def _now() -> str:
    return datetime.now(timezone.utc).strftime(_DATE_FORMAT)


def _prefixed(prefix: str, fields: Mapping[str, Any]) -> dict[str, str]:
    return {(k if k.startswith(prefix) else prefix + k): _wire(v) for k, v in fields.items()}


def _note(note: str | Mapping[str, Any], owner: str) -> dict[str, str]:
    if isinstance(note, str):
        note = {"content": note}
    out = {"note_maker": owner, "note_content": "", "note_date_created": _now()}
    out.update(_prefixed("note_", note))
    return dict(_mysql_order(out))


def _entity(entity: Mapping[str, Any]) -> dict[str, str]:
    out = {
        "entity_name": "",
        "entity_tags": "[]",
        "entity_label": "Company",
        "entity_socials": "{}",
        "entity_website": "",
        "entity_location": "",
        "entity_custom_fields": "{}",
    }
    out.update(_prefixed("entity_", entity))
    return dict(_mysql_order(out))


_SIGNALS: Final = (
    ("email_open", "Opened an email"),
    ("email_click", "Clicked a link in an email"),
    ("page_visit", "Visited the pricing page"),
    ("form_submit", "Submitted a form"),
    ("webinar_attend", "Attended a webinar"),
)


def _invented_signals(contact_id: str) -> list[dict[str, str]]:
    """1-3 deterministic, made-up signals: the docs never show the real shape."""
    h = zlib.crc32(contact_id.encode())
    out = []
    for i in range(1 + h % 3):
        kind, label = _SIGNALS[(h + 2 * i) % len(_SIGNALS)]
        day, hour = 1 + (h >> (5 + i)) % 28, (h >> (9 + i)) % 24
        when = f"2025-03-{day:02d} {hour:02d}:00:00"
        out.append({"signal_type": kind, "signal_label": label, "signal_date_created": when})
    return out


def _empty(value: Any) -> bool:
    """PHP ``empty()`` for JSON values."""
    return value is None or value == "0" or not value


def _flag(value: Any) -> bool:
    return value is True or value == "1" or (type(value) is int and value == 1)


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _parse_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return {}
    return body if isinstance(body, dict) else {}


# ---------------------------------------------------------------------------------- state


@attrs.frozen
class _Key:
    api_key: str
    developer_secret: str
    org_id: str
    member_id: str
    active: bool
    ip_whitelist: frozenset[str] | None

    def credentials(self) -> dict[str, str]:
        return {
            "api_key": self.api_key,
            "developer_secret": self.developer_secret,
            "org_id": self.org_id,
            "member_id": self.member_id,
        }


@attrs.define(slots=True)
class _Contact:
    id: str
    org_id: str
    owner: str
    values: tuple[Any, ...] | None  # CONTACT_KEYS order; None until a seeded one is read
    extra: dict[str, Any] | None = None  # non-documented contact_* keys
    notes: list[dict[str, str]] | None = None
    entity: dict[str, str] | None = None
    signals: list[dict[str, Any]] | None = None
    seeder: _Seeder | None = None  # seeded contacts are generated lazily, from seed_bits
    seed_bits: int = 0

    def materialize(self) -> tuple[Any, ...]:
        """The contact's wire values, generating a seeded contact on first use."""
        if self.values is None:
            if self.seeder is None:
                raise RuntimeError(f"contact {self.id} has no values")
            self.values, self.notes, self.entity = self.seeder.generate(self)
            self.seeder = None
        return self.values

    def wire(self) -> dict[str, Any]:
        out = dict(zip(CONTACT_KEYS, self.materialize(), strict=True))
        if self.extra:
            out.update(self.extra)
            return dict(_mysql_order(out))
        return out


@attrs.define
class EndpointStats:
    """Counters for one endpoint. ``errors`` is keyed by the doc's error code."""

    requests: int = 0
    successes: int = 0
    errors: Counter[str] = attrs.Factory(Counter)
    faults: Counter[Fault] = attrs.Factory(Counter)


@attrs.define
class SandboxStats:
    """Per-endpoint counters; ``stats["fetchContact"]`` works too."""

    fetch_contact: EndpointStats = attrs.Factory(EndpointStats)
    add_profile_to_contact: EndpointStats = attrs.Factory(EndpointStats)

    def __getitem__(self, endpoint: str) -> EndpointStats:
        if endpoint == FETCH_CONTACT:
            return self.fetch_contact
        if endpoint == ADD_PROFILE_TO_CONTACT:
            return self.add_profile_to_contact
        raise KeyError(endpoint)

    @property
    def requests(self) -> int:
        """Requests received on both endpoints."""
        return self.fetch_contact.requests + self.add_profile_to_contact.requests

    @property
    def faults(self) -> Counter[Fault]:
        """Faults injected on both endpoints, by kind."""
        return self.fetch_contact.faults + self.add_profile_to_contact.faults


@attrs.frozen
class RecordedRequest:
    """One received request, secrets redacted (``api_key``/``developer_secret`` -> "***")."""

    endpoint: str
    body: dict[str, Any]
    headers: dict[str, str]
    remote: str | None


def _redact(body: dict[str, Any]) -> dict[str, Any]:
    out = dict(body)
    for field in _SECRET_FIELDS:
        if not _empty(out.get(field)):
            out[field] = _REDACTED
    return out


# -------------------------------------------------------------------------------- seeding

_FIRST: Final = (
    "Jane",
    "John",
    "Maria",
    "Wei",
    "Aisha",
    "Carlos",
    "Emma",
    "Liam",
    "Olivia",
    "Noah",
    "Sofia",
    "Lucas",
    "Mia",
    "Ethan",
    "Chloe",
    "Mateo",
    "Amara",
    "Kenji",
    "Priya",
    "Omar",
    "Hannah",
    "Diego",
    "Zoe",
    "Ivan",
    "Fatima",
    "Leo",
    "Grace",
    "Arjun",
    "Elena",
    "Tom",
)
_LAST: Final = (
    "Smith",
    "Johnson",
    "Garcia",
    "Chen",
    "Okafor",
    "Rossi",
    "Muller",
    "Silva",
    "Kim",
    "Patel",
    "Nguyen",
    "Brown",
    "Lopez",
    "Novak",
    "Haddad",
    "Tanaka",
    "Dubois",
    "Kowalski",
    "Andersen",
    "Costa",
    "Murphy",
    "Singh",
    "Ivanova",
    "Reyes",
    "Cohen",
)
# city, state, zip prefix, country, country code, timezone, phone prefix
_CITIES: Final = (
    ("San Francisco", "CA", "941", "United States", "US", "America/Los_Angeles", "+1-415-555-"),
    ("New York", "NY", "100", "United States", "US", "America/New_York", "+1-212-555-"),
    ("Austin", "TX", "787", "United States", "US", "America/Chicago", "+1-512-555-"),
    ("Chicago", "IL", "606", "United States", "US", "America/Chicago", "+1-312-555-"),
    ("Seattle", "WA", "981", "United States", "US", "America/Los_Angeles", "+1-206-555-"),
    ("Boston", "MA", "021", "United States", "US", "America/New_York", "+1-617-555-"),
    ("Denver", "CO", "802", "United States", "US", "America/Denver", "+1-303-555-"),
    ("Toronto", "ON", "M5V", "Canada", "CA", "America/Toronto", "+1-416-555-"),
    ("London", "", "EC1", "United Kingdom", "GB", "Europe/London", "+44 20 7946 "),
    ("Berlin", "", "101", "Germany", "DE", "Europe/Berlin", "+49 30 5555 "),
    ("Sydney", "NSW", "200", "Australia", "AU", "Australia/Sydney", "+61 2 5550 "),
)
_STREETS: Final = (
    "Main St",
    "Market St",
    "Oak Ave",
    "Maple Dr",
    "Cedar Ln",
    "High St",
    "Park Rd",
    "Mission St",
    "King St",
    "Elm St",
)
_TAGS: Final = (
    "prospect",
    "webinar-attendee",
    "customer",
    "newsletter",
    "vip",
    "trial",
    "partner",
    "churn-risk",
    "event-lead",
    "referral",
)
_STAGES: Final = ("New", "Contacted", "Qualified", "Nurturing", "Proposal", "Won", "Lost")
_STAGE_IDS: Final = {
    s: str(uuid.uuid5(uuid.NAMESPACE_URL, f"zyntro-sandbox/stage/{s}")) for s in _STAGES
}
_SOURCES: Final = ("Website Form", "Referral", "LinkedIn", "Webinar", "Import", "API", "Event")
_STATUSES: Final = ("Active", "Active", "Active", "Inactive", "Bounced")
_ROLES: Final = ("Decision Maker", "Influencer", "Champion", "End User", "Gatekeeper", "")
_SALUTATIONS: Final = ("Mr", "Ms", "Mrs", "Dr", "Mx", "")
_INDUSTRIES: Final = ("Technology", "Healthcare", "Finance", "Retail", "Education", "Logistics")
_COMPANIES: Final = (
    "Acme-Corp",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Wonka",
    "Vandelay",
    "Pied-Piper",
    "Massive-Dynamic",
    "Gringotts",
    "Oscorp",
)
_MAIL_DOMAINS: Final = ("example.com", "example.org", "example.net", "mail.example")
_NOTES: Final = (
    "Expressed interest in the enterprise plan during the demo call.",
    "Asked for a pricing sheet; follow up next week.",
    "Met at the conference booth, wants a product tour.",
    "Prefers email over phone. Decision expected next quarter.",
    "Currently evaluating two competitors.",
)
_INDUSTRY_JSON: Final = tuple(json.dumps({"industry": i}) for i in _INDUSTRIES)


def _uuid4_string(bits: int) -> str:
    bits = (bits & ~(0xF << 76)) | (4 << 76)
    bits = (bits & ~(0x3 << 62)) | (0x2 << 62)
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _ids_rng(seed: int) -> random.Random:
    return random.Random(f"zyntro-sandbox/ids/{seed}")


def seeded_contact_ids(seed: int, n: int) -> list[str]:
    """The ids ``ZyntroSandbox(seed=seed).seed(n)`` creates, without a sandbox.

    Lets a benchmark running in another process address a seeded dev server.
    """
    bits = _ids_rng(seed).getrandbits
    return [_uuid4_string(bits(128)) for _ in range(n)]


def _company_entity(name: str, index: int) -> dict[str, str]:
    slug = name.lower()
    city = _CITIES[index % len(_CITIES)]
    return _entity(
        {
            "name": name.replace("-", " "),
            "tags": ["account"] if index % 2 else [],
            "label": "Company",
            "socials": {"linkedin": f"https://linkedin.example/company/{slug}"},
            "website": f"https://{slug}.example",
            "location": f"{city[0]}, {city[1] or city[3]}",
            "custom_fields": {"industry": _INDUSTRIES[index % len(_INDUSTRIES)]},
        }
    )


def _day_strings(days: int) -> tuple[str, ...]:
    base = date(2022, 1, 1).toordinal()
    return tuple(date.fromordinal(base + d).isoformat() for d in range(days))


def _tag_choices() -> tuple[tuple[str, ...], ...]:
    """Precomputed tag JSON strings, grouped by tag count 0..3 (seeding speed)."""
    return tuple(
        tuple(json.dumps(list(c)) for c in itertools.combinations(_TAGS, k)) for k in range(4)
    )


class _Seeder:
    """Deterministic realistic contacts; the stream continues across ``seed()`` calls.

    ``contacts()`` only draws ids (100k in a fraction of a second); each contact's
    content comes from ``random.Random(<its id bits>)`` when first read, so it does not
    depend on read order. Float draws index precomputed pools (no choice/strftime).
    """

    _DAYS: Final = _day_strings(3 * 366 + 270)
    _TAG_JSON: Final = _tag_choices()

    def __init__(self, seed: int) -> None:
        self._ids = _ids_rng(seed)
        self._entities = [_company_entity(name, i) for i, name in enumerate(_COMPANIES)]

    def contacts(self, n: int, org_id: str, owner: str) -> list[_Contact]:
        bits = self._ids.getrandbits
        out = []
        for _ in range(n):
            b = bits(128)
            out.append(_Contact(_uuid4_string(b), org_id, owner, None, seeder=self, seed_bits=b))
        return out

    def generate(
        self, contact: _Contact
    ) -> tuple[tuple[str, ...], list[dict[str, str]] | None, dict[str, str] | None]:
        """Values, notes and entity of a seeded contact."""
        rand = random.Random(contact.seed_bits).random
        days, tag_json = self._DAYS, self._TAG_JSON
        cid, owner = contact.id, contact.owner

        def pick(pool: tuple[str, ...]) -> str:
            return pool[int(rand() * len(pool))]

        def when(day: int, second: int) -> str:
            return f"{days[day]} {second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"

        def yes(p: float) -> str:
            return "1" if rand() < p else "0"

        first, last = pick(_FIRST), pick(_LAST)
        city = _CITIES[int(rand() * len(_CITIES))]
        company = int(rand() * len(_COMPANIES)) if rand() < 0.45 else -1
        domain = f"{_COMPANIES[company]}.example" if company >= 0 else pick(_MAIL_DOMAINS)
        day, second = int(rand() * 3 * 365), int(rand() * 86400)
        tags = tag_json[int(rand() * 4)]
        stage = pick(_STAGES)
        values = (
            cid,
            yes(0.03),
            f"{city[2]}{int(rand() * 100):02d}",
            city[0],
            f"{first} {last}",
            tags[int(rand() * len(tags))],
            f"{first}.{last}{int(rand() * 1000)}@{domain}".lower(),
            owner,
            f"{city[6]}{int(rand() * 10000):04d}",
            stage,
            city[1],
            pick(_SOURCES),
            pick(_STATUSES),
            f"{1 + int(rand() * 1999)} {pick(_STREETS)}",
            city[3],
            "0",
            _STAGE_IDS[stage],
            city[5],
            last,
            first,
            pick(_ROLES),
            pick(_SALUTATIONS),
            yes(0.05),
            yes(0.5),
            city[4],
            when(day, second),
            when(day + int(rand() * 180), int(rand() * 86400)),
            yes(0.04),
            _INDUSTRY_JSON[int(rand() * len(_INDUSTRY_JSON))],
            yes(0.7),
            yes(0.4),
        )
        notes = None
        if rand() < 0.3:
            notes = [
                {
                    "note_maker": owner,
                    "note_content": pick(_NOTES),
                    "note_date_created": when(day + 1 + int(rand() * 90), int(rand() * 86400)),
                }
                for _ in range(1 + int(rand() * 3))
            ]
        entity = self._entities[company] if company >= 0 else None
        return values, notes, entity


# -------------------------------------------------------------------------------- sandbox


def _new_key(
    org_id: str | None,
    *,
    active: bool = True,
    ip_whitelist: Iterable[str] | None = None,
    seed: int | None = None,
) -> _Key:
    """Fresh random credentials; with ``seed``, the same ones for the same seed (a dev
    server whose ``.env`` survives restarts)."""
    rng = None if seed is None else random.Random(f"zyntro-sandbox/credentials/{seed}")

    def token(nbytes: int) -> str:
        if rng is None:
            return secrets.token_hex(nbytes)
        return rng.getrandbits(8 * nbytes).to_bytes(nbytes, "big").hex()

    def new_uuid() -> str:
        return str(uuid.uuid4()) if rng is None else _uuid4_string(rng.getrandbits(128))

    return _Key(
        api_key=f"zk_test_{token(16)}",
        developer_secret=f"zdk_{token(20)}",
        org_id=org_id or new_uuid(),
        member_id=new_uuid(),
        active=active,
        ip_whitelist=None if ip_whitelist is None else frozenset(ip_whitelist),
    )


class ZyntroSandbox:
    """A local Zyntro server: ``async with ZyntroSandbox() as sb: ... sb.base_url``.

    ``stats`` counts requests, successes, errors (by doc code) and faults per endpoint;
    ``requests`` keeps the last ``record_requests`` bodies (secrets redacted) and headers.
    ``seed`` drives both the fault dice and :meth:`seed`'s contacts.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
        seed: int = 0,
        record_requests: int = 1000,
    ) -> None:
        self._host, self._port = host, port
        self._random_seed = seed
        self._injector = FaultInjector(faults or Faults(), seed)
        self._seeder: _Seeder | None = None
        primary = _new_key(None)
        self._primary = primary
        self._keys: dict[str, _Key] = {primary.api_key: primary}
        self._contacts: dict[str, _Contact] = {}
        self._profiles: dict[str, list[dict[str, Any]]] = {}
        self._last_profile_id = 0
        self.stats = SandboxStats()
        self.requests: deque[RecordedRequest] = deque(maxlen=record_requests)
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
            site = web.TCPSite(runner, self._host, self._port)
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
        """``http://<host>:<port>/apis/v2/public/crm/`` (trailing slash)."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}{API_PATH}"

    @property
    def random_seed(self) -> int:
        """The ``seed`` this sandbox was built with (faults and seeded contacts)."""
        return self._random_seed

    @property
    def credentials(self) -> dict[str, str]:
        """Working ``api_key``, ``developer_secret``, ``org_id``, ``member_id``."""
        return self._primary.credentials()

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
        key = _new_key(org_id or self._primary.org_id, active=active, ip_whitelist=ip_whitelist)
        self._keys[key.api_key] = key
        return key.credentials()

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
        cid = fields.pop("id", None) or fields.pop("contact_id", None) or str(uuid.uuid4())
        owner = fields.pop("owner", None) or fields.pop("contact_owner", None)
        owner = owner or self._primary.member_id
        org_id = fields.pop("org_id", None) or self._primary.org_id
        if not (isinstance(cid, str) and isinstance(owner, str) and isinstance(org_id, str)):
            raise TypeError("id, owner and org_id must be strings")
        if cid in self._contacts:
            raise ValueError(f"contact {cid!r} already exists")
        notes = fields.pop("notes", None)
        entity = fields.pop("entity", None)
        signals = fields.pop("signals", None)
        first = _wire(fields.pop("first_name", "Jane"))
        last = _wire(fields.pop("last_name", "Doe"))
        created = fields.pop("date_created", None) or _now()
        stage = _wire(fields.pop("stage", "New"))
        wire: dict[str, Any] = {
            "contact_id": cid,
            "contact_dnc": "0",
            "contact_zip": "",
            "contact_city": "",
            "contact_name": f"{first} {last}".strip(),
            "contact_tags": "[]",
            "contact_email": f"{first}.{last}@example.com".lower().replace(" ", ""),
            "contact_owner": owner,
            "contact_phone": "",
            "contact_stage": stage,
            "contact_state": "",
            "contact_source": "API",
            "contact_status": "Active",
            "contact_address": "",
            "contact_country": "",
            "contact_is_test": "0",
            "contact_stageid": _STAGE_IDS.get(stage, ""),
            "contact_timezone": "UTC",
            "contact_last_name": last,
            "contact_first_name": first,
            "contact_role_label": "",
            "contact_salutation": "",
            "contact_sms_optout": "0",
            "contact_auto_engage": "0",
            "contact_country_code": "",
            "contact_date_created": _wire(created),
            "contact_date_updated": _wire(fields.pop("date_updated", None) or created),
            "contact_email_optout": "0",
            "contact_custom_fields": "{}",
            "contact_email_verified": "0",
            "contact_phone_verified": "0",
        }
        for name, value in fields.items():
            if name.startswith("contact_"):
                wire[name] = value
                continue
            key = "contact_stageid" if name in ("stage_id", "stageid") else f"contact_{name}"
            wire[key] = _wire(value) if key in _CONTACT_KEY_SET else value
        json.dumps(wire)  # fail here, not in the handler, on values JSON cannot carry
        values = tuple(wire.pop(k) for k in CONTACT_KEYS)
        self._contacts[cid] = _Contact(
            id=cid,
            org_id=org_id,
            owner=owner,
            values=values,
            extra=wire or None,
            notes=None if notes is None else [_note(n, owner) for n in notes],
            entity=None if entity is None else _entity(entity),
            signals=None if signals is None else list(signals),
        )
        return cid

    def seed(self, n: int) -> list[str]:
        """Add ``n`` realistic contacts owned by the credentials' member; return their ids.

        Deterministic from the sandbox ``seed`` (ids: :func:`seeded_contact_ids`); later
        calls continue the same stream. Some contacts have notes, some an entity.
        """
        if self._seeder is None:
            self._seeder = _Seeder(self._random_seed)
        batch = self._seeder.contacts(n, self._primary.org_id, self._primary.member_id)
        self._contacts.update((c.id, c) for c in batch)
        return [c.id for c in batch]

    def contact(self, contact_id: str) -> dict[str, Any]:
        """The ``contact`` object fetchContact serves for ``contact_id`` (KeyError if none)."""
        return self._contacts[contact_id].wire()

    def profiles(self, contact_id: str) -> list[dict[str, Any]]:
        """Stored profile records of a contact, oldest first, payloads as received."""
        return copy.deepcopy(self._profiles.get(contact_id, []))

    # -- request handling

    def _handler(self, endpoint: str) -> _Handler:
        process = self._fetch_contact if endpoint == FETCH_CONTACT else self._add_profile
        injector = self._injector

        async def handle(request: web.Request) -> web.StreamResponse:
            stats = self.stats[endpoint]
            stats.requests += 1
            body = _parse_body(await request.read())
            if self.requests.maxlen:
                self._record(endpoint, body, request)
            # The quota sits in front, as a gateway does: decided on arrival, before the
            # dice and before any state change.
            quota = injector.admit(body.get("api_key"))
            if quota is not None and not quota.admitted:
                stats.faults[Fault.QUOTA] += 1
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
                if fault.is_status:
                    response = injector.status_response(fault)
                    if quota is not None:
                        response.headers.update(quota.headers)
                    return response
            code, data = process(body, request.remote)
            if code is None:
                stats.successes += 1
                envelope = {"data": data, "status": "success"}
            else:
                stats.errors[code] += 1
                envelope = {"data": [data], "status": "error"}
            if fault is Fault.TIMEOUT_AFTER_COMMIT:
                await hang(injector.faults.hang_seconds, self._stopping)
            if fault is not None:
                return drop_connection(request)
            return web.Response(
                body=_dumps(envelope),
                content_type="application/json",
                headers=None if quota is None else quota.headers,
            )

        return handle

    def _record(self, endpoint: str, body: dict[str, Any], request: web.Request) -> None:
        headers = {
            k: (_REDACTED if k.lower() in _SECRET_HEADERS else v)
            for k, v in request.headers.items()
        }
        self.requests.append(RecordedRequest(endpoint, _redact(body), headers, request.remote))

    def _authenticate(self, body: dict[str, Any], remote: str | None) -> _Key | tuple[str, str]:
        api_key = body.get("api_key")
        if _empty(api_key):
            return "MISSING_API_KEY", msg.MISSING_API_KEY
        key = self._keys.get(api_key) if isinstance(api_key, str) else None
        if key is None:
            return "INVALID_API_KEY", msg.INVALID_API_KEY
        secret = body.get("developer_secret")
        if _empty(secret):
            return "MISSING_DEVELOPER_SECRET", msg.MISSING_DEVELOPER_SECRET
        if secret != key.developer_secret:
            return "INVALID_DEVELOPER_SECRET", msg.INVALID_DEVELOPER_SECRET
        if key.ip_whitelist is not None and remote not in key.ip_whitelist:
            return "IP_NOT_WHITELISTED", msg.IP_NOT_WHITELISTED
        if not key.active:
            return "USER_INACTIVE", msg.USER_INACTIVE
        return key

    def _find(self, key: _Key, body: dict[str, Any]) -> _Contact | None:
        contact_id, org_id = body["contact_id"], body["org_id"]
        if not isinstance(contact_id, str) or org_id != key.org_id:
            return None
        contact = self._contacts.get(contact_id)
        return contact if contact is not None and contact.org_id == org_id else None

    def _fetch_contact(self, body: dict[str, Any], remote: str | None) -> _Outcome:
        key = self._authenticate(body, remote)
        if isinstance(key, tuple):
            return key
        if _empty(body.get("org_id")):
            return "MISSING_ORG_ID", msg.MISSING_ORG_ID
        if _empty(body.get("member_id")):
            return "MISSING_MEMBER_ID", msg.MISSING_MEMBER_ID
        if _empty(body.get("contact_id")):
            return "MISSING_CONTACT_ID", msg.MISSING_CONTACT_ID
        contact = self._find(key, body)
        if contact is None:
            return "NOT_FOUND", msg.FETCH_NOT_FOUND
        cid = contact.id
        contact.materialize()
        notes = list(contact.notes or ()) if _flag(body.get("include_notes")) else None
        entity = contact.entity if _flag(body.get("include_entity")) else None
        signals = None
        if _flag(body.get("include_signals")):
            signals = contact.signals if contact.signals is not None else _invented_signals(cid)
        profile = None
        if _flag(body.get("include_profile")):
            profile = [_mysql_order(p) for p in self._profiles.get(cid, ())]
        data = {
            "notes": notes,
            "entity": entity,
            "contact": contact.wire(),
            "signals": signals,
            "contact_profile": profile,
        }
        return None, data

    def _add_profile(self, body: dict[str, Any], remote: str | None) -> _Outcome:
        key = self._authenticate(body, remote)
        if isinstance(key, tuple):
            return key
        for field, message in (
            ("org_id", msg.MISSING_ORG_ID),
            ("member_id", msg.MISSING_MEMBER_ID),
            ("contact_id", msg.MISSING_CONTACT_ID),
            ("profile_payload", msg.MISSING_PROFILE_PAYLOAD),
        ):
            if _empty(body.get(field)):
                return "MISSING_FIELDS", message
        source = body.get("profile_source")
        if _empty(source) or isinstance(source, (dict, list)):
            return "MISSING_FIELDS", msg.MISSING_PROFILE_SOURCE
        payload = body["profile_payload"]
        if not isinstance(payload, (dict, list)):
            return "INVALID_PAYLOAD", msg.INVALID_PAYLOAD
        contact = self._find(key, body)
        if contact is None:
            return "NOT_FOUND", msg.ADD_NOT_FOUND
        if body["member_id"] != contact.owner:
            return "NOT_OWNER", msg.NOT_OWNER
        try:  # a payload nested too deep to echo is refused rather than half-stored
            echoed = _mysql_order(payload)
            _dumps(echoed)
        except RecursionError:
            return "INVALID_PAYLOAD", msg.INVALID_PAYLOAD
        self._last_profile_id += 1
        record = {
            "profile_id": self._last_profile_id,
            "profile_source": _wire(source),
            "profile_payload": payload,
        }
        self._profiles.setdefault(contact.id, []).append(record)
        return None, {**record, "profile_payload": echoed}


# ----------------------------------------------------------------------------- dev server


async def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    contacts: int = 0,
    faults: Faults | None = None,
    seed: int = 0,
    out: TextIO = sys.stdout,
    ids_file: str | None = None,
    dump_profiles: str | None = None,
) -> None:
    """Run a sandbox until cancelled, printing its URL and ``export ZYNTRO_*=...`` lines.

    The credentials derive from ``seed`` (same seed, same credentials: a ``.env`` survives
    restarts), as do the seeded contacts (``seeded_contact_ids(seed, contacts)``).
    ``ids_file`` receives the seeded contact ids, one per line, before serving starts;
    ``dump_profiles`` receives every seeded contact's stored profiles as one JSON object
    (``{contact_id: [profile records, oldest first]}``) when serving stops. Requests are
    not recorded (lean handler for benchmarks).
    """
    import os

    def write_atomically(path: str, text: str) -> None:
        temporary = f"{path}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(temporary, path)

    sandbox = ZyntroSandbox(host=host, port=port, faults=faults, seed=seed, record_requests=0)
    primary = _new_key(None, seed=seed)
    sandbox._primary, sandbox._keys = primary, {primary.api_key: primary}
    async with sandbox:
        ids = sandbox.seed(contacts) if contacts > 0 else []
        if ids_file is not None:
            write_atomically(ids_file, "".join(cid + "\n" for cid in ids))
        creds = sandbox.credentials
        lines = [
            f"# Zyntro sandbox at {sandbox.base_url} ({len(ids)} contacts, seed {seed})",
            f"export ZYNTRO_BASE_URL={shlex.quote(sandbox.base_url)}",
            f"export ZYNTRO_API_KEY={shlex.quote(creds['api_key'])}",
            f"export ZYNTRO_DEVELOPER_SECRET={shlex.quote(creds['developer_secret'])}",
            f"export ZYNTRO_ORG_ID={shlex.quote(creds['org_id'])}",
            f"export ZYNTRO_MEMBER_ID={shlex.quote(creds['member_id'])}",
        ]
        if ids:
            lines.append(f"# first contact_id: {ids[0]}")
        if ids_file is not None:
            lines.append(f"# contact ids: {ids_file}")
        if dump_profiles is not None:
            lines.append(f"# profiles: written to {dump_profiles} on shutdown")
        out.write("\n".join(lines) + "\n")
        out.flush()
        try:
            await asyncio.Event().wait()
        finally:
            if dump_profiles is not None:
                stored = {cid: sandbox.profiles(cid) for cid in ids}
                write_atomically(dump_profiles, json.dumps(stored, ensure_ascii=False) + "\n")
