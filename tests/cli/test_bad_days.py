"""The command line on a bad day: bad flags, values, files, settings and servers each give
one clear line on stderr and the documented exit code, never a Python traceback."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.cli.helpers import clean_env, env_for, jsonl, run_cli
from zyntro_async._cli import main
from zyntro_async.testing import ZyntroSandbox

MISSING = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
async def html_server() -> AsyncIterator[str]:
    """A base URL whose server answers every request with a proxy's HTML page."""

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<html><body>Bad gateway</body></html>", content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/apis/v2/public/crm/"
    await runner.cleanup()


@pytest.mark.slow
async def test_bad_invocations_are_one_line_with_the_documented_exit_code(
    sandbox: ZyntroSandbox, tmp_path: Path, html_server: str
) -> None:
    (cid,) = sandbox.seed(1)
    good = jsonl(tmp_path / "in.jsonl", [cid])
    (tmp_path / "in.csv").write_text(f"contact_id,title\n{cid},VP\n")
    env = env_for(sandbox)
    secrets = (sandbox.credentials["api_key"], sandbox.credentials["developer_secret"])
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    no_such = str(tmp_path / "no" / "such")
    root = sandbox.base_url.split("/apis/")[0]
    cases: list[tuple[tuple[str, ...], dict[str, str], int, str]] = [
        # bad flags and values: usage errors
        ((), env, 2, "required: COMMAND"),
        (("fetch", cid, "--api-key", "k"), env, 2, "unrecognized arguments: --api-key k"),
        (("enrich", str(good), "--rate", "0"), env, 2, "--rate: must be more than 0"),
        (("enrich", str(good), "--rate", "-5"), env, 2, "--rate: must be more than 0"),
        (("sandbox", "--faults", "rate_limt=0.1"), env, 2, "unknown fault option 'rate_limt'"),
        (("demo", "--faults", "rate_limit=2"), env, 2, "invalid faults"),
        (("sandbox", "--contacts", "-5"), env, 2, "--contacts: must be 0 or more"),
        (("sandbox", "--port", str(busy.getsockname()[1])), env, 2, "already in use"),
        (("add-profile", cid, "--source", "S", "--payload", "not json"), env, 2, "not valid"),
        (("add-profile", cid, "--source", "S", "--payload", "{}"), env, 2, "is empty"),
        # bad files
        (("enrich", no_such), env, 2, "cannot read"),
        (("enrich", str(tmp_path / "in.csv")), env, 2, "needs --source"),
        (("enrich", str(good), "--output", no_such), env, 2, "cannot write"),
        (("--env-file", no_such, "fetch", cid), clean_env(), 2, "cannot read --env-file"),
        # bad settings
        (
            ("fetch", cid),
            clean_env(),
            2,
            "missing ZYNTRO_API_KEY, ZYNTRO_DEVELOPER_SECRET, ZYNTRO_ORG_ID, ZYNTRO_MEMBER_ID",
        ),
        (
            ("fetch", cid),
            env | {"ZYNTRO_BASE_URL": "http://crm.example.com/apis/v2/public/crm/"},
            2,
            "use https",
        ),
        # bad servers and wrong credentials
        (("fetch", cid), env | {"ZYNTRO_API_KEY": "zk_wrong"}, 3, "check ZYNTRO_API_KEY"),
        (
            ("fetch", cid),
            env | {"ZYNTRO_BASE_URL": root + "/wrong/path/"},
            3,
            f"{root}/wrong/path/fetchContact answered HTTP 404: is ZYNTRO_BASE_URL right?",
        ),
        (("fetch", MISSING), env, 1, "NOT_FOUND"),
        (
            ("fetch", cid),
            env | {"ZYNTRO_BASE_URL": f"http://127.0.0.1:{closed.getsockname()[1]}/"},
            5,
            "cannot connect",
        ),
        (
            ("fetch", cid),
            env | {"ZYNTRO_BASE_URL": html_server},
            1,
            f"{html_server} did not answer like the Zyntro API: is ZYNTRO_BASE_URL right?",
        ),
    ]
    try:
        ran = await asyncio.gather(*(run_cli(*args, env=e) for args, e, _, _ in cases))
    finally:
        busy.close()
        closed.close()
    for (args, _, code, expected), (got, out, err) in zip(cases, ran, strict=True):
        assert "Traceback" not in err, (args, err)
        assert (got, expected in err) == (code, True), (args, got, err)
        assert len(err.strip().splitlines()) == 1, (args, err)
        assert "allow_insecure_http" not in err, err
        assert "api_key=" not in err, err
        assert not any(s in out + err for s in secrets)


