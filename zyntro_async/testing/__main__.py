"""``python -m zyntro_async.testing``: the same command as ``zyntro-async sandbox``.

One launcher, one set of flags and defaults: ``--host``, ``--port``, ``--contacts``,
``--faults``, ``--seed``, ``--ids-file``, ``--dump-profiles`` (see ``--help``). It serves
until Ctrl-C or SIGTERM, then exits 0.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``zyntro-async sandbox`` with ``argv``; return its exit code (a bad flag exits 2)."""
    from .._cli import main as cli_main

    return cli_main(["sandbox", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
