"""The real `zyntro-async` console script, in a subprocess, against a sandbox."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from zyntro_async.testing import Faults, ZyntroSandbox

SCRIPT = Path(sys.executable).with_name("zyntro-async")


@pytest.fixture
async def sandbox() -> AsyncIterator[ZyntroSandbox]:
    async with ZyntroSandbox(seed=99) as sb:
        yield sb


def env_for(sb: ZyntroSandbox) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZYNTRO_")}
    env.update(
        ZYNTRO_BASE_URL=sb.base_url,
        ZYNTRO_API_KEY=sb.credentials["api_key"],
        ZYNTRO_DEVELOPER_SECRET=sb.credentials["developer_secret"],
        ZYNTRO_ORG_ID=sb.credentials["org_id"],
        ZYNTRO_MEMBER_ID=sb.credentials["member_id"],
    )
    return env


async def run_cli(
    *args: str, env: dict[str, str], stdin: bytes | None = None, timeout: float = 60
) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        str(SCRIPT),
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def read_results(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def test_fetch_pretty_and_json(sandbox: ZyntroSandbox) -> None:
    cid = sandbox.add_contact(first_name="Jane", last_name="Smith", tags=["vip"])
    code, out, _ = await run_cli("fetch", cid, "--notes", env=env_for(sandbox))
    assert code == 0
    assert "Jane" in out
    assert "vip" in out
    code, out, _ = await run_cli("fetch", cid, "--json", env=env_for(sandbox))
    assert code == 0
    assert json.loads(out)["contact"]["id"] == cid


async def test_add_profile(sandbox: ZyntroSandbox, tmp_path: Path) -> None:
    cid = sandbox.add_contact(first_name="Jane")
    code, out, _ = await run_cli(
        "add-profile", cid, "--source", "CLI", "--payload", '{"title": "VP"}', env=env_for(sandbox)
    )
    assert code == 0
    assert "added profile #" in out
    payload_file = tmp_path / "p.json"
    payload_file.write_text('{"title": "CTO"}')
    code, out, _ = await run_cli(
        "add-profile",
        cid,
        "--source",
        "CLI",
        "--payload-file",
        str(payload_file),
        "--json",
        env=env_for(sandbox),
    )
    assert code == 0
    assert json.loads(out)["payload"] == {"title": "CTO"}
    assert [p["profile_payload"]["title"] for p in sandbox.profiles(cid)] == ["VP", "CTO"]


async def test_errors_exit_codes_and_no_secret_in_output(sandbox: ZyntroSandbox) -> None:
    env = env_for(sandbox)
    code, _, err = await run_cli("fetch", "00000000-0000-4000-8000-000000000000", env=env)
    assert code == 1
    assert "NOT_FOUND" in err
    del env["ZYNTRO_API_KEY"]
    code, out, err = await run_cli("fetch", "x", env=env)
    assert code == 2
    assert "ZYNTRO_API_KEY" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = await run_cli("add-profile", "x", "--source", "s", "--payload", "{", env=env)
    assert code == 2
    code, _, _ = await run_cli("--api-key", "nope", "fetch", "x", env=env)
    assert code == 2  # there is no such flag: secrets are never taken from argv
    secrets = (sandbox.credentials["api_key"], sandbox.credentials["developer_secret"])
    assert not any(s in out + err for s in secrets)


async def test_env_file(sandbox: ZyntroSandbox, tmp_path: Path) -> None:
    env = env_for(sandbox)
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# credentials\n"
        + "".join(f"export {k}='{env.pop(k)}'\n" for k in list(env) if k.startswith("ZYNTRO_"))
    )
    cid = sandbox.add_contact(first_name="Env")
    code, out, err = await run_cli("--env-file", str(dotenv), "fetch", cid, env=env)
    assert code == 0, err
    assert "Env" in out


async def test_enrich_jsonl_with_bad_lines(sandbox: ZyntroSandbox, tmp_path: Path) -> None:
    ids = sandbox.seed(30)
    lines = [json.dumps({"contact_id": cid, "payload": {"n": n}}) for n, cid in enumerate(ids)]
    lines.insert(3, "{broken json")
    lines.insert(7, json.dumps({"payload": {"n": -1}}))
    lines.insert(10, json.dumps({"contact_id": ids[0], "payload": 5}))
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n")
    results = tmp_path / "out.jsonl"
    code, out, err = await run_cli(
        "enrich", str(source), "--source", "JSONL", "--output", str(results), env=env_for(sandbox)
    )
    assert code == 1  # some lines failed
    assert "in.jsonl:4:" in err
    assert "in.jsonl:8:" in err
    assert "in.jsonl:11:" in err
    assert "progress:" in err  # not a terminal: plain progress lines
    records = read_results(results)
    assert len(records) == 33
    bad = sorted(r["line"] for r in records if not r["ok"])
    assert bad == [4, 8, 11]
    assert all("payload" not in r for r in records)
    for cid in ids:
        assert len(sandbox.profiles(cid)) == 1
    assert "succeeded   30" in out


async def test_enrich_csv_from_every_column(sandbox: ZyntroSandbox, tmp_path: Path) -> None:
    ids = sandbox.seed(5)
    rows = ["contact_id,job_title,company"] + [f"{cid},VP {n},Acme" for n, cid in enumerate(ids)]
    rows.insert(2, ",orphan,row")
    source = tmp_path / "in.csv"
    source.write_text("\n".join(rows) + "\n")
    code, _out, err = await run_cli("enrich", str(source), "--source", "CSV", env=env_for(sandbox))
    assert code == 1
    assert "in.csv:3:" in err
    assert sandbox.profiles(ids[0])[0]["profile_payload"] == {
        "job_title": "VP 0",
        "company": "Acme",
    }
    code, _, err = await run_cli("enrich", str(source), env=env_for(sandbox))
    assert code == 2
    assert "--source" in err


async def test_enrich_reads_stdin(sandbox: ZyntroSandbox) -> None:
    (cid,) = sandbox.seed(1)
    line = json.dumps({"contact_id": cid, "payload": {"a": 1}, "source": "stdin"}) + "\n"
    code, _, err = await run_cli("enrich", "-", env=env_for(sandbox), stdin=line.encode())
    assert code == 0, err
    assert len(sandbox.profiles(cid)) == 1


async def test_sigkill_mid_run_then_resume_adds_each_line_once(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    ids = sandbox.seed(600)
    sandbox.faults = Faults(latency=0.005, drop_after_commit=0.02)
    source = tmp_path / "in.jsonl"
    source.write_text(
        "".join(
            json.dumps({"contact_id": c, "payload": {"n": n}}) + "\n" for n, c in enumerate(ids)
        )
        + "not json\n"
    )
    journal, results = tmp_path / "run.db", tmp_path / "out.jsonl"
    args = ["enrich", str(source), "--source", "Kill", "--journal", str(journal)]
    proc = await asyncio.create_subprocess_exec(
        str(SCRIPT),
        *args,
        "--concurrency",
        "16",
        "--output",
        str(results),
        env=env_for(sandbox),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    for _ in range(600):  # wait until it is well under way
        await asyncio.sleep(0.02)
        if results.exists() and len(results.read_text().splitlines()) >= 150:
            break
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    done_before = len(read_results(results))
    assert 150 <= done_before < 601
    code, _out, err = await run_cli(
        *args, "--output", str(tmp_path / "resumed.jsonl"), env=env_for(sandbox)
    )
    assert code == 1, err  # the "not json" line
    for cid in ids:
        held = sandbox.profiles(cid)
        assert len(held) == 1, cid
    resumed = read_results(tmp_path / "resumed.jsonl")
    assert sum(1 for r in resumed if r.get("skipped")) >= 100


async def test_sandbox_command_prints_working_exports() -> None:
    proc = await asyncio.create_subprocess_exec(
        str(SCRIPT),
        "sandbox",
        "--contacts",
        "3",
        "--seed",
        "5",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        exports: dict[str, str] = {}
        while len(exports) < 5:
            line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
            assert line, "the sandbox exited early"
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").strip().partition("=")
                exports[name] = value.strip("'")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZYNTRO_")}
        env.update(exports)
        from zyntro_async.testing import seeded_contact_ids

        (first, *_) = seeded_contact_ids(5, 3)
        code, out, err = await run_cli("fetch", first, "--json", env=env)
        assert code == 0, err
        assert json.loads(out)["contact"]["id"] == first
    finally:
        proc.terminate()
        await proc.wait()


async def test_demo_is_the_main_job() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZYNTRO_")}
    code, out, err = await run_cli("demo", "--contacts", "300", "--concurrency", "32", env=env)
    assert code == 0, err
    assert "succeeded   300" in out
    assert "check       OK: 300 contacts hold exactly one new profile" in out


async def test_a_journal_in_use_is_a_one_line_error(sandbox: ZyntroSandbox, tmp_path: Path) -> None:
    from zyntro_async._journal import Journal

    (cid,) = sandbox.seed(1)
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"contact_id": cid, "payload": {"a": 1}, "source": "S"}) + "\n")
    async with await Journal.open(tmp_path / "busy.db"):  # another run holds it
        code, _, err = await run_cli(
            "enrich", str(source), "--journal", str(tmp_path / "busy.db"), env=env_for(sandbox)
        )
    assert code == 2
    assert "in use by another run" in err
    assert "Traceback" not in err
    assert sandbox.profiles(cid) == []
