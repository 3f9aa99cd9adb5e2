"""Streaming fetch: results as they complete, while the API fails now and then.

    python examples/streaming_fetch.py

``async for`` gives one result per contact in completion order; a failed fetch is a
failed result, never an exception out of the loop. The local Zyntro answers 5 % of the
requests with a 500 or a 429: the run retries them (up to 6 attempts here, so that a
contact unlucky three times in a row still gets through), and says how often in its report.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from _local import local_zyntro

from zyntro_async import RetryPolicy, ZyntroClient
from zyntro_async.testing import Faults


async def main() -> None:
    faults = Faults(server_error=0.03, rate_limit=0.02, retry_after=0.05)
    async with local_zyntro(faults=faults, seed=1) as sandbox:
        contact_ids = sandbox.seed(300)

        stages: Counter[str] = Counter()
        async with ZyntroClient(retry=RetryPolicy(max_attempts=6)) as client:
            run = client.bulk_fetch_contacts(contact_ids, include_entity=True, concurrency=32)
            async with run:  # leaving the loop early would cancel what is in flight
                async for result in run:
                    if result.ok:
                        assert result.value is not None
                        stages[result.value.contact.stage or "none"] += 1
                    else:
                        assert result.error is not None
                        print(f"{result.request}: {result.error.code}")
            report = run.report
            assert report is not None

        print(f"fetched {report.succeeded} of {report.total} contacts, {report.failed} failed")
        print(f"retries: {report.retries}")
        print("by stage: " + ", ".join(f"{s} {n}" for s, n in sorted(stages.items())))


if __name__ == "__main__":
    asyncio.run(main())