@pytest.mark.slow
async def test_rate_below_one_per_second_works(sandbox: ZyntroSandbox, tmp_path: Path) -> None:
    ids = sandbox.seed(1)
    code, out, err = await run_cli(
        "enrich", str(jsonl(tmp_path / "in.jsonl", ids)), "--source", "S", "--rate", "0.5",
        env=env_for(sandbox),
    )  # fmt: skip
    assert (code, "Traceback" in err) == (0, False), err
    assert "succeeded   1" in out
    assert len(sandbox.profiles(ids[0])) == 1


@pytest.mark.slow
async def test_global_flags_after_the_command(sandbox: ZyntroSandbox, tmp_path: Path) -> None:
    ids = sandbox.seed(2)
    dotenv = tmp_path / "zyntro.env"
    env = env_for(sandbox)
    dotenv.write_text("".join(f"{k}={env.pop(k)}\n" for k in list(env) if k[:7] == "ZYNTRO_"))
    source = jsonl(tmp_path / "in.jsonl", ids)
    code, _, err = await run_cli(
        "enrich", str(source), "--source", "S", "-v", "--env-file", str(dotenv), env=env
    )
    assert code == 0, err
    assert all(len(sandbox.profiles(cid)) == 1 for cid in ids)


@pytest.mark.slow
async def test_an_add_refused_by_the_server_is_not_a_traceback(sandbox: ZyntroSandbox) -> None:
    code, _, err = await run_cli(
        "add-profile", MISSING, "--source", "S", "--payload", json.dumps({"a": 1}),
        env=env_for(sandbox),
    )  # fmt: skip
    assert code == 1
    assert err.startswith("zyntro-async: error: addProfileToContact")
    assert "NOT_FOUND" in err


MORE_BAD_FLAGS = [
    (["enrich", "in.jsonl", "--rate", "fast"], "--rate: not a number"),
    (["enrich", "in.jsonl", "--rate", "inf"], "--rate: not a finite number"),
    (["enrich", "in.jsonl", "--concurrency", "0"], "--concurrency: must be 1 or more"),
    (["enrich", "."], "cannot read ."),
    (["sandbox", "--port", "70000"], "--port: must be a TCP port"),
    (["sandbox", "--ids-file", "/no/such/dir/ids"], "--ids-file"),
    (["add-profile", "c", "--source", "S", "--payload", "5"], "object or array, not int"),
    (["add-profile", "c", "--source", "S", "--payload", "[NaN]"], "NaN is not JSON"),
    (["add-profile", "c", "--source", "0", "--payload", "[1]"], "--source is empty"),
    (
        ["add-profile", "c", "--source", "S", "--payload-file", "/no/such"],
        "cannot read --payload-file /no/such: No such file or directory",
    ),
]


@pytest.mark.parametrize(("argv", "expected"), MORE_BAD_FLAGS)
def test_more_bad_flags_in_process(
    argv: list[str],
    expected: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("API_KEY", "DEVELOPER_SECRET", "ORG_ID", "MEMBER_ID"):
        monkeypatch.setenv(f"ZYNTRO_{name}", "x")
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own exit
        code = exc.code  # type: ignore[assignment]
    err = capsys.readouterr().err
    assert code == 2
    assert expected in err
    assert len(err.strip().splitlines()) == 1


async def test_a_server_whose_certificate_is_not_trusted_is_named_with_the_reason() -> None:
    # The sandbox over https with a self-signed certificate the machine does not trust.
    tls = Path(__file__).resolve().parent.parent / "fixtures" / "tls"
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls / "self-signed.pem", tls / "self-signed-key.pem")
    async with ZyntroSandbox(seed=5, ssl_context=context) as sb:
        cid = sb.seed(1)[0]
        code, _, err = await run_cli("fetch", cid, env=env_for(sb))
        sent = sb.stats.requests
    assert code == 5, err
    assert "certificate verify failed" in err, err
    assert "Client" not in err, err  # OpenSSL's reason, not aiohttp's class name
    assert "Traceback" not in err, err
    assert sent == 0
