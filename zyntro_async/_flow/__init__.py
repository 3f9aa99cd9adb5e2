"""Pool-wide flow control for a bulk run (see :mod:`._control` for the design)."""

from ._budget import DEFAULT_BUDGET
from ._control import FlowControl, GateClosed

__all__ = ["DEFAULT_BUDGET", "FlowControl", "GateClosed"]
