"""Testing tools for zyntro_async: a faithful local Zyntro server with fault injection.

``ZyntroSandbox`` is the server side of the contract and imports nothing from the SDK.
"""

from ._faults import ENDPOINTS, Fault, Faults
from ._sandbox import (
    EndpointStats,
    RecordedRequest,
    SandboxStats,
    ZyntroSandbox,
    seeded_contact_ids,
    serve,
)

# The pytest plugin (fixtures zyntro_sandbox, zyntro_client) lives in ._pytest_plugin and is
# registered through the pytest11 entry point.

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
