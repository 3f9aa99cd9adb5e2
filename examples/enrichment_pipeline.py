"""Enrichment pipeline: fetch each contact, ask an enricher for a profile, add it.

    python examples/enrichment_pipeline.py

``enrich_contacts`` fetches each contact with its profiles, skips the ones that already
have a profile from this source, awaits your enricher for the payload (``None``: nothing
to add) and adds it. The enricher here is a stand-in for a call to an enrichment API: it
knows some email domains, has nothing for the others, and fails once. The second run
finds every enriched contact already done.
"""

from __future__ import annotations

import asyncio

from _local import local_zyntro

from zyntro_async import ContactDetails, Progress, ZyntroClient

SOURCE = "ExampleEnricher"

COMPANIES = {
    "acme.example": {"company": "Acme Corp", "industry": "Manufacturing", "size": "51-200"},
    "globex.example": {"company": "Globex", "industry": "Energy", "size": "1000+"},
}


async def enricher(details: ContactDetails) -> dict[str, str] | None:
    """What your enrichment API would answer for this contact (None: nothing known)."""
    await asyncio.sleep(0.001)  # the network round trip
    email = details.contact.email or ""
    if email.startswith("broken@"):
        raise RuntimeError("the enrichment API answered 500")
    return COMPANIES.get(email.rpartition("@")[2])


def show(progress: Progress) -> None:
    print(f"  progress: {progress.done}/{progress.total}")


async def main() -> None:
    async with local_zyntro() as sandbox:
        contact_ids = [
            sandbox.add_contact(first_name=f"Person{n}", email=f"p{n}@{domain}")
            for n, domain in enumerate(["acme.example", "globex.example", "unknown.example"] * 10)
        ]
        contact_ids.append(sandbox.add_contact(first_name="Broken", email="broken@acme.example"))

        async with ZyntroClient() as client:
            for attempt in ("first run", "second run"):
                report = await client.enrich_contacts(
                    contact_ids, enricher, source=SOURCE, concurrency=8, on_progress=show
                )
                print(
                    f"{attempt}: {report.total} contacts, {report.succeeded} enriched, "
                    f"{report.skipped} skipped (enriched before, or nothing to add), "
                    f"{report.failed} failed"
                )
                for failure in report.failures:
                    assert failure.error is not None
                    cause = failure.error.__cause__
                    print(f"  {failure.request}: {failure.error.code} ({cause})")

        enriched = [cid for cid in contact_ids if sandbox.profiles(cid)]
        print(f"contacts with a profile from {SOURCE}: {len(enriched)}")


if __name__ == "__main__":
    asyncio.run(main())
