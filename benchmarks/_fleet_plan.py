"""``benchmarks.fleet``'s matrix: its constants and the runs it is made of."""

from __future__ import annotations

import attrs

QUOTA = 200
LATENCY = 0.005
CONCURRENCY = 64
CONTACTS = 1000
SEED = 11
NS = (1, 2, 4, 8)
KNOWN_SECONDS, LEARNED_SECONDS, KILL_SECONDS = 6, 10, 12
KILL_AT, RESTART_AFTER, AFTER_RESTART = 3.0, 2.0, 5.0
#: The opening: every process's first flight (concurrency 64 each, before any answer) and
#: its answers, retries after a 1 s Retry-After included.
OPENING = 1.0
SKEWS = (-5.0, 5.0, -5.0, 5.0)


@attrs.frozen
class Run:
    target: str  # "sandbox" or "nginx"
    n: int
    known: bool
    shared: bool
    kind: str = "matrix"  # "matrix", "kill" or "skew"

    @property
    def seconds(self) -> int:
        if self.kind == "kill":
            return KILL_SECONDS
        return KNOWN_SECONDS if self.known else LEARNED_SECONDS

    @property
    def name(self) -> str:
        if self.kind != "matrix":
            return self.kind
        return (
            f"{self.target}-{self.n}-{'known' if self.known else 'learned'}"
            f"-{'shared' if self.shared else 'alone'}"
        )


def plan(quick: bool, only: list[str] | None) -> list[Run]:
    targets = ("sandbox",) if quick else ("sandbox", "nginx")
    ns = (1, 4) if quick else NS
    runs = [
        Run(target, n, known, shared)
        for target in targets
        for n in ns
        for known in (True, False)
        for shared in (True, False)
    ]
    runs += [Run("sandbox", 4, True, True, "kill"), Run("sandbox", 4, True, True, "skew")]
    if only:
        runs = [r for r in runs if any(r.name.startswith(o) for o in only)]
    return runs
