"""What a PostgreSQL ledger costs a run, next to the SQLite journal.

    python -m benchmarks.ledger             # about 40 s on 2 cores
    python -m benchmarks.ledger --quick     # one round of fewer items

Starts a PostgreSQL cluster of its own (``initdb``/``pg_ctl`` into a temp folder on a free
loopback port, as the tests do) and a sandbox with 20 ms latency, then runs one process's
``bulk_add_profiles`` of N items at concurrency 64 with ``journal=`` a fresh SQLite file and
with ``journal=`` a fresh run on the PostgreSQL ledger, alternately, several rounds. Prints
items/s per round, the medians, and their ratio (PostgreSQL / SQLite; target >= 0.9), and
writes them to ``benchmarks/results/ledger-<UTC stamp>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from tests.ledger.postgres_server import postgres_cluster
from zyntro_async import ProfileRequest, ZyntroClient
from zyntro_async.testing import Faults, ZyntroSandbox

RESULTS = Path(__file__).resolve().parent / "results"
LATENCY = 0.02
CONCURRENCY = 64


async def _one(sb: ZyntroSandbox, journal: str, n: int) -> float:
    ids = sb.seed(n)
    async with ZyntroClient(**sb.credentials, base_url=sb.base_url) as client:
        run = client.bulk_add_profiles(
            (ProfileRequest(cid, {"n": i}, "Bench") for i, cid in enumerate(ids)),
            concurrency=CONCURRENCY,
            journal=journal,
        )
        start = time.perf_counter()
        async for result in run:
            assert result.ok, result
        elapsed = time.perf_counter() - start
    return n / elapsed


async def _bench(pg_url: str, n: int, rounds: int) -> dict[str, list[float]]:
    rates: dict[str, list[float]] = {"sqlite": [], "postgres": []}
    with tempfile.TemporaryDirectory(prefix="zyntro-ledger-bench-") as folder:
        async with ZyntroSandbox(seed=1, faults=Faults(latency=LATENCY)) as sb:
            # Warm-up, not counted: imports, pools, the sandbox's and the server's caches.
            await _one(sb, f"{folder}/warm.db", n)
            await _one(sb, f"{pg_url}?run=warm", n)
            for r in range(rounds):
                for name in ("sqlite", "postgres") if r % 2 == 0 else ("postgres", "sqlite"):
                    journal = (
                        f"{folder}/run{r}.db"
                        if name == "sqlite"
                        else f"{pg_url}?run={uuid.uuid4().hex}"
                    )
                    rate = await _one(sb, journal, n)
                    rates[name].append(rate)
                    print(f"round {r + 1} {name:8} {rate:8.0f} items/s", flush=True)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n, rounds = (1000, 1) if args.quick else (3000, 5)
    with postgres_cluster() as pg_url:
        rates = asyncio.run(_bench(pg_url, n, rounds))
    sqlite, postgres = (statistics.median(rates[k]) for k in ("sqlite", "postgres"))
    ratio = postgres / sqlite
    verdict = "PASS" if ratio >= 0.9 else "MISS"
    print(
        f"median: sqlite {sqlite:.0f}/s, postgres {postgres:.0f}/s; "
        f"ratio {ratio:.3f} (target >= 0.9): {verdict}"
    )
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    record = {
        "items": n,
        "rounds": rounds,
        "latency": LATENCY,
        "concurrency": CONCURRENCY,
        "rates": rates,
        "median": {"sqlite": sqlite, "postgres": postgres},
        "ratio": ratio,
        "target": 0.9,
    }
    out = RESULTS / f"ledger-{stamp}{'-quick' if args.quick else ''}.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out.relative_to(RESULTS.parent.parent)}")


if __name__ == "__main__":
    main()
