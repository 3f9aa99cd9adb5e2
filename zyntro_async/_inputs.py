"""Reading ``enrich`` input files, line by line, without ever stopping on a bad line.

* JSONL: one ``{"contact_id": ..., "payload": {...}, "source": ...}`` object per line
  (``source`` optional when a default is given; blank lines are ignored).
* CSV: a header with a ``contact_id`` column; every other column goes into the payload,
  as text (CSV has no types); empty cells are left out. A quoted cell may span lines.

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
    if not isinstance(contact_id, str) or not contact_id.strip():
        return InputProblem(line, "no contact_id (a non-empty string)")
    payload = obj.get("payload")
    if not isinstance(payload, (dict, list)):
        return InputProblem(line, "no payload (a JSON object or array)", contact_id)
    source = obj.get("source", default_source)
    if not isinstance(source, str) or not source.strip():
        return InputProblem(line, "no source (give it per line or with --source)", contact_id)
    key = obj.get("key")
    return InputLine(
        line, ProfileRequest(contact_id, payload, source, key=None if key is None else str(key))
    )


def _blank(raw: bytes | str) -> bool:
    return not (
        raw.strip(_JSON_SPACE.encode()) if isinstance(raw, bytes) else raw.strip(_JSON_SPACE)
    )


def read_jsonl(lines: Iterable[bytes | str], default_source: str | None) -> Iterator[Row]:
    """Requests from JSON lines; a broken line is a problem on its line, not an error."""
    for number, raw in enumerate(lines, start=1):
        if _blank(raw):
            continue
        text, problem = _decode(raw, number)
        if problem is not None:
            yield InputProblem(number, problem)
            continue
        obj, problem = _parse_json(text)
        if problem is not None:
            yield InputProblem(number, problem)
            continue
        yield _request(obj, number, default_source)


def count_jsonl(lines: Iterable[bytes | str]) -> int:
    """How many rows :func:`read_jsonl` yields for these lines (for a progress total)."""
    return sum(1 for raw in lines if not _blank(raw))


def _csv_records(lines: Iterable[bytes | str]) -> Iterator[tuple[int, list[str] | str]]:
    """(first line, cells) per CSV record, or (line, reason) for one that cannot be read."""
    if csv.field_size_limit() < CSV_FIELD_LIMIT:
        csv.field_size_limit(CSV_FIELD_LIMIT)
    undecodable: dict[int, str] = {}

    def texts() -> Iterator[str]:
        for number, raw in enumerate(lines, start=1):
            text, problem = _decode(raw, number)
            if problem is not None:
                undecodable[number] = problem
            yield text

    reader = csv.reader(texts())
    while True:
        first = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            reason = str(exc)
            if "field limit" in reason:
                reason = f"a cell larger than {CSV_FIELD_LIMIT // (1024 * 1024)} MiB"
            undecodable.clear()
            yield first, f"unreadable CSV ({reason})"
            continue
        spoiled = [
            undecodable.pop(n) for n in range(first, reader.line_num + 1) if n in undecodable
        ]
        if spoiled:
            yield first, spoiled[0]
        elif cells:  # [] is a blank line
            yield first, cells


def read_csv(lines: Iterable[bytes | str], default_source: str | None) -> Iterator[Row]:
    """Requests from CSV records; line numbers are physical lines, the header is line 1."""
    records = _csv_records(lines)
    header: list[str] | None = None
    for number, cells in records:
        if isinstance(cells, str):
            yield InputProblem(number, f"{cells} in the CSV header")
            return
        header = [name.strip() for name in cells]
        break
    if header is None:
        yield InputProblem(1, "the file is empty (no CSV header)")
        return
    if "contact_id" not in header:
        yield InputProblem(1, "the CSV header has no contact_id column")
        return
    for number, cells in records:
        if isinstance(cells, str):
            yield InputProblem(number, cells)
            continue
        if len(cells) > len(header):
            yield InputProblem(number, "more cells than the header has columns")
            continue
        row = dict(zip(header, cells, strict=False))  # short rows: missing cells
        contact_id = row.pop("contact_id", "").strip()
        payload = {k: v for k, v in row.items() if v != ""}
        if not contact_id:
            yield InputProblem(number, "no contact_id")
        elif not payload:
            yield InputProblem(number, "no payload columns with a value", contact_id)
        else:
            yield _request(
                {"contact_id": contact_id, "payload": payload, "source": default_source},
                number,
                default_source,
            )


def count_csv(lines: Iterable[bytes | str]) -> int:
    """How many rows :func:`read_csv` yields for these lines (records, not physical lines)."""
    return sum(1 for _ in read_csv(lines, None))
