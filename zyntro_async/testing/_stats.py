"""What the sandbox counts and records: :class:`SandboxStats` (per endpoint:
requests, successes, errors by doc code, faults by kind; both: requests in flight and
their peak) and :class:`RecordedRequest` (a received request, secrets redacted).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any, Final

import attrs

from ._faults import Fault
from ._wire import ADD_PROFILE_TO_CONTACT, FETCH_CONTACT, php_empty

_REDACTED: Final = "***"
_SECRET_FIELDS: Final = ("api_key", "developer_secret")
_SECRET_HEADERS: Final = frozenset({"authorization", "cookie", "x-api-key"})


@attrs.define
class EndpointStats:
    """Counters for one endpoint. ``errors`` is keyed by the doc's error code."""

    requests: int = 0
    successes: int = 0
    errors: Counter[str] = attrs.Factory(Counter)
    faults: Counter[Fault] = attrs.Factory(Counter)


def answered(stats: EndpointStats, code: str | None, data: Any) -> dict[str, Any]:
    """Count what the rules answered (``code`` None: a success) and return the API's
    envelope for it: ``{"data": ..., "status": "success"}`` or the error's one message."""
    if code is None:
        stats.successes += 1
        return {"data": data, "status": "success"}
    stats.errors[code] += 1
    return {"data": [data], "status": "error"}


@attrs.define
class SandboxStats:
    """Per-endpoint counters; ``stats["fetchContact"]`` works too.

    ``in_flight`` counts the requests received and not yet answered (both endpoints);
    ``peak_in_flight`` is the most there ever were at once.
    """

    fetch_contact: EndpointStats = attrs.Factory(EndpointStats)
    add_profile_to_contact: EndpointStats = attrs.Factory(EndpointStats)
    in_flight: int = 0
    peak_in_flight: int = 0

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

    @classmethod
    def redacted(
        cls, endpoint: str, body: dict[str, Any], headers: Mapping[str, str], remote: str | None
    ) -> RecordedRequest:
        """The record of a request, with its secret body fields and headers replaced."""
        safe_body = dict(body)
        for field in _SECRET_FIELDS:
            if not php_empty(safe_body.get(field)):
                safe_body[field] = _REDACTED
        safe_headers = {
            k: (_REDACTED if k.lower() in _SECRET_HEADERS else v) for k, v in headers.items()
        }
        return cls(endpoint, safe_body, safe_headers, remote)
