"""The sandbox's per-key quota (``Faults.quota_rps``): a token bucket, as gateways enforce.

The bucket logic is tested sans I/O with a fake clock (no sleeping, no timing): refills
over seconds cannot be checked exactly over HTTP without sleeping, so these tests import
the private ``Quota`` and assert the header values a gateway sends, not how it computes
them. The end-to-end test checks what a raw aiohttp client sees.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from zyntro_async.testing import Fault, Faults, ZyntroSandbox
from zyntro_async.testing._quota import Quota


class FakeClock:
    def __init__(self) -> None:
        self.now = 1024.0  # steps below are powers of two: exact in binary floating point

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------------------ the bucket


@pytest.mark.parametrize(
    ("rate", "burst", "every", "window"),
    [(100.0, 10.0, 0.001, 2.0), (500.0, 50.0, 0.0005, 3.0), (3.0, 1.0, 0.01, 10.0)],
)
def test_bucket_admits_rate_times_window_plus_burst(
    rate: float, burst: float, every: float, window: float
) -> None:
    clock = FakeClock()
    quota = Quota(rate, burst, clock=clock)
    steps = round(window / every)
    admitted = 0
    for _ in range(steps + 1):
        admitted += quota.take("k").admitted
        clock.now += every
    expected = rate * window + burst
    assert expected - 1 <= admitted <= expected + 1
    assert steps + 1 - admitted > 0  # the rest was refused


def test_refusal_says_when_to_come_back_in_whole_seconds() -> None:
    clock = FakeClock()
    quota = Quota(500.0, 50.0, clock=clock)
    decisions = [quota.take("k") for _ in range(51)]
    assert all(d.admitted for d in decisions[:50])
    assert [d.remaining for d in decisions[:3]] == [49, 48, 47]
    last_ok, refused = decisions[49], decisions[50]
    assert (last_ok.remaining, last_ok.reset, last_ok.retry_after) == (0, 1, None)
    assert not refused.admitted
    assert refused.headers == {
        "X-RateLimit-Limit": "500",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "1",
        "Retry-After": "1",  # 2 ms away, rounded up to a whole second as gateways do
    }
    slow = Quota(0.5, 1.0, clock=clock)
    assert slow.take("k").admitted
    assert slow.take("k").retry_after == 2
    clock.now += 1.5
    assert slow.take("k").headers["Retry-After"] == "1"  # 0.25 tokens short: 0.5 s
    clock.now += 0.5
    assert slow.take("k").admitted


def test_admitted_answers_count_whole_tokens_left() -> None:
    clock = FakeClock()
    quota = Quota(8.0, 3.0, clock=clock)
    first = quota.take("k")
    assert first.headers == {
        "X-RateLimit-Limit": "8",
        "X-RateLimit-Remaining": "2",
        "X-RateLimit-Reset": "0",
    }
    quota.take("k")
    clock.now += 0.0625  # half a token back: 1.5 tokens
    third = quota.take("k")
    assert (third.admitted, third.remaining, third.reset) == (True, 0, 1)


def test_refusals_take_no_token_and_the_bucket_never_overfills() -> None:
    clock = FakeClock()
    quota = Quota(8.0, 2.0, clock=clock)
    assert [quota.take("k").admitted for _ in range(5)] == [True, True, False, False, False]
    clock.now += 0.125  # one token back, whatever the refusals before
    assert [quota.take("k").admitted for _ in range(2)] == [True, False]
    clock.now += 3600
    assert quota.tokens("k") == 2.0
    assert [quota.take("k").admitted for _ in range(3)] == [True, True, False]


def test_each_key_has_its_own_bucket() -> None:
    clock = FakeClock()
    quota = Quota(1.0, 2.0, clock=clock)
    assert [quota.take("a").admitted for _ in range(3)] == [True, True, False]
    assert [quota.take("b").admitted for _ in range(3)] == [True, True, False]
    assert quota.tokens("c") == 2.0


def test_limit_header_is_the_rate_as_an_integer() -> None:
    assert Quota(999.6, 1.0).take("k").limit == 1000
    assert Quota(0.2, 1.0).take("k").limit == 1


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1.0), (-1.0, 1.0), (1.0, 0.5), (1.0, math.inf)])
def test_bucket_rejects_nonsense(rate: float, burst: float) -> None:
    with pytest.raises(ValueError, match=r"rate|burst"):
        Quota(rate, burst)


# ------------------------------------------------------------------------- Faults value


def test_quota_options_and_default_burst() -> None:
    assert Faults().quota_rps == 0
    assert Faults(quota_rps=500).quota_capacity == 50
    assert Faults(quota_rps=1000).quota_capacity == 100
    assert Faults(quota_rps=5).quota_capacity == 1  # 10 %, at least one token
    assert Faults(quota_rps=500, quota_burst=5).quota_capacity == 5
    for bad in ({"quota_rps": -1}, {"quota_rps": math.inf}, {"quota_burst": 0.5}):
        with pytest.raises(ValueError, match="quota"):
            Faults(**bad)


def test_quota_is_never_a_dice_or_scripted_fault() -> None:
    faults = Faults(quota_rps=100, rate_limit=0.5, server_error=0.5)
    assert Fault.QUOTA not in [kind for kind, _ in faults.probabilities]
    assert Fault.QUOTA.is_status
    with pytest.raises(ValueError, match="QUOTA"):
        ZyntroSandbox().script("addProfileToContact", Fault.QUOTA)


def test_parse_quota_options() -> None:
    faults = Faults.parse("quota_rps=500,quota-burst=25,latency=0.02")
    assert faults == Faults(quota_rps=500, quota_burst=25, latency=0.02)
    assert Faults.parse("quota_rps=1000,quota_burst=none").quota_capacity == 100
    with pytest.raises(ValueError, match="quota_burst"):
        Faults.parse("quota_rps=10,quota_burst=0")


@pytest.mark.parametrize(
    "faults",
    [
        Faults(),
        Faults(quota_rps=500),
        Faults(quota_rps=1000, quota_burst=100),
        Faults(quota_rps=0.5, quota_burst=1.5, latency=0.02, rate_limit=0.05, retry_after=0),
        Faults(
            server_error=0.03,
            bad_gateway_html=0.02,
            drop_after_commit=0.02,
            unavailable=0.015,
            unavailable_retry_after=False,
            server_error_body="json",
            endpoints={"addProfileToContact"},
            hang_seconds=0.1,
            jitter=1 / 3,
        ),
    ],
)
def test_spec_round_trip(faults: Faults) -> None:
    assert Faults.parse(faults.to_spec()) == faults


# ----------------------------------------------------------------------- end to end


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(
    http: aiohttp.ClientSession, sb: ZyntroSandbox, endpoint: str, body: dict[str, Any]
) -> tuple[int, dict[str, str], Any]:
    async with http.post(sb.base_url + endpoint, json=body) as resp:
        return resp.status, dict(resp.headers), await resp.json(content_type=None)


async def test_quota_refuses_over_the_http_api_with_gateway_headers(
    http: aiohttp.ClientSession,
) -> None:
    # 0.01 tokens/s: nothing comes back during the test, so every count is exact.
    async with ZyntroSandbox(faults=Faults(quota_rps=0.01, quota_burst=3)) as sb:
        contact_id = sb.add_contact()

        def add(n: int, creds: dict[str, str] = sb.credentials) -> dict[str, Any]:
            return {
                **creds,
                "contact_id": contact_id,
                "profile_source": "test",
                "profile_payload": {"n": n},
            }

        sb.script("addProfileToContact", Fault.SERVER_ERROR)  # faults still apply
        status, headers, _ = await post(http, sb, "addProfileToContact", add(0))
        assert (status, headers["X-RateLimit-Remaining"]) == (500, "2")
        status, headers, envelope = await post(http, sb, "addProfileToContact", add(1))
        assert (status, envelope["status"]) == (200, "success")
        assert headers["X-RateLimit-Limit"] == "1"
        assert (headers["X-RateLimit-Remaining"], headers["X-RateLimit-Reset"]) == ("1", "0")
        status, headers, _ = await post(http, sb, "addProfileToContact", add(2))
        assert (status, headers["X-RateLimit-Remaining"]) == (200, "0")
        assert 90 <= int(headers["X-RateLimit-Reset"]) <= 100

        status, headers, envelope = await post(http, sb, "addProfileToContact", add(3))
        assert status == 429
        assert envelope == {"data": ["Too many requests"], "status": "error"}
        assert headers["Retry-After"] == headers["X-RateLimit-Reset"]
        assert 90 <= int(headers["Retry-After"]) <= 100
        assert headers["X-RateLimit-Remaining"] == "0"
        fetch = {**sb.credentials, "contact_id": contact_id}
        assert (await post(http, sb, "fetchContact", fetch))[0] == 429  # one bucket per key
        # The refused add stored nothing.
        assert [p["profile_payload"] for p in sb.profiles(contact_id)] == [{"n": 1}, {"n": 2}]

        other = sb.add_credentials()  # another key, its own full bucket
        status, headers, _ = await post(http, sb, "addProfileToContact", add(4, other))
        assert (status, headers["X-RateLimit-Remaining"]) == (200, "2")

        assert sb.stats.add_profile_to_contact.faults == {Fault.SERVER_ERROR: 1, Fault.QUOTA: 1}
        assert sb.stats.fetch_contact.faults == {Fault.QUOTA: 1}
        assert sb.stats.requests == 6

        sb.faults = Faults()  # quota off: no headers, nothing refused
        status, headers, _ = await post(http, sb, "addProfileToContact", add(5))
        assert status == 200
        assert "X-RateLimit-Limit" not in headers
