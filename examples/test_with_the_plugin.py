"""Testing your code with the pytest plugin: no server, no network, no configuration.

    python -m pytest examples/test_with_the_plugin.py

Installing zyntro-async (and pytest-asyncio) is all it takes: the fixtures
``zyntro_sandbox`` (a local Zyntro, fresh per test) and ``zyntro_client`` (a client bound
to it, retrying without sleeping, with short timeouts) come from the plugin, and a test
that uses them runs as written, with or without ``asyncio_mode = "auto"``.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from zyntro_async import AuthenticationError, ContactDetails, ZyntroClient
from zyntro_async.testing import Fault, Faults, ZyntroSandbox

# -- the code under test: yours ----------------------------------------------------------


async def title_lookup(details: ContactDetails) -> dict[str, str] | None:
    """Stands in for your enrichment API."""
    first = details.contact.first_name or ""
    return {"job_title": "CTO"} if first.startswith("T") else None


async def enrich_titles(client: ZyntroClient, contact_ids: Iterable[str]) -> int:
    """Add a job title to every contact the lookup knows; return how many were added."""
    report = await client.enrich_contacts(contact_ids, title_lookup, source="Titles")
    if report.failed:
        raise RuntimeError(f"{report.failed} contacts failed")
    return report.succeeded


# -- its tests ---------------------------------------------------------------------------


async def test_enriches_the_contacts_the_lookup_knows(
    zyntro_sandbox: ZyntroSandbox, zyntro_client: ZyntroClient
) -> None:
    tom = zyntro_sandbox.add_contact(first_name="Tom")
    ann = zyntro_sandbox.add_contact(first_name="Ann")
    assert await enrich_titles(zyntro_client, [tom, ann]) == 1
    assert [p["profile_payload"] for p in zyntro_sandbox.profiles(tom)] == [{"job_title": "CTO"}]
    assert zyntro_sandbox.profiles(ann) == []


async def test_a_lost_answer_adds_no_second_record(
    zyntro_sandbox: ZyntroSandbox, zyntro_client: ZyntroClient
) -> None:
    tom = zyntro_sandbox.add_contact(first_name="Tom")
    # The server stores the profile, then hangs up; then it stores one and answers late.
    zyntro_sandbox.script("addProfileToContact", Fault.DROP_AFTER_COMMIT)
    assert await enrich_titles(zyntro_client, [tom]) == 1
    tim = zyntro_sandbox.add_contact(first_name="Tim")
    zyntro_sandbox.script("addProfileToContact", Fault.TIMEOUT_AFTER_COMMIT)
    assert await enrich_titles(zyntro_client, [tim]) == 1
    assert len(zyntro_sandbox.profiles(tom)) == len(zyntro_sandbox.profiles(tim)) == 1


@pytest.mark.zyntro_sandbox(faults=Faults(rate_limit=0.05, server_error=0.05), seed=7)
async def test_survives_a_flaky_api(
    zyntro_sandbox: ZyntroSandbox, zyntro_client: ZyntroClient
) -> None:
    ids = [zyntro_sandbox.add_contact(first_name=f"T{n}") for n in range(40)]
    assert await enrich_titles(zyntro_client, ids) == 40
    assert all(len(zyntro_sandbox.profiles(cid)) == 1 for cid in ids)
    assert sum(zyntro_sandbox.stats.faults.values()) > 0


async def test_an_inactive_user_is_refused(zyntro_sandbox: ZyntroSandbox) -> None:
    inactive = zyntro_sandbox.add_credentials(active=False)
    tom = zyntro_sandbox.add_contact(first_name="Tom")
    async with ZyntroClient(
        api_key=inactive["api_key"],
        developer_secret=inactive["developer_secret"],
        org_id=inactive["org_id"],
        member_id=inactive["member_id"],
        base_url=zyntro_sandbox.base_url,
    ) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.fetch_contact(tom)
    assert caught.value.code == "USER_INACTIVE"
