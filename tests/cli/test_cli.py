"""The real command line, in a subprocess, against a sandbox: the everyday paths."""

from __future__ import annotations

import asyncio
import json
import re
import signal
from pathlib import Path

import pytest

from tests.cli.helpers import CLI, X, clean_env, env_for, read_results, run_cli
from zyntro_async.testing import Faults, ZyntroSandbox


@pytest.mark.slow
async def test_fetch_pretty_and_json(sandbox: ZyntroSandbox) -> None:
    cid = sandbox.add_contact(first_name="Jane", last_name="Smith", tags=["vip"])
    pretty, as_json = await asyncio.gather(
        run_cli("fetch", cid, "--notes", env=env_for(sandbox)),
        run_cli("fetch", cid, "--json", env=env_for(sandbox)),
    )
    assert pretty.code == as_json.code == 0
    assert "Jane" in pretty.out
    assert "vip" in pretty.out
    assert json.loads(as_json.out)["contact"]["id"] == cid


@pytest.mark.slow
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
    code, out, err = await run_cli(
        "add-profile", cid, "--source", "CLI", "--payload-file", "-", "--json",
        env=env_for(sandbox), stdin=b'{"title": "CEO"}',
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["payload"] == {"title": "CEO"}
    titles = [p["profile_payload"]["title"] for p in sandbox.profiles(cid)]
    assert titles == ["VP", "CTO", "CEO"]


@pytest.mark.slow
async def test_env_file_on_either_side_of_the_command(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    env = env_for(sandbox)
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# credentials\n"
        + "".join(f"export {k}='{env.pop(k)}'\n" for k in list(env) if k.startswith("ZYNTRO_"))
    )
    cid = sandbox.add_contact(first_name="Env")
    before = await run_cli("--env-file", str(dotenv), "fetch", cid, env=env)
    after = await run_cli("fetch", cid, "--env-file", str(dotenv), "-v", env=env)
    for ran in (before, after):
        assert ran.code == 0, ran.err
        assert "Env" in ran.out


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
    assert code == 1  # some lines were invalid
    assert "in.jsonl:4: invalid input: broken JSON" in err
    assert "in.jsonl:8: invalid input: no contact_id" in err
    assert "in.jsonl:11: invalid input: no payload" in err
    assert f"invalid input {X} 3, e.g. line 4: broken JSON" in err
    assert "skipped" not in err.replace("0 skipped", "")  # skipped = done in an earlier run
    assert "progress: 33/33 done" in err  # not a terminal: plain lines, ending at the total
    records = read_results(results)
    assert len(records) == 33
    bad = sorted(r["line"] for r in records if not r["ok"])
    assert bad == [4, 8, 11]
    assert all("payload" not in r for r in records)
    for cid in ids:
        assert len(sandbox.profiles(cid)) == 1
    assert "succeeded   30" in out
    assert "invalid     3" in out
    assert "skipped     0" in out


async def test_enrich_csv_from_every_column(sandbox: ZyntroSandbox, tmp_path: Path) -> None:
    ids = sandbox.seed(5)
    rows = ["contact_id,job_title,company"] + [f"{cid},VP {n},Acme" for n, cid in enumerate(ids)]
    rows.insert(2, ",orphan,row")
    rows.insert(4, f'{ids[4]},"Chief\nTechnology\nOfficer",Beta')  # a cell over three lines
    source = tmp_path / "in.csv"
    source.write_text("\n".join(rows) + "\n")
    code, _out, err = await run_cli("enrich", str(source), "--source", "CSV", env=env_for(sandbox))
    assert code == 1
    assert "in.csv:3: invalid input: no contact_id" in err
    assert "progress: 7/7 done" in err  # rows, not physical lines; the header is no row
    assert sandbox.profiles(ids[0])[0]["profile_payload"] == {
        "job_title": "VP 0",
        "company": "Acme",
    }
    assert sorted(p["profile_payload"]["job_title"] for p in sandbox.profiles(ids[4])) == [
        "Chief\nTechnology\nOfficer",
        "VP 4",
    ]


async def test_enrich_reads_stdin(sandbox: ZyntroSandbox) -> None:
    (cid,) = sandbox.seed(1)
    line = json.dumps({"contact_id": cid, "payload": {"a": 1}, "source": "stdin"}) + "\n"
    code, _, err = await run_cli("enrich", "-", env=env_for(sandbox), stdin=line.encode())
    assert code == 0, err
    assert len(sandbox.profiles(cid)) == 1


@pytest.mark.slow
async def test_sigkill_mid_run_then_resume_adds_each_line_once(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    ids = sandbox.seed(400)
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
        *CLI,
        *args,
        "--concurrency",
        "16",
        "--output",
        str(results),
        env=env_for(sandbox),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    # Killed once the server has stored 100 profiles: well under way, far from done.
    await sandbox.wait_until(lambda s: s.add_profile_to_contact.successes >= 100)
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    stored_before = sandbox.stats.add_profile_to_contact.successes
    code, _out, err = await run_cli(
        *args, "--output", str(tmp_path / "resumed.jsonl"), env=env_for(sandbox)
    )
    assert code == 1, err  # the "not json" line
    for cid in ids:
        held = sandbox.profiles(cid)
        assert len(held) == 1, cid
    resumed = read_results(tmp_path / "resumed.jsonl")
    skipped = sum(1 for r in resumed if r.get("skipped"))
    # The journal took over what the first run finished; only stored items can be skipped.
    assert 0 < skipped <= stored_before


async def test_demo_is_the_main_job() -> None:
    code, out, err = await run_cli(
        "demo", "--contacts", "100", "--concurrency", "32", env=clean_env()
    )
    assert code == 0, err
    assert "succeeded   100" in out
    assert "check       OK: 100 contacts hold exactly one new profile" in out


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
    assert "progress:" not in err  # the error alone: no "0 done" line before it
    assert sandbox.profiles(cid) == []


async def test_very_verbose_request_lines_say_how_long_each_took(sandbox: ZyntroSandbox) -> None:
    cid = sandbox.add_contact(first_name="Jane")
    code, _, err = await run_cli("-vv", "fetch", cid, env=env_for(sandbox))
    assert code == 0, err
    assert re.search(r" DEBUG fetchContact -> HTTP 200 in \d+ ms$", err, re.MULTILINE), err


#: Per command, the defaults its --help must show.
DEFAULTS = {
    "fetch": {},
    "add-profile": {},
    "enrich": {"--concurrency": "32"},
    "sandbox": {"--host": "127.0.0.1", "--port": "0", "--contacts": "100", "--seed": "0"},
    "demo": {"--contacts": "2000", "--concurrency": "64", "--seed": "0"},
}


@pytest.mark.parametrize("command", sorted(DEFAULTS))
async def test_every_flag_has_help_and_its_default(command: str) -> None:
    code, out, err = await run_cli(command, "--help", env=clean_env())
    assert code == 0, err
    entries: list[list[str]] = []  # each argument: its lines of --help
    section = False
    for line in out.splitlines():
        if line.endswith(":") and not line.startswith(" "):
            section = line in ("options:", "positional arguments:")
        elif section and re.match(r"  \S", line):
            entries.append([line])
        elif section and entries and line.startswith("   "):
            entries[-1].append(line)
    assert len(entries) >= 4, out
    for entry in entries:
        words = " ".join(entry).split("  ", 2)  # invocation, then (after 2+ spaces) its help
        assert len(words) == 3 or len(entry) > 1, f"{command}: no help for {entry[0].strip()}"
    shown = " ".join(out.split())
    for flag, default in DEFAULTS[command].items():
        assert re.search(rf"{flag} \S+ [^(]*\(default: {re.escape(default)}\)", shown), flag
