"""What went wrong, said plainly: failures summarised by error code (with or without
--output), and a run that stops by itself when nothing can succeed, saying why and how to
resume."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.cli.helpers import X, env_for, jsonl, run_cli
from zyntro_async.testing import ZyntroSandbox

ADD = "addProfileToContact"
MISSING = "00000000-0000-4000-8000-0000000000{:02d}"


async def test_failures_are_summarised_by_code_without_output(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    ids = sandbox.seed(20)
    source = jsonl(tmp_path / "in.jsonl", [*ids, *(MISSING.format(n) for n in range(3))])
    with source.open("a") as f:
        f.write("{broken\n")
        f.write(json.dumps({"contact_id": ids[0], "payload": {}}) + "\n")  # refused locally
    code, out, err = await run_cli("enrich", str(source), "--source", "S", env=env_for(sandbox))
    assert code == 1
    assert "Traceback" not in err
    assert "failures by error code:" in err
    assert re.search(rf"NOT_FOUND {X} 3, e\.g\. line 2[123]: addProfileToContact", err), err
    assert f"invalid input {X} 1, e.g. line 24: broken JSON" in err
    assert f"MISSING_FIELDS {X} 1, e.g. line 25: " in err
    assert "stopped" not in err
    assert "failed      4" in out
    assert "invalid     1" in out


@pytest.mark.slow
async def test_wrong_credentials_stop_the_run_then_the_journal_resumes_it(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    ids = sandbox.seed(300)
    source, journal = jsonl(tmp_path / "in.jsonl", ids), tmp_path / "run.db"
    args = ("enrich", str(source), "--source", "S", "--journal", str(journal))
    code, _, err = await run_cli(*args, env=env_for(sandbox, ZYNTRO_API_KEY="zk_test_wrong"))
    assert code == 3, err
    assert "Traceback" not in err
    assert "zyntro-async: stopped: INVALID_API_KEY" in err
    assert "check ZYNTRO_API_KEY and ZYNTRO_DEVELOPER_SECRET" in err
    assert "then run the same command to resume from the journal" in err
    assert f"INVALID_API_KEY {X} " in err
    sent = sandbox.stats[ADD].requests
    assert sent < 100  # it stopped, far short of 300
    # Fixed: the same command resumes, and the items that hit the wrong key are retried
    # (that failure was not theirs), without --retry-failed.
    code, _, err = await run_cli(*args, env=env_for(sandbox))
    assert code == 0, err
    assert all(len(sandbox.profiles(cid)) == 1 for cid in ids)


async def test_a_wrong_base_path_stops_the_run_naming_the_url(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    source = jsonl(tmp_path / "in.jsonl", sandbox.seed(300))
    wrong = sandbox.base_url.replace("/apis/v2/", "/apis/v9/")
    code, _, err = await run_cli(
        "enrich", str(source), "--source", "S", env=env_for(sandbox, ZYNTRO_BASE_URL=wrong)
    )
    assert code == 3, err
    assert "Traceback" not in err
    assert "zyntro-async: stopped: " in err
    assert f"{wrong}{ADD} answered HTTP 404: is ZYNTRO_BASE_URL right?" in err
    assert "nothing was added: fix that and run the same command again" in err


async def test_the_same_error_for_the_first_items_stops_the_run(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    source = jsonl(tmp_path / "in.jsonl", [MISSING.format(n % 100) for n in range(300)])
    code, _, err = await run_cli("enrich", str(source), "--source", "S", env=env_for(sandbox))
    assert code == 3, err
    assert "zyntro-async: stopped: NOT_FOUND" in err
    assert sandbox.stats[ADD].requests < 150
