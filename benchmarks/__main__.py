"""``python -m benchmarks``: see ``benchmarks/README.md`` and ``--help``."""

import sys

from .run import main

sys.exit(main())
