"""Reading enrich input files: every bad line is a numbered problem, never an exception."""

from __future__ import annotations

import io
from collections.abc import Iterator

from zyntro_async._inputs import (
    CSV_FIELD_LIMIT,
    InputLine,
    InputProblem,
    count_csv,
    count_jsonl,
    read_csv,
    read_jsonl,
)


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


def test_hostile_jsonl_lines_are_problems_on_their_line() -> None:
    lines = [
        b"[" * 100_000 + b"\n",
        b'{"contact_id": "\xff\xfe", "payload": {"a": 1}}\n',
        b'{"contact_id": "c", "payload": {"n": ' + b"9" * 5000 + b"}}\n",
        b'{"contact_id": "c", "payload": {"n": NaN}}\n',
        b'{"contact_id": "c1", "payload": {"a": 1}}\n',
    ]
    rows = list(read_jsonl(lines, "S"))
    assert [r.line for r in rows] == [1, 2, 3, 4, 5]
    reasons = [r.reason for r in rows if isinstance(r, InputProblem)]
    assert reasons == [
        "JSON nested too deeply",
        "not valid UTF-8 (byte 0xff at column 17)",
        "a number with too many digits",
        "broken JSON (NaN is not a JSON value)",
    ]
    assert isinstance(rows[4], InputLine)


def test_reading_is_lazy() -> None:
    taken: list[int] = []

    def lines() -> Iterator[bytes]:
        for n in range(1_000_000):
            taken.append(n)
            yield b'{"contact_id": "c", "payload": {"a": 1}}\n'

    rows = read_jsonl(lines(), "S")
    next(rows)
    next(rows)
    assert len(taken) == 2
    csv_rows = read_csv((b"contact_id,a\n" if n == 0 else b"c,1\n" for n in range(10**9)), "S")
    assert isinstance(next(csv_rows), InputLine)


def test_csv_cells_spanning_lines_big_cells_bad_bytes_and_a_bom() -> None:
    big = b"x" * (200 * 1024)  # over csv's default 128 KiB limit
    lines = [
        b"\xef\xbb\xbfcontact_id,title,note\r\n",
        b'c1,VP,"two\r\n',
        b'lines"\r\n',
        b"c2,CTO," + big + b"\r\n",
        b"c3,\xff,x\r\n",
        b"\r\n",
        b"c4,Founder,y\r\n",
    ]
    rows = list(read_csv(lines, "CSV"))
    assert [(type(r).__name__, r.line) for r in rows] == [
        ("InputLine", 2),
        ("InputLine", 4),
        ("InputProblem", 5),
        ("InputLine", 7),
    ]
    assert isinstance(rows[0], InputLine)
    assert rows[0].request.payload == {"title": "VP", "note": "two\r\nlines"}
    assert isinstance(rows[1], InputLine)
    assert rows[1].request.payload == {"title": "CTO", "note": big.decode()}
    assert "UTF-8" in rows[2].reason  # type: ignore[union-attr]
    assert count_csv(lines) == 4  # records, not physical lines; the header is not a row


def test_a_cell_over_the_limit_is_a_problem_and_reading_goes_on() -> None:
    huge = b"x" * (CSV_FIELD_LIMIT + 1)
    lines = [b"contact_id,a\n", b"c1," + huge + b"\n", b"c2,ok\n"]
    rows = list(read_csv(lines, "CSV"))
    assert isinstance(rows[0], InputProblem)
    assert rows[0].line == 2
    assert "larger than 16 MiB" in rows[0].reason
    assert isinstance(rows[1], InputLine)
    assert rows[1].request.contact_id == "c2"


def test_counts_match_what_the_readers_yield() -> None:
    jsonl = [b"{}\n", b"  \n", b"\r\n", b"not json\n", b'{"contact_id": "c"}']
    assert count_jsonl(jsonl) == len(list(read_jsonl(jsonl, "S"))) == 3
    assert count_csv([]) == len(list(read_csv([], "S"))) == 1  # "the file is empty"
    assert count_csv([b"id,a\n", b"1,2\n"]) == 1  # "no contact_id column"
