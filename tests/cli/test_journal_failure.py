"""The journal fails mid-run (a real full disk): the command prints its summary and exits
4, "items may have been sent", never 2 ("found before anything was sent")."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.cli.helpers import env_for, jsonl, run_cli
from tests.helpers import small_disk
from zyntro_async.testing import ZyntroSandbox

ADD = "addProfileToContact"


async def test_a_full_journal_disk_exits_4_with_the_summary_and_resumes(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    ids = sandbox.seed(400)
    # Long keys: the journal's rows fill the 256 KiB disk within the run.
    source = jsonl(tmp_path / "in.jsonl", ids)
    lines = source.read_text().splitlines()
    source.write_text(
        "".join(
            line[:-1] + f', "key": "{cid}-{"k" * 1500}"}}\n'
            for line, cid in zip(lines, ids, strict=True)
        )
    )
    with small_disk(tmp_path / "small") as disk:
        journal = disk / "run.db"
        args = (
            "enrich",
            str(source),
            "--source",
            "S",
            "--journal",
            str(journal),
            "--concurrency",
            "8",
        )
        code, out, err = await run_cli(*args, env=env_for(sandbox))
        assert code == 4, err
        assert "Traceback" not in err
        assert "succeeded" in out  # the summary
        assert "items may have been sent" in err
        assert 0 < sandbox.stats[ADD].successes < len(ids)
        moved = tmp_path / "moved.db"
        for suffix in ("", "-wal"):
            if Path(f"{journal}{suffix}").exists():
                shutil.copyfile(f"{journal}{suffix}", f"{moved}{suffix}")

    args = ("enrich", str(source), "--source", "S", "--journal", str(moved))
    code, out, err = await run_cli(*args, env=env_for(sandbox))
    assert code == 0, err
    assert {cid: len(sandbox.profiles(cid)) for cid in ids} == dict.fromkeys(ids, 1)
