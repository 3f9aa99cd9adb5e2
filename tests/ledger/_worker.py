"""One worker on a shared PostgreSQL ledger, for the tests: ``python -m tests.ledger._worker
IDS OUT CONCURRENCY [START]``. The sandbox's address and credentials and the ledger's URL come
from the environment (``ZYNTRO_*``, ``LEDGER_URL``: never argv). It adds one profile per
contact id in the file IDS (one a line; from the fraction START of it on, wrapping
around) with ``journal=LEDGER_URL`` and a 1 s request timeout, and appends each result
to OUT as a JSON line as it comes."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from zyntro_async import ProfileRequest, Timeout, ZyntroClient


async def main(ids_file: str, out: str, concurrency: int, start: float) -> None:
    with open(ids_file) as source:
        ids = source.read().split()
    at = int(start * len(ids))  # where in the input this worker starts (then wraps around)
    items = list(enumerate(ids))
    items = items[at:] + items[:at]
    async with ZyntroClient(
        os.environ["ZYNTRO_API_KEY"],
        os.environ["ZYNTRO_DEVELOPER_SECRET"],
        os.environ["ZYNTRO_ORG_ID"],
        os.environ["ZYNTRO_MEMBER_ID"],
        base_url=os.environ["ZYNTRO_BASE_URL"],
        timeout=Timeout(total=1.0),
    ) as client:
        run = client.bulk_add_profiles(
            (ProfileRequest(cid, {"n": n}, "Ledger", key=cid) for n, cid in items),
            concurrency=concurrency,
            journal=os.environ["LEDGER_URL"],
        )
        with open(out, "a") as results:
            async for r in run:
                code = None if r.error is None else r.error.code
                line = {"key": r.key, "ok": r.ok, "skipped": r.skipped, "code": code,
                        "recovered": r.recovered}  # fmt: skip
                results.write(json.dumps(line) + "\n")
                results.flush()


if __name__ == "__main__":
    start = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), start))
