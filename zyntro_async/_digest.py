"""Canonical digests: a payload's identity and a bulk item's key, stable across runs.

The journal stores them and the exactly-once add compares them with what the server
holds, so this is the one rule for "the same payload" (canonical JSON: sorted keys, no
whitespace, UTF-8; then SHA-256).
"""

from __future__ import annotations

import hashlib
import json
from typing import Final

# Built once: json.dumps with options builds a new encoder per call.
_CANONICAL: Final = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _canonical_digest(value: object) -> str:
    text = _CANONICAL.encode(value)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def item_key(
    contact_id: str,
    source: str,
    payload: object,
    key: str | None = None,
    *,
    digest: str | None = None,
) -> str:
    """Return the stable identity of an item: a hex SHA-256 over (contact, source, payload
    digest), so the payload is serialised and hashed once (pass ``digest`` if you have it).

    With a caller-supplied correlation ``key`` the identity depends on that key only, so the
    payload may change between runs without the item being sent twice.
    Raises ``TypeError`` if ``payload`` is not JSON-serializable.
    """
    if key is not None:
        return _canonical_digest(["key", key])
    if digest is None:
        digest = payload_digest(payload)
    return _canonical_digest(["profile", contact_id, source, digest])


def payload_digest(payload: object) -> str:
    """Return the hex SHA-256 of the payload's canonical JSON (what the journal stores)."""
    return _canonical_digest(payload)


def digest_or_none(payload: object) -> str | None:
    """:func:`payload_digest`, or None for a payload JSON cannot carry."""
    try:
        return payload_digest(payload)
    except (TypeError, ValueError):
        return None
