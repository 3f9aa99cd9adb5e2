"""Testing tools for zyntro_async: a faithful local Zyntro server with fault injection, and
the switch that makes retries skip their sleeps (``set_testing``).

``ZyntroSandbox`` is the server side of the contract and imports nothing from the SDK.
"""

from .._retry import is_testing, set_testing
from ._faults import Fault, Faults
from ._sandbox import ZyntroSandbox
from ._seed import seeded_contact_ids
from ._serve import serve
from ._stats import EndpointStats, RecordedRequest, SandboxStats
from ._wire import ENDPOINTS

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
    "is_testing",
    "seeded_contact_ids",
    "serve",
    "set_testing",
]
