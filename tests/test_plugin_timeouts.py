"""The ``zyntro_client`` fixture's timeouts are short: the sandbox is local, so a silence is
a fault the test scripted, and it costs a fraction of a second, not the production 30 s."""

from __future__ import annotations

import pytest

from zyntro_async import ProfileRequest, ZyntroClient
from zyntro_async.errors import ReadTimeout
from zyntro_async.testing import Fault, Faults, ZyntroSandbox


async def test_a_timeout_after_commit_is_recovered_with_one_record(
    zyntro_sandbox: ZyntroSandbox, zyntro_client: ZyntroClient
) -> None:
    contact_id = zyntro_sandbox.add_contact(first_name="Jane")
    zyntro_sandbox.script("addProfileToContact", Fault.TIMEOUT_AFTER_COMMIT)
    profile = await zyntro_client.add_profile_to_contact(contact_id, {"title": "VP"}, "Clearbit")
    assert [p["profile_id"] for p in zyntro_sandbox.profiles(contact_id)] == [profile.id]
    assert zyntro_sandbox.stats.faults[Fault.TIMEOUT_AFTER_COMMIT] == 1


async def test_the_timeout_fault_is_a_read_timeout_for_the_fixture_client(
    zyntro_sandbox: ZyntroSandbox, zyntro_client: ZyntroClient
) -> None:
    # The sandbox holds the answer far longer than the client waits for it.
    timeout = zyntro_client.timeout
    assert timeout.read is not None
    assert timeout.read < 1.0
    assert zyntro_sandbox.faults.hang_seconds > 10 * timeout.read
    contact_id = zyntro_sandbox.add_contact()
    zyntro_sandbox.script("addProfileToContact", Fault.TIMEOUT_AFTER_COMMIT)
    creds = zyntro_sandbox.credentials
    async with ZyntroClient(
        api_key=creds["api_key"],
        developer_secret=creds["developer_secret"],
        org_id=creds["org_id"],
        member_id=creds["member_id"],
        base_url=zyntro_sandbox.base_url,
        timeout=timeout,
        retry=None,
    ) as client:
        with pytest.raises(ReadTimeout):
            await client.add_profile_to_contact(contact_id, {"title": "VP"}, "Clearbit")
    assert len(zyntro_sandbox.profiles(contact_id)) == 1  # committed, answer withheld


async def test_a_bulk_run_recovers_every_timed_out_add(
    zyntro_sandbox: ZyntroSandbox, zyntro_client: ZyntroClient
) -> None:
    ids = zyntro_sandbox.seed(10)
    zyntro_sandbox.script("addProfileToContact", *[Fault.TIMEOUT_AFTER_COMMIT] * 3)
    report = await zyntro_client.bulk_add_profiles(
        (ProfileRequest(cid, {"n": n}, "Clearbit") for n, cid in enumerate(ids)),
        concurrency=4,
    )
    assert (report.succeeded, report.failed, report.recovered) == (10, 0, 3)
    assert all(len(zyntro_sandbox.profiles(cid)) == 1 for cid in ids)


@pytest.mark.zyntro_sandbox(faults=Faults(latency=0.3, jitter=0.1))
async def test_the_read_timeout_allows_for_the_sandbox_latency(
    zyntro_sandbox: ZyntroSandbox, zyntro_client: ZyntroClient
) -> None:
    assert zyntro_client.timeout.read is not None
    assert zyntro_client.timeout.read > 0.4
    contact_id = zyntro_sandbox.add_contact()
    details = await zyntro_client.fetch_contact(contact_id)
    assert details.contact.id == contact_id
    assert zyntro_sandbox.stats.requests == 1  # no attempt timed out
