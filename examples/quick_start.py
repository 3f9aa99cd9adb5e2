"""Quick start: fetch a contact with its notes and company, then add a profile to it.

    python examples/quick_start.py

Runs against a local Zyntro (see ``_local.py``); the client code is the README's.
"""

from __future__ import annotations

import asyncio

from _local import local_zyntro

from zyntro_async import NotFoundError, ZyntroClient


async def main() -> None:
    async with local_zyntro() as sandbox:
        # In your CRM this contact exists already; here we put it in the local Zyntro.
        contact_id = sandbox.add_contact(
            first_name="Jane",
            last_name="Doe",
            tags=["lead", "webinar"],
            notes=["Asked for a demo"],
            entity={"name": "Acme Corp", "website": "https://acme.example"},
        )

        # Each argument falls back to a ZYNTRO_* variable; _local.py set them.
        async with ZyntroClient() as client:
            details = await client.fetch_contact(
                contact_id, include_notes=True, include_entity=True
            )
            contact = details.contact
            print(f"contact: {contact.name}, tags {contact.tags}")
            print(f"notes: {[note.content for note in details.notes or []]}")
            print(f"company: {details.entity.name if details.entity else None}")

            profile = await client.add_profile_to_contact(
                contact.id, {"job_title": "VP of Marketing"}, "Clearbit"
            )
            print(f"added profile {profile.id} from {profile.source}: {profile.payload}")

            try:
                await client.fetch_contact("00000000-0000-0000-0000-000000000000")
            except NotFoundError as exc:  # every error has a documented .code
                print(f"unknown contact: {exc.code}")


if __name__ == "__main__":
    asyncio.run(main())
