"""The sandbox's quota in every shape gateways enforce, as a raw HTTP client sees it.

Each shape's server behaviour is counted over HTTP (a plain aiohttp client, no SDK): what
is admitted, what is refused, with which status, body and headers, how fast a refusal
comes back compared with an admitted answer, and what a refused add leaves behind. The
limiters' arithmetic is also checked sans I/O with a fake clock, where refills and
windows can be stepped exactly.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from zyntro_async.testing import Fault, Faults, ZyntroSandbox
from zyntro_async.testing._quota import FixedWindow, LeakyBucket, SlidingWindow


class FakeClock:
    def __init__(self) -> None:
        self.now = 1024.0

    def __call__(self) -> float:
        return self.now


RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")

# ------------------------------------------------------------------- limiters sans I/O


def test_leaky_bucket_is_nginx_limit_req_nodelay() -> None:
    clock = FakeClock()
    bucket = LeakyBucket(256.0, 30.0, clock=clock)  # rate=256r/s burst=30 nodelay
    assert [bucket.take("k").admitted for _ in range(33)] == [True] * 31 + [False] * 2
    clock.now += 1 / 256  # one request's worth drains: one more fits
    assert [bucket.take("k").admitted for _ in range(2)] == [True, False]
    clock.now += 1.0  # a second drains 256: the whole burst is back, not more
    assert sum(bucket.take("k").admitted for _ in range(40)) == 31


def test_leaky_bucket_without_burst_spaces_requests_by_one_over_rate() -> None:
    clock = FakeClock()
    bucket = LeakyBucket(4.0, 0.0, clock=clock)
    assert bucket.take("k").admitted
    clock.now += 0.125
    refused = bucket.take("k")
    assert not refused.admitted
    assert refused.retry_after == 1  # 0.125 s away, rounded up to a whole second
    clock.now += 0.125
    assert bucket.take("k").admitted
    assert bucket.take("other").admitted  # per key


def test_sliding_window_counts_refused_requests() -> None:
    clock = FakeClock()
    window = SlidingWindow(3, 1.0, clock=clock)
    seen = []
    for _ in range(20):  # knocking at 8/s against 3 per second
        seen.append(window.take("k").admitted)
        clock.now += 0.125
    assert seen == [True] * 3 + [False] * 17  # the knocks keep the window full
    clock.now += 1.0
    assert window.take("k").admitted
    decision = window.take("k")
    assert (decision.admitted, decision.remaining) == (True, 1)


def test_fixed_window_opens_at_first_request_and_refuses_until_its_end() -> None:
    clock = FakeClock()
    window = FixedWindow(3, 60.0, clock=clock)
    decisions = [window.take("k") for _ in range(4)]
    assert [d.remaining for d in decisions[:3]] == [2, 1, 0]
    assert decisions[3].retry_after == 60
    clock.now += 44.5
    late = window.take("k")
    assert (late.admitted, late.retry_after, late.reset) == (False, 16, 16)
    clock.now += 15.5  # the window's end, however many knocked meanwhile
    assert [window.take("k").admitted for _ in range(4)] == [True, True, True, False]


# ------------------------------------------------------------------------- Faults value


def test_quota_shape_options_parse_and_round_trip() -> None:
    faults = Faults.parse(
        "quota_rps=300,quota_burst=0,quota_shape=leaky_bucket,quota_status=503,"
        "quota_body=html,quota_headers=none,quota_instant=yes"
    )
    assert faults == Faults(
        quota_rps=300,
        quota_burst=0,
        quota_shape="leaky_bucket",
        quota_status=503,
        quota_body="html",
        quota_headers="none",
        quota_instant=True,
    )
    assert Faults.parse(faults.to_spec()) == faults
    minute = Faults(quota_rps=100, quota_shape="fixed_window", quota_window=60)
    assert Faults.parse(minute.to_spec()) == minute


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("quota_shape=cone", "quota_shape"),
        ("quota_status=500", "quota_status"),
        ("quota_status=429.5", "quota_status"),
        ("quota_body=xml", "quota_body"),
        ("quota_headers=some", "quota_headers"),
        ("quota_window=0", "quota_window"),
        ("quota_instant=maybe", "quota_instant"),
        ("quota_rps=10,quota_burst=0", "quota_burst"),  # a token bucket needs a token
    ],
)
def test_quota_shape_options_reject_nonsense(spec: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Faults.parse(spec)


# ----------------------------------------------------------------------- over HTTP


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class Answer:
    def __init__(self, status: int, headers: dict[str, str], text: str, done: float) -> None:
        self.status, self.headers, self.text, self.done = status, headers, text, done


def body(sb: ZyntroSandbox, contact_id: str, n: int) -> dict[str, Any]:
    return {
        **sb.credentials,
        "contact_id": contact_id,
        "profile_source": "quota-test",
        "profile_payload": {"n": n},
    }


async def add(http: aiohttp.ClientSession, sb: ZyntroSandbox, contact_id: str, n: int) -> Answer:
    async with http.post(sb.base_url + "addProfileToContact", json=body(sb, contact_id, n)) as r:
        text = await r.text()
        return Answer(r.status, dict(r.headers), text, time.monotonic())


def stored(sb: ZyntroSandbox, contact_id: str) -> list[int]:
    return sorted(p["profile_payload"]["n"] for p in sb.profiles(contact_id))


@pytest.mark.parametrize(("status", "page"), [(429, "json"), (503, "html")])
async def test_leaky_bucket_refuses_at_the_edge_like_nginx(
    http: aiohttp.ClientSession, status: int, page: str
) -> None:
    faults = Faults(
        quota_rps=1,
        quota_burst=3,
        quota_shape="leaky_bucket",
        quota_status=status,
        quota_body=page,
        quota_headers="none",
        quota_instant=True,
        latency=0.5,
    )
    async with ZyntroSandbox(faults=faults) as sb:
        cid = sb.add_contact()
        answers = await asyncio.gather(*(add(http, sb, cid, n) for n in range(10)))
        ok = [a for a in answers if a.status == 200]
        refused = [a for a in answers if a.status != 200]
        assert len(ok) == 4  # burst=3: the first request and three more
        assert {a.status for a in refused} == {status}
        # Refused at once: every refusal was back before the first admitted answer.
        assert max(a.done for a in refused) < min(a.done for a in ok)
        for a in refused:
            assert "Retry-After" not in a.headers
            assert not any(h in a.headers for h in RATE_HEADERS)
            if page == "html":
                assert a.headers["Content-Type"].startswith("text/html")
                assert f"<title>{status} " in a.text
            else:
                assert a.headers["Content-Type"].startswith("application/json")
                assert '"status": "error"' in a.text or '"status":"error"' in a.text
        assert len(stored(sb, cid)) == 4  # refused adds stored nothing
        assert sb.stats.add_profile_to_contact.faults == {Fault.QUOTA: 6}


async def test_a_refusal_waits_out_the_latency_unless_instant(
    http: aiohttp.ClientSession,
) -> None:
    async with ZyntroSandbox(faults=Faults(quota_rps=0.01, quota_burst=1, latency=0.4)) as sb:
        cid = sb.add_contact()
        first, second = await asyncio.gather(add(http, sb, cid, 0), add(http, sb, cid, 1))
        assert sorted((first.status, second.status)) == [200, 429]
        # Both waited the backend's latency: neither is back much before the other.
        assert abs(first.done - second.done) < 0.3


SHAPES = ("token_bucket", "leaky_bucket", "sliding_window", "fixed_window")


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("headers", ["all", "retry_after", "none"])
async def test_every_shape_sends_the_headers_it_is_set_to(
    http: aiohttp.ClientSession, shape: str, headers: str
) -> None:
    # 0.05/s, one request at a time: nothing comes back during the test.
    faults = Faults(
        quota_rps=0.05, quota_burst=1, quota_shape=shape, quota_window=20, quota_headers=headers
    )
    async with ZyntroSandbox(faults=faults) as sb:
        cid = sb.add_contact()
        ok = await add(http, sb, cid, 0)
        if shape == "leaky_bucket":  # burst=1: one request more than the burst
            assert (await add(http, sb, cid, 1)).status == 200
        refused = await add(http, sb, cid, 2)
        assert (ok.status, refused.status) == (200, 429)
        if headers == "all":
            assert all(h in ok.headers for h in RATE_HEADERS)
            assert all(h in refused.headers for h in RATE_HEADERS)
            assert refused.headers["X-RateLimit-Remaining"] == "0"
            assert refused.headers["X-RateLimit-Reset"] == refused.headers["Retry-After"]
        else:
            assert not any(h in ok.headers or h in refused.headers for h in RATE_HEADERS)
        if headers == "none":
            assert "Retry-After" not in refused.headers
        else:
            assert 1 <= int(refused.headers["Retry-After"]) <= 20
        assert "Retry-After" not in ok.headers


@pytest.mark.slow
async def test_sliding_window_keeps_a_knocking_client_refused(
    http: aiohttp.ClientSession,
) -> None:
    faults = Faults(quota_rps=3, quota_shape="sliding_window", quota_window=1.0)
    async with ZyntroSandbox(faults=faults) as sb:
        cid = sb.add_contact()
        answers = []
        for n in range(10):  # 5 per second for 2 s, against 3 per second
            answers.append(await add(http, sb, cid, n))
            await asyncio.sleep(0.2)
        assert [a.status for a in answers] == [200] * 3 + [429] * 7
        assert {a.headers["Retry-After"] for a in answers[3:]} == {"1"}
        await asyncio.sleep(1.05)  # stop knocking: the window empties
        assert (await add(http, sb, cid, 10)).status == 200
        assert stored(sb, cid) == [0, 1, 2, 10]
        assert sb.stats.add_profile_to_contact.faults == {Fault.QUOTA: 7}


@pytest.mark.slow
async def test_fixed_window_per_second_reopens_at_its_end_whatever_knocked(
    http: aiohttp.ClientSession,
) -> None:
    faults = Faults(quota_rps=3, quota_shape="fixed_window", quota_headers="retry_after")
    async with ZyntroSandbox(faults=faults) as sb:
        cid = sb.add_contact()
        opened = time.monotonic()
        first = [await add(http, sb, cid, n) for n in range(5)]
        assert [a.status for a in first] == [200, 200, 200, 429, 429]
        assert [a.headers.get("Retry-After") for a in first] == [None] * 3 + ["1", "1"]
        await asyncio.sleep(0.5)
        assert (await add(http, sb, cid, 5)).status == 429  # a knock mid-window
        await asyncio.sleep(max(0.0, opened + 1.05 - time.monotonic()))
        second = [await add(http, sb, cid, n) for n in range(6, 10)]
        assert [a.status for a in second] == [200, 200, 200, 429]
        assert stored(sb, cid) == [0, 1, 2, 6, 7, 8]


async def test_fixed_window_per_minute_says_come_back_at_the_window_end(
    http: aiohttp.ClientSession,
) -> None:
    faults = Faults(quota_rps=0.05, quota_shape="fixed_window", quota_window=60)  # 3/min
    async with ZyntroSandbox(faults=faults) as sb:
        cid = sb.add_contact()
        answers = [await add(http, sb, cid, n) for n in range(5)]
        assert [a.status for a in answers] == [200, 200, 200, 429, 429]
        assert [a.headers["X-RateLimit-Limit"] for a in answers] == ["3"] * 5
        assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0", "0"]
        for a in answers[3:]:
            assert 59 <= int(a.headers["Retry-After"]) <= 60
        fetch = {**sb.credentials, "contact_id": cid}
        async with http.post(sb.base_url + "fetchContact", json=fetch) as r:
            assert r.status == 429  # one window per key, both endpoints
        assert stored(sb, cid) == [0, 1, 2]
