"""Reading ``enrich`` input files, line by line, without ever stopping on a bad line.

* JSONL: one ``{"contact_id": ..., "payload": {...}, "source": ...}`` object per line
  (``source`` optional when a default is given; blank lines are ignored).
* CSV: a header with a ``contact_id`` column; every other column goes into the payload,
  as text (CSV has no types); empty cells are left out. A quoted cell may span lines.
  Nothing is merged silently: a row whose cell count differs from the header's, a quote
  never closed, and a quoted cell running over lines that read as rows of their own are
  each a problem naming the lines they cover.

Input is bytes (a file opened in binary) or text. Bytes are decoded one line at a time, so
invalid UTF-8 spoils only its own line. Each record becomes a :class:`ProfileRequest` or
an :class:`InputProblem` naming its (first) line, so the caller reports it and goes on:
no input can raise out of a reader. Reading is lazy: one line at a time.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from typing import Any

import attrs

from ._policy import php_empty
from ._results import ProfileRequest

# The largest CSV cell read (csv's default is 128 KiB); a larger one is a problem on its line.
CSV_FIELD_LIMIT = 16 * 1024 * 1024
_JSON_SPACE = " \t\r\n"


@attrs.frozen
class InputProblem:
    """A line that could not become a request."""

    line: int
    reason: str
    contact_id: str | None = None
    last_line: int | None = None  # a problem covering several lines: the last of them


@attrs.frozen
class InputLine:
    """A request, with the line it came from."""

    line: int
    request: ProfileRequest


Row = InputLine | InputProblem


class _NotJSON(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _NotJSON(f"{name} is not a JSON value")


def _decode(raw: bytes | str, number: int) -> tuple[str, str | None]:
    """The line as text, and why it is not valid UTF-8 (None if it is)."""
    if isinstance(raw, str):
        text, problem = raw, None
    else:
        try:
            text, problem = raw.decode("utf-8"), None
        except UnicodeDecodeError as exc:
            bad = raw[exc.start : exc.start + 1].hex()
            text = raw.decode("utf-8", errors="replace")
            problem = f"not valid UTF-8 (byte 0x{bad} at column {exc.start + 1})"
    if number == 1:
        text = text.removeprefix("\ufeff")  # a byte order mark, as Excel writes
    return text, problem


def _parse_json(text: str) -> tuple[Any, str | None]:
    try:
        return json.loads(text, parse_constant=_reject_constant), None
    except json.JSONDecodeError as exc:
        return None, f"broken JSON ({exc.msg} at column {exc.colno})"
    except RecursionError:
        return None, "JSON nested too deeply"
    except _NotJSON as exc:
        return None, f"broken JSON ({exc})"
    except ValueError as exc:  # e.g. an integer too long to convert (no .msg, no .colno)
        if "integer string conversion" in str(exc):
            return None, "a number with too many digits"
        return None, f"broken JSON ({exc})"


def _request(obj: Any, line: int, default_source: str | None) -> Row:
    if not isinstance(obj, dict):
        return InputProblem(line, f"expected a JSON object, got {type(obj).__name__}")
    contact_id = obj.get("contact_id")
    if not isinstance(contact_id, str) or php_empty(contact_id):
        return InputProblem(line, "no contact_id (a non-empty string)")
    payload = obj.get("payload")
    if not isinstance(payload, (dict, list)):
        return InputProblem(line, "no payload (a JSON object or array)", contact_id)
    source = obj.get("source", default_source)
    if not isinstance(source, str) or php_empty(source):
        return InputProblem(line, "no source (give it per line or with --source)", contact_id)
    key = obj.get("key")
    return InputLine(
        line, ProfileRequest(contact_id, payload, source, key=None if key is None else str(key))
    )


def _blank(raw: bytes | str) -> bool:
    return not (
        raw.strip(_JSON_SPACE.encode()) if isinstance(raw, bytes) else raw.strip(_JSON_SPACE)
    )


def _jsonl_row(raw: bytes | str, number: int, default_source: str | None) -> Row:
    text, problem = _decode(raw, number)
    if problem is not None:
        return InputProblem(number, problem)
    obj, problem = _parse_json(text)
    if problem is not None:
        return InputProblem(number, problem)
    return _request(obj, number, default_source)


def read_jsonl(lines: Iterable[bytes | str], default_source: str | None) -> Iterator[Row]:
    """Requests from JSON lines; a broken line is a problem on its line, not an error."""
    for number, raw in enumerate(lines, start=1):
        if not _blank(raw):
            yield _jsonl_row(raw, number, default_source)


def count_jsonl(lines: Iterable[bytes | str]) -> int:
    """How many rows :func:`read_jsonl` yields for these lines (for a progress total)."""
    return sum(1 for raw in lines if not _blank(raw))


def _lines(first: int, last: int) -> str:
    return f"line {first}" if first == last else f"lines {first}-{last}"


@attrs.frozen
class _Record:
    """One CSV record: its physical lines ``first..last``, its cells or why it is unreadable,
    and (for a record over several lines) the text of each of those lines."""

    first: int
    last: int
    cells: list[str] | None
    reason: str | None = None
    texts: tuple[str, ...] = ()


def _csv_records(lines: Iterable[bytes | str]) -> Iterator[_Record]:
    """Each CSV record in turn, blank lines left out; reading goes on after a bad one."""
    if csv.field_size_limit() < CSV_FIELD_LIMIT:
        csv.field_size_limit(CSV_FIELD_LIMIT)
    undecodable: dict[int, str] = {}
    current: dict[int, str] = {}  # the physical lines of the record being read

    def texts() -> Iterator[str]:
        for number, raw in enumerate(lines, start=1):
            text, problem = _decode(raw, number)
            if problem is not None:
                undecodable[number] = problem
            current[number] = text
            yield text

    # strict: a quote never closed (or text after a closing quote) is an error, not a
    # cell that silently takes in the lines after it.
    reader = csv.reader(texts(), strict=True)
    while True:
        first = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            last = max(first, reader.line_num)
            reason = str(exc)
            if "field limit" in reason:
                mib = CSV_FIELD_LIMIT // (1024 * 1024)
                reason = f"unreadable CSV (a cell larger than {mib} MiB)"
            elif "unexpected end of data" in reason:
                reason = (
                    f"a quote opened on line {first} is never closed: it takes in "
                    f"{_lines(first, last)} up to the end of the file"
                )
            else:
                reason = f"unreadable CSV ({reason})"
                if last > first:
                    reason += f" ({_lines(first, last)})"
            undecodable.clear()
            current.clear()
            yield _Record(first, last, None, reason)
            continue
        last = reader.line_num
        spoiled = [undecodable.pop(n) for n in range(first, last + 1) if n in undecodable]
        spanned = tuple(current[n] for n in range(first, last + 1)) if last > first else ()
        current.clear()
        if spoiled:
            yield _Record(first, last, None, spoiled[0])
        elif cells:  # [] is a blank line
            yield _Record(first, last, cells, texts=spanned)


def _header_problem(header: list[str]) -> str:
    shown = ", ".join(repr(name) for name in header[:10])
    if len(header) > 10:
        shown += f", ... ({len(header)} in all)"
    return f"the CSV header has no contact_id column (columns found: {shown})"


def _reads_as_row(text: str, width: int, id_column: int) -> bool:
    """Whether one physical line, alone, is a row of ``width`` cells with a contact id.

    A line with an odd number of quotes is where a quoted cell opens or closes: part of a
    cell over several lines, not a row."""
    if text.count('"') % 2:
        return False
    cells = next(csv.reader([text]), [])
    return len(cells) == width and bool(cells[id_column].strip())


def read_csv(lines: Iterable[bytes | str], default_source: str | None) -> Iterator[Row]:
    """Requests from CSV records; line numbers are physical lines, the header is line 1.

    A record over several lines is a problem (covering them all) when one of its later
    lines reads as a row of its own: a quote left open took in the rows after it.
    """
    records = _csv_records(lines)
    header: list[str] | None = None
    for record in records:
        if record.cells is None:
            yield InputProblem(record.first, f"{record.reason} in the CSV header")
            return
        header = [name.strip() for name in record.cells]
        break
    if header is None:
        yield InputProblem(1, "the file is empty (no CSV header)")
        return
    if "contact_id" not in header:
        yield InputProblem(1, _header_problem(header))
        return
    width, id_column = len(header), header.index("contact_id")
    for record in records:
        number, last = record.first, record.last
        span = None if last == number else last
        cells = record.cells
        if cells is None:
            yield InputProblem(number, record.reason or "unreadable CSV", last_line=span)
            continue
        if len(cells) != width:
            more = "more" if len(cells) > width else "fewer"
            reason = f"{len(cells)} cells, {more} than the header's {width} columns"
            if span:
                reason += f" ({_lines(number, last)})"
            yield InputProblem(number, reason, last_line=span)
            continue
        merged = [
            number + offset
            for offset, text in enumerate(record.texts)
            if offset and _reads_as_row(text, width, id_column)
        ]
        if merged:
            yield InputProblem(
                number,
                f"a quoted cell opened on line {number} runs over line {merged[0]}, which "
                f"reads as a row of its own: a quote left open? ({_lines(number, last)})",
                last_line=last,
            )
            continue
        row = dict(zip(header, cells, strict=True))
        contact_id = row.pop("contact_id", "").strip()
        payload = {k: v for k, v in row.items() if v != ""}
        if php_empty(contact_id):
            yield InputProblem(number, "no contact_id", last_line=span)
        elif not payload:
            yield InputProblem(number, "no payload columns with a value", contact_id, span)
        else:
            yield _request(
                {"contact_id": contact_id, "payload": payload, "source": default_source},
                number,
                default_source,
            )


def count_csv(lines: Iterable[bytes | str]) -> int:
    """How many rows :func:`read_csv` yields for these lines (records, not physical lines)."""
    return sum(1 for _ in read_csv(lines, None))


@attrs.frozen
class Survey:
    """A file read through once before a run: how many rows its reader yields (a progress
    total), whether any of them can be sent, and the first problem (for a hint)."""

    rows: int
    usable: bool
    first_problem: InputProblem | None


def survey_csv(lines: Iterable[bytes | str], default_source: str | None) -> Survey:
    rows, usable, first = 0, False, None
    for row in read_csv(lines, default_source):
        rows += 1
        if isinstance(row, InputLine):
            usable = True
        elif first is None:
            first = row
    return Survey(rows, usable, first)


def survey_jsonl(lines: Iterable[bytes | str], default_source: str | None) -> Survey:
    """As :func:`survey_csv`; lines are parsed only until one can be sent, then counted."""
    rows, usable, first = 0, False, None
    for number, raw in enumerate(lines, start=1):
        if _blank(raw):
            continue
        rows += 1
        if usable:
            continue
        row = _jsonl_row(raw, number, default_source)
        if isinstance(row, InputLine):
            usable = True
        elif first is None:
            first = row
    return Survey(rows, usable, first)
