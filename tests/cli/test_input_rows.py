"""No input row is lost without a word: a CSV row of the wrong width, or a quote left open
that takes in the rows after it, is invalid input naming its lines; a file none of whose
lines can be sent is a usage error (exit 2) with a hint, and nothing is sent."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.helpers import env_for, read_results, run_cli
from zyntro_async.testing import ZyntroSandbox


async def test_a_quote_left_open_is_invalid_input_naming_the_lines_it_took(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    ids = sandbox.seed(6)
    source, results = tmp_path / "in.csv", tmp_path / "out.jsonl"
    source.write_text(
        "contact_id,title\n"
        f'{ids[0]},"Chief\nTechnology Officer"\n'  # a quoted cell over two lines: fine
        f"{ids[1]},VP\n"
        f'{ids[2]},"unterminated,VP\n'  # line 5: the quote is never closed
        f"{ids[3]},CTO\n"
        f"{ids[4]},CEO\n"
    )
    code, out, err = await run_cli(
        "enrich", str(source), "--source", "S", "--output", str(results), env=env_for(sandbox)
    )
    assert code == 1, err
    assert "in.csv:5: invalid input: a quote opened on line 5 is never closed" in err
    assert "lines 5-7" in err
    assert "succeeded   2" in out
    assert "invalid     1" in out
    assert [p["profile_payload"] for p in sandbox.profiles(ids[0])] == [
        {"title": "Chief\nTechnology Officer"}
    ]
    assert len(sandbox.profiles(ids[1])) == 1
    for cid in ids[2:]:
        assert sandbox.profiles(cid) == []  # nothing merged into a neighbour's cell
    bad = [r for r in read_results(results) if not r["ok"]]
    assert [(r["line"], r["last_line"], r["error"]["code"]) for r in bad] == [
        (5, 7, "INVALID_INPUT")
    ]


async def test_a_closing_quote_further_down_does_not_merge_the_rows_between(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    ids = sandbox.seed(4)
    source = tmp_path / "in.csv"
    source.write_text(
        "contact_id,title,company\n"
        f'{ids[0]},"VP,Acme\n'  # line 2 opens a quote ...
        f"{ids[1]},CTO,Beta\n"  # ... that takes in this row ...
        f'{ids[2]},CEO",Gamma\n'  # ... and closes here: one record of three cells
        f"{ids[3]},Founder,Delta\n"
    )
    code, out, err = await run_cli("enrich", str(source), "--source", "S", env=env_for(sandbox))
    assert code == 1, err
    assert "in.csv:2: invalid input: a quoted cell opened on line 2 runs over line 3" in err
    assert "(lines 2-4)" in err
    assert "succeeded   1" in out
    assert [len(sandbox.profiles(cid)) for cid in ids] == [0, 0, 0, 1]


async def test_rows_with_more_or_fewer_cells_than_the_header_are_invalid(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    ids = sandbox.seed(3)
    source = tmp_path / "in.csv"
    source.write_text(
        f"contact_id,title,company\n{ids[0]},VP\n{ids[1]},CTO,Acme,extra\n{ids[2]},CEO,Beta\n"
    )
    code, _out, err = await run_cli("enrich", str(source), "--source", "S", env=env_for(sandbox))
    assert code == 1, err
    assert "in.csv:2: invalid input: 2 cells, fewer than the header's 3 columns" in err
    assert "in.csv:3: invalid input: 4 cells, more than the header's 3 columns" in err
    assert [len(sandbox.profiles(cid)) for cid in ids] == [0, 0, 1]


async def test_a_file_with_no_usable_line_is_a_usage_error_with_a_hint(
    sandbox: ZyntroSandbox, tmp_path: Path
) -> None:
    (cid,) = sandbox.seed(1)
    files = {
        "empty.jsonl": "",
        "blank.csv": "\n\n",
        "ids.csv": f"id,title,company\n{cid},VP,Acme\n",
        "export.txt": f"contact_id,title\n{cid},VP\n",  # CSV read as JSON lines
        "lines.csv": json.dumps({"contact_id": cid, "payload": {"a": 1}}) + "\n",
        "nosource.jsonl": json.dumps({"contact_id": cid, "payload": {"a": 1}}) + "\n",
        "excel.csv": f"contact_id;title\n{cid};VP\n",
        "short.csv": f"contact_id,title,company\n{cid},VP\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    output = tmp_path / "out.jsonl"
    output.write_text("kept\n")
    cases = [
        (["empty.jsonl", "--source", "S"], "empty.jsonl is empty: there is nothing to send"),
        (["blank.csv", "--source", "S"], "blank.csv is empty"),
        (
            ["ids.csv", "--source", "S"],
            "no contact_id column (columns found: 'id', 'title', 'company')",
        ),
        (["export.txt", "--source", "S"], "for a CSV file, use --format csv"),
        (["lines.csv", "--source", "S"], "for a JSON lines file, use --format jsonl"),
        (["nosource.jsonl"], "no line can be sent (line 1: no source"),
        (["excel.csv", "--source", "S"], "looks separated by ; or tabs"),
        (["short.csv", "--source", "S"], "every row needs one cell per header column"),
    ]
    for args, message in cases:
        args[0] = str(tmp_path / args[0])
        code, out, err = await run_cli(
            "enrich", *args, "--output", str(output), env=env_for(sandbox)
        )
        assert code == 2, (args, err)
        assert message in err, err
        assert "Traceback" not in err
        assert out == ""
    assert sandbox.stats.add_profile_to_contact.requests == 0
    assert output.read_text() == "kept\n"  # a usage error leaves an earlier results file be


async def test_stdin_with_no_usable_line_is_a_usage_error(sandbox: ZyntroSandbox) -> None:
    code, _, err = await run_cli(
        "enrich", "-", "--source", "S", env=env_for(sandbox), stdin=b"contact_id,title\nx,VP\n"
    )
    assert code == 2, err
    assert "stdin: no line can be sent (line 1: broken JSON" in err
    assert sandbox.stats.add_profile_to_contact.requests == 0
