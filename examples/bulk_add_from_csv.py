"""Bulk add: one profile per row of a CSV file, read lazily, with per-row results.

    python examples/bulk_add_from_csv.py

The CSV has a ``contact_id`` column; every other column goes into the profile's payload.
The rows are read one at a time while the run needs them (memory stays flat for a file of
any size), 16 requests at a time. One row names a contact that does not exist: it fails
alone, with its row number as the key, and the others go on.
"""

from __future__ import annotations

import asyncio
import csv
import tempfile
from collections.abc import Iterator
from pathlib import Path

from _local import local_zyntro

from zyntro_async import ProfileRequest, ZyntroClient

SOURCE = "crm-import-2026"


def read_requests(path: Path) -> Iterator[ProfileRequest]:
    """One request per CSV row; ``key`` names the row in results and failures."""
    with path.open(newline="", encoding="utf-8") as file:
        for line, row in enumerate(csv.DictReader(file), start=2):
            contact_id = row.pop("contact_id")
            yield ProfileRequest(contact_id, dict(row), SOURCE, key=f"{path.name}:{line}")


def write_sample_csv(path: Path, contact_ids: list[str]) -> None:
    """The file your export would be (here: the local contacts, and one unknown id)."""
    titles = ("VP Marketing", "Head of Sales", "CTO", "Founder")
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["contact_id", "job_title", "company_size"])
        for n, contact_id in enumerate(contact_ids):
            writer.writerow([contact_id, titles[n % 4], ("11-50", "51-200")[n % 2]])
        writer.writerow(["00000000-0000-0000-0000-000000000000", "Ghost", "1-10"])


async def main() -> None:
    async with local_zyntro() as sandbox:
        contact_ids = sandbox.seed(200)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp, "contacts.csv")
            write_sample_csv(path, contact_ids)

            async with ZyntroClient() as client:
                report = await client.bulk_add_profiles(read_requests(path), concurrency=16)

        print(f"rows: {report.total}, added: {report.succeeded}, failed: {report.failed}")
        for failure in report.failures:
            assert failure.error is not None
            print(f"  {failure.key}: {failure.error.code}")
        added = sum(len(sandbox.profiles(cid)) for cid in contact_ids)
        print(f"profiles stored: {added}")


if __name__ == "__main__":
    asyncio.run(main())
