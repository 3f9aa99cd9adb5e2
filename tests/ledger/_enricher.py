"""One enrichment worker on a shared PostgreSQL ledger, for the tests: ``python -m
tests.ledger._enricher IDS OUT NAME``. The sandbox's address and credentials and the
ledger's URL come from the environment (``ZYNTRO_*``, ``LEDGER_URL``: never argv). It
enriches every contact id in the file IDS with the payload ``{"by": NAME, ...}`` (so two
workers make different payloads for one contact) with ``journal=LEDGER_URL``,
``skip_if_enriched=False``, a 1 s request timeout and 8 attempts, and appends each result
to OUT as a JSON line as it comes."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from zyntro_async import RetryPolicy, Timeout, ZyntroClient
from zyntro_async.models import ContactDetails

SOURCE = "Enriched"


async def main(ids_file: str, out: str, name: str) -> None:
    with open(ids_file) as source:
        ids = source.read().split()

    async def enricher(details: ContactDetails) -> dict[str, Any]:
        return {"by": name, "contact": details.contact.id}

    async with ZyntroClient(
        os.environ["ZYNTRO_API_KEY"],
        os.environ["ZYNTRO_DEVELOPER_SECRET"],
        os.environ["ZYNTRO_ORG_ID"],
        os.environ["ZYNTRO_MEMBER_ID"],
        base_url=os.environ["ZYNTRO_BASE_URL"],
        timeout=Timeout(total=1.0),
        # Answers are dropped at random: enough tries that only the kill decides the trial.
        retry=RetryPolicy(max_attempts=8),
    ) as client:
        run = client.enrich_contacts(
            ids,
            enricher,
            source=SOURCE,
            skip_if_enriched=False,
            journal=os.environ["LEDGER_URL"],
            concurrency=8,
        )
        with open(out, "a") as results:
            async for r in run:
                code = None if r.error is None else r.error.code
                line = {"contact": r.request, "ok": r.ok, "skipped": r.skipped, "code": code,
                        "recovered": r.recovered}  # fmt: skip
                results.write(json.dumps(line) + "\n")
                results.flush()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
