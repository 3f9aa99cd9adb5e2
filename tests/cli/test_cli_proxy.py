"""The command line behind a proxy: HTTPS_PROXY/HTTP_PROXY carry its requests (a real
tinyproxy, to a sandbox on 127.0.0.1 over https through CONNECT and over http), NO_PROXY
bypasses it, and the proxy's password shows in no output, even with -vv."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.cli.helpers import env_for, jsonl, run_cli
from tests.tinyproxy import Tinyproxy, tinyproxy, without_proxy_variables
from zyntro_async.testing import ZyntroSandbox

__all__ = ["tinyproxy"]  # the fixture, imported for this module's tests

TLS = Path(__file__).resolve().parent.parent / "fixtures" / "tls"


@pytest.fixture(params=["https", "http"])
async def sandbox(request: pytest.FixtureRequest) -> AsyncIterator[ZyntroSandbox]:
    tls = None
    if request.param == "https":
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(TLS / "self-signed.pem", TLS / "self-signed-key.pem")
    async with ZyntroSandbox(seed=7, ssl_context=tls) as sb:
        yield sb


async def test_enrich_goes_through_the_proxy_and_no_proxy_bypasses_it(
    sandbox: ZyntroSandbox, tinyproxy: Tinyproxy, tmp_path: Path
) -> None:
    ids = sandbox.seed(20)
    https = sandbox.base_url.startswith("https:")
    env = without_proxy_variables(env_for(sandbox))
    env["SSL_CERT_FILE"] = str(TLS / "self-signed.pem")  # the CLI trusts the test CA
    env["HTTPS_PROXY" if https else "http_proxy"] = tinyproxy.url
    source = jsonl(tmp_path / "in.jsonl", ids[:10])
    code, out, err = await run_cli("enrich", str(source), "--source", "S", "-vv", env=env)
    assert code == 0, err
    assert "succeeded   10" in out
    plain, tunnels = tinyproxy.carried(sandbox.port)
    if https:
        assert tunnels >= 1, tinyproxy.requests()
    else:
        assert plain == 10, tinyproxy.requests()
    assert tinyproxy.password not in out + err
    assert f"http://***@127.0.0.1:{tinyproxy.port}" in err  # -vv says which proxy
    carried = len(tinyproxy.requests())

    code, out, err = await run_cli(
        "fetch", ids[0], "--json", "--profile", env={**env, "NO_PROXY": "127.0.0.1"}
    )
    assert code == 0, err
    assert len(json.loads(out)["profiles"]) == 1
    assert len(tinyproxy.requests()) == carried  # bypassed
    assert all(len(sandbox.profiles(cid)) == 1 for cid in ids[:10])


async def test_an_unreachable_proxy_is_named_in_the_error(
    sandbox: ZyntroSandbox, tinyproxy: Tinyproxy
) -> None:
    (cid,) = sandbox.seed(1)
    tinyproxy.stop()
    env = without_proxy_variables(env_for(sandbox))
    env["SSL_CERT_FILE"] = str(TLS / "self-signed.pem")
    env["ALL_PROXY"] = tinyproxy.url
    code, _, err = await run_cli("fetch", cid, env=env)
    assert code != 0
    assert "cannot connect to the proxy" in err, err
    assert "check HTTPS_PROXY / HTTP_PROXY, or list the API host in NO_PROXY" in err
    assert tinyproxy.password not in err
    assert "Traceback" not in err
    assert sandbox.stats.fetch_contact.requests == 0
