"""Seed data: credentials, realistic contacts and the invented signals, all deterministic.

``seeded_contact_ids(seed, n)`` gives the ids ``ZyntroSandbox(seed=seed).seed(n)`` creates,
so a process without the sandbox (a benchmark) can address them. A seeded contact's
content is drawn from its own id bits when it is first read, so it does not depend on the
order contacts are read in. Credentials are random, or derived from a seed for a dev
server whose ``.env`` survives restarts.
"""

from __future__ import annotations

import itertools
import json
import random
import secrets
import uuid
import zlib
from collections.abc import Iterable
from datetime import date
from typing import Final

from ._store import STAGE_IDS, STAGES, Contact, Key
from ._wire import entity

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


def uuid4_string(bits: int) -> str:
    """128 random bits as a version-4 UUID string."""
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
    return [uuid4_string(bits(128)) for _ in range(n)]


def _company_entity(name: str, index: int) -> dict[str, str]:
    slug = name.lower()
    city = _CITIES[index % len(_CITIES)]
    return entity(
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


class Seeder:
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

    def contacts(self, n: int, org_id: str, owner: str) -> list[Contact]:
        bits = self._ids.getrandbits
        out = []
        for _ in range(n):
            b = bits(128)
            out.append(Contact(uuid4_string(b), org_id, owner, None, seeder=self, seed_bits=b))
        return out

    def generate(
        self, contact: Contact
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
        stage = pick(STAGES)
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
            STAGE_IDS[stage],
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
        company_entity = self._entities[company] if company >= 0 else None
        return values, notes, company_entity


def new_key(
    org_id: str | None,
    *,
    active: bool = True,
    ip_whitelist: Iterable[str] | None = None,
    seed: int | None = None,
) -> Key:
    """Fresh random credentials; with ``seed``, the same ones for the same seed (a dev
    server whose ``.env`` survives restarts)."""
    rng = None if seed is None else random.Random(f"zyntro-sandbox/credentials/{seed}")

    def token(nbytes: int) -> str:
        if rng is None:
            return secrets.token_hex(nbytes)
        return rng.getrandbits(8 * nbytes).to_bytes(nbytes, "big").hex()

    def new_uuid() -> str:
        return str(uuid.uuid4()) if rng is None else uuid4_string(rng.getrandbits(128))

    return Key(
        api_key=f"zk_test_{token(16)}",
        developer_secret=f"zdk_{token(20)}",
        org_id=org_id or new_uuid(),
        member_id=new_uuid(),
        active=active,
        ip_whitelist=None if ip_whitelist is None else frozenset(ip_whitelist),
    )


_SIGNALS: Final = (
    ("email_open", "Opened an email"),
    ("email_click", "Clicked a link in an email"),
    ("page_visit", "Visited the pricing page"),
    ("form_submit", "Submitted a form"),
    ("webinar_attend", "Attended a webinar"),
)


def invented_signals(contact_id: str) -> list[dict[str, str]]:
    """1-3 deterministic, made-up signals: the docs never show the real shape."""
    h = zlib.crc32(contact_id.encode())
    out = []
    for i in range(1 + h % 3):
        kind, label = _SIGNALS[(h + 2 * i) % len(_SIGNALS)]
        day, hour = 1 + (h >> (5 + i)) % 28, (h >> (9 + i)) % 24
        when = f"2025-03-{day:02d} {hour:02d}:00:00"
        out.append({"signal_type": kind, "signal_label": label, "signal_date_created": when})
    return out
