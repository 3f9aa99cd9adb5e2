"""Reading enrich input files: every bad line is a numbered problem, never an exception."""

from __future__ import annotations

import io

from zyntro_async._inputs import InputLine, InputProblem, read_csv, read_jsonl


def test_jsonl_lines_and_problems() -> None:
    text = "\n".join(
        [
            '{"contact_id": "c1", "payload": {"a": 1}, "source": "S"}',
            "",
            "{not json",
            '{"payload": {"a": 1}}',
            '{"contact_id": "c2", "payload": "text"}',
            '{"contact_id": "c3", "payload": [1, 2]}',
            '["a list"]',
            '{"contact_id": "c4", "payload": {"b": 2}, "key": 17}',
        ]
    )
    rows = list(read_jsonl(io.StringIO(text), "Default"))
    good = [r for r in rows if isinstance(r, InputLine)]
    bad = [r for r in rows if isinstance(r, InputProblem)]
    assert [(r.line, r.request.contact_id, r.request.source) for r in good] == [
        (1, "c1", "S"),
        (6, "c3", "Default"),
        (8, "c4", "Default"),
    ]
    assert good[2].request.key == "17"
    assert [r.line for r in bad] == [3, 4, 5, 7]
    assert "broken JSON" in bad[0].reason
    assert bad[2].contact_id == "c2"


def test_jsonl_without_a_source_anywhere_is_a_problem() -> None:
    (row,) = read_jsonl(['{"contact_id": "c", "payload": {"a": 1}}'], None)
    assert isinstance(row, InputProblem)
    assert "source" in row.reason


def test_csv_puts_every_other_column_in_the_payload() -> None:
    text = "contact_id,title,company,empty\nc1,VP,Acme,\n,orphan,x,\nc2,,,\nc3,CTO,Beta,,extra\n"
    rows = list(read_csv(io.StringIO(text), "CSV"))
    assert isinstance(rows[0], InputLine)
    assert rows[0].request.payload == {"title": "VP", "company": "Acme"}
    assert rows[0].request.source == "CSV"
    problems = [r for r in rows if isinstance(r, InputProblem)]
    assert [p.line for p in problems] == [3, 4, 5]


def test_csv_without_a_contact_id_column() -> None:
    (row,) = read_csv(io.StringIO("id,title\n1,VP\n"), "CSV")
    assert isinstance(row, InputProblem)
    assert row.line == 1
