"""One worker on a shared PostgreSQL ledger, for the tests:
``python -m tests.ledger._worker add IDS OUT CONCURRENCY [START]`` or
``python -m tests.ledger._worker enrich IDS OUT NAME``.

The sandbox's address and credentials and the ledger's URL come from the environment
(``ZYNTRO_*``, ``LEDGER_URL``: never argv). Either way the worker runs over the contact
ids in the file IDS (one a line) with ``journal=LEDGER_URL`` and a 1 s request timeout,
and appends each result to OUT as a JSON line as it comes:

- ``add``: one profile per contact (from the fraction START of the input on, wrapping
  around), keyed by the contact id;
- ``enrich``: every contact enriched with ``{"by": NAME, ...}`` (so two workers make
  different payloads for one contact), ``skip_if_enriched=False`` and 8 attempts.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterable
from typing import Any

from zyntro_async import BulkResult, ProfileRequest, RetryPolicy, Timeout, ZyntroClient
from zyntro_async.models import ContactDetails

SOURCE = "Enriched"


def enricher(name: str) -> Any:
    """An enricher whose payload names the worker that made it."""

    async def enrich(details: ContactDetails) -> dict[str, Any]:
        return {"by": name, "contact": details.contact.id}

    return enrich


def _client(**options: Any) -> ZyntroClient:
    return ZyntroClient(
        os.environ["ZYNTRO_API_KEY"],
        os.environ["ZYNTRO_DEVELOPER_SECRET"],
        os.environ["ZYNTRO_ORG_ID"],
        os.environ["ZYNTRO_MEMBER_ID"],
        base_url=os.environ["ZYNTRO_BASE_URL"],
        timeout=Timeout(total=1.0),
        **options,
    )


async def _write(run: AsyncIterable[BulkResult[Any]], out: str) -> None:
    with open(out, "a") as results:
        async for r in run:
            code = None if r.error is None else r.error.code
            line = {"key": r.key, "contact": r.request if isinstance(r.request, str) else None,
                    "ok": r.ok, "skipped": r.skipped, "code": code,
                    "recovered": r.recovered}  # fmt: skip
            results.write(json.dumps(line) + "\n")
            results.flush()


async def add(ids: list[str], out: str, concurrency: int, start: float) -> None:
    at = int(start * len(ids))  # where in the input this worker starts (then wraps around)
    items = list(enumerate(ids))
    items = items[at:] + items[:at]
    async with _client() as client:
        run = client.bulk_add_profiles(
            (ProfileRequest(cid, {"n": n}, "Ledger", key=cid) for n, cid in items),
            concurrency=concurrency,
            journal=os.environ["LEDGER_URL"],
        )
        await _write(run, out)


async def enrich(ids: list[str], out: str, name: str) -> None:
    # Answers are dropped at random: enough tries that only the kill decides the trial.
    async with _client(retry=RetryPolicy(max_attempts=8)) as client:
        run = client.enrich_contacts(
            ids,
            enricher(name),
            source=SOURCE,
            skip_if_enriched=False,
            journal=os.environ["LEDGER_URL"],
            concurrency=8,
        )
        await _write(run, out)


if __name__ == "__main__":
    mode, ids_file, out = sys.argv[1:4]
    with open(ids_file) as source:
        contact_ids = source.read().split()
    if mode == "add":
        start = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
        asyncio.run(add(contact_ids, out, int(sys.argv[4]), start))
    else:
        asyncio.run(enrich(contact_ids, out, sys.argv[4]))
