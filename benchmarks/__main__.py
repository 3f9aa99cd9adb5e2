"""``python -m benchmarks``: see ``benchmarks/README.md`` and ``--help``.

``python -m benchmarks quotas ...`` runs the quota and stall scenarios instead
(:mod:`benchmarks.quotas`, ``--help`` there).
"""

import sys

if sys.argv[1:2] == ["quotas"]:
    from .quotas import main as quotas_main

    sys.exit(quotas_main(sys.argv[2:]))

from .run import main

sys.exit(main())
