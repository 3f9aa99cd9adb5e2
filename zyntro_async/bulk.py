"""What a bulk run takes and gives back, including the types its signatures name.

The run, its options, its requests and its results are importable from ``zyntro_async``
too; :data:`Enricher` (the callable ``enrich_contacts`` takes) and :data:`FailurePolicy`
(what ``on_failure`` accepts) live here only, for annotating your own code.
"""

from ._bulk import BulkRun
from ._pipelines import Enricher
from ._results import (
    BulkFailure,
    BulkOptions,
    BulkReport,
    BulkResult,
    ErrorRate,
    FailurePolicy,
    ProfileRequest,
    Progress,
)

__all__ = [
    "BulkRun",
    "BulkOptions",
    "BulkReport",
    "BulkResult",
    "BulkFailure",
    "ErrorRate",
    "FailurePolicy",
    "ProfileRequest",
    "Progress",
    "Enricher",
]
