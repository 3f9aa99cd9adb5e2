"""Testing tools for zyntro_async: a faithful local Zyntro server with fault injection.

``ZyntroSandbox`` is the server side of the contract and imports nothing from the SDK.
"""

from __future__ import annotations

from ._faults import ENDPOINTS, Fault, Faults
from ._sandbox import (
    EndpointStats,
    RecordedRequest,
    SandboxStats,
    ZyntroSandbox,
    seeded_contact_ids,
    serve,
)

# The lead adds the pytest-plugin names (fixtures from ._pytest_plugin) here later.

__all__ = [
    "ENDPOINTS",
    "EndpointStats",
    "Fault",
    "Faults",
    "RecordedRequest",
    "SandboxStats",
    "ZyntroSandbox",
    "seeded_contact_ids",
    "serve",
]
