"""Resumable run: a journal lets a stopped run pick up where it stopped, adding nothing twice.

    python examples/resumable_run.py

The first run is stopped after 100 of 500 results (as Ctrl-C, a crash or a deploy would
stop it); what was in flight is cancelled and stays "sent" in the journal. The second run,
with the same input and the same journal, skips what is done, reconciles what was sent
(looks the record up before sending it again) and adds the rest: every contact ends with
exactly one profile.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from pathlib import Path

from _local import local_zyntro

from zyntro_async import ProfileRequest, ZyntroClient


def requests(contact_ids: list[str]) -> Iterator[ProfileRequest]:
    """The same input on every run; ``key`` identifies an item in the journal."""
    for n, contact_id in enumerate(contact_ids):
        yield ProfileRequest(contact_id, {"score": n % 100}, "LeadScore", key=f"lead-{n}")


async def main() -> None:
    async with local_zyntro() as sandbox:
        contact_ids = sandbox.seed(500)
        with tempfile.TemporaryDirectory() as tmp:
            journal = Path(tmp, "lead-scores.db")
            async with ZyntroClient() as client:
                # First run: stopped after 100 results.
                run = client.bulk_add_profiles(
                    requests(contact_ids), concurrency=16, journal=journal
                )
                async with run:
                    seen = 0
                    async for _result in run:
                        seen += 1
                        if seen == 100:
                            break  # leaving `async with run` cancels what is in flight
                first = run.report
                assert first is not None
                print(f"first run: stopped, {first.succeeded} added, {first.failed} failed")

                # Second run: the same input, the same journal.
                second = await client.bulk_add_profiles(
                    requests(contact_ids), concurrency=16, journal=journal
                )
                print(
                    f"second run: {second.skipped} skipped as done, {second.succeeded} added "
                    f"({second.recovered} of them were there already: sent before the stop), "
                    f"{second.failed} failed"
                )

        counts = [len(sandbox.profiles(cid)) for cid in contact_ids]
        exact = all(count == 1 for count in counts)
        print(f"check: {'OK' if exact else 'MISMATCH'}, {counts.count(1)} of 500 hold one profile")


if __name__ == "__main__":
    asyncio.run(main())
