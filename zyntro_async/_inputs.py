"""Reading ``enrich`` input files, line by line, without ever stopping on a bad line.

* JSONL: one ``{"contact_id": ..., "payload": {...}, "source": ...}`` object per line
  (``source`` optional when a default is given; blank lines are ignored).
* CSV: a header with a ``contact_id`` column; every other column goes into the payload,
  as text (CSV has no types); empty cells are left out.

Each line becomes a :class:`ProfileRequest` or an :class:`InputProblem` naming the line, so
the caller reports it and goes on. Reading is lazy: one line at a time.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

import attrs

from ._bulk import ProfileRequest


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


def _request(obj: Any, line: int, default_source: str | None) -> InputLine | InputProblem:
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


def read_jsonl(
    lines: Iterable[str], default_source: str | None
) -> Iterator[InputLine | InputProblem]:
    """Requests from JSON lines; broken JSON is a problem on its line, not an error."""
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except ValueError as exc:
            yield InputProblem(number, f"broken JSON ({exc.msg} at column {exc.colno})")  # type: ignore[attr-defined]
            continue
        yield _request(obj, number, default_source)


def read_csv(stream: TextIO, default_source: str | None) -> Iterator[InputLine | InputProblem]:
    """Requests from CSV rows (line numbers count the header as line 1)."""
    reader = csv.DictReader(stream)
    if reader.fieldnames is None or "contact_id" not in reader.fieldnames:
        yield InputProblem(1, "the CSV header has no contact_id column")
        return
    for row in reader:
        number = reader.line_num
        if None in row:  # more cells than header columns
            yield InputProblem(number, "more cells than the header has columns")
            continue
        contact_id = (row.pop("contact_id") or "").strip()
        payload = {k: v for k, v in row.items() if v not in (None, "")}
        if not contact_id:
            yield InputProblem(number, "no contact_id")
            continue
        if not payload:
            yield InputProblem(number, "no payload columns with a value", contact_id)
            continue
        yield _request(
            {"contact_id": contact_id, "payload": payload, "source": default_source},
            number,
            default_source,
        )
