"""The pytest plugin our users rely on: the README's example, run as written."""

from __future__ import annotations

import pytest

from zyntro_async import ZyntroClient
from zyntro_async.testing import Fault, Faults, ZyntroSandbox


async def test_enrichment_survives_a_flaky_api(
    zyntro_sandbox: ZyntroSandbox, zyntro_client: ZyntroClient
) -> None:
    contact_id = zyntro_sandbox.add_contact(first_name="Jane", email="jane@example.com")
    zyntro_sandbox.script("addProfileToContact", Fault.DROP_AFTER_COMMIT)  # commit, then hang up
    profile = await zyntro_client.add_profile_to_contact(contact_id, {"title": "VP"}, "Clearbit")
    assert [p["profile_id"] for p in zyntro_sandbox.profiles(contact_id)] == [profile.id]


@pytest.mark.zyntro_sandbox(faults=Faults(rate_limit=0.15, server_error=0.1), seed=7)
async def test_the_marker_configures_the_sandbox(
    zyntro_sandbox: ZyntroSandbox, zyntro_client: ZyntroClient
) -> None:
    assert zyntro_sandbox.faults.rate_limit == 0.15
    assert zyntro_sandbox.random_seed == 7
    ids = zyntro_sandbox.seed(20)
    for cid in ids:
        details = await zyntro_client.fetch_contact(cid)
        assert details.contact.id == cid
    assert sum(zyntro_sandbox.stats.faults.values()) > 0


async def test_the_client_fixture_is_bound_and_closed_after(
    zyntro_sandbox: ZyntroSandbox, zyntro_client: ZyntroClient
) -> None:
    assert zyntro_client.base_url == zyntro_sandbox.base_url
    assert not zyntro_client.closed
