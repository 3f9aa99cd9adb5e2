"""A line whose key, source or contact id is not valid UTF-8 (a lone surrogate, which JSON
can carry as ``\\ud800``) fails alone, with and without a journal or a results file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import env_for, read_results, run_cli
from zyntro_async.testing import ZyntroSandbox


@pytest.mark.parametrize("flags", [(), ("--journal", "run.db"), ("--output", "out.jsonl")])
async def test_a_lone_surrogate_fails_its_own_line(
    sandbox: ZyntroSandbox, tmp_path: Path, flags: tuple[str, ...]
) -> None:
    ids = sandbox.seed(10)
    lines = []
    for n, cid in enumerate(ids):
        key = cid + ("\\ud800" if n == 4 else "")
        source = "S\\udfff" if n == 6 else "S"
        lines.append(
            f'{{"contact_id": "{cid}", "payload": {{"n": {n}}}, "key": "{key}", '
            f'"source": "{source}"}}\n'
        )
    source_file = tmp_path / "in.jsonl"
    source_file.write_text("".join(lines))
    args = [str(tmp_path / f) if f.endswith((".db", ".jsonl")) else f for f in flags]
    code, out, err = await run_cli(
        "enrich", str(source_file), "--source", "S", *args, env=env_for(sandbox)
    )
    assert code == 1, err
    assert "Traceback" not in err
    assert "line 5: addProfileToContact: key is not valid UTF-8" in err
    assert "line 7: addProfileToContact: source is not valid UTF-8" in err
    assert "failed      2" in out
    stored = {cid: len(sandbox.profiles(cid)) for cid in ids}
    assert stored == {cid: 0 if n in (4, 6) else 1 for n, cid in enumerate(ids)}
    if "--output" in flags:
        assert len(read_results(tmp_path / "out.jsonl")) == 10
