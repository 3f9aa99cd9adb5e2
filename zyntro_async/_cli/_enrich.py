"""``zyntro-async enrich``: bulk-add profiles from a JSONL or CSV file (or JSONL on stdin).

Files are opened and read through once before the event loop starts (file I/O blocks):
that counts the rows, and a file none of whose lines can be sent (empty, no ``contact_id``
column, the wrong format) is a usage error with a hint, before anything is sent. stdin is
read by a thread, so a slow or silent producer never keeps Ctrl-C from working. Bad lines
are counted as *invalid input* and the run goes on; failures are summarised by error code;
a run the library stops (a failure every item would hit) says why and how to resume.
``--output`` is described in ``_output``.

``--shard I/N`` (or ``ZYNTRO_SHARD``) hands the library ``shard=(I, N)``: the run takes the
lines whose item key falls to shard I and passes over the rest. A line that is not a request
at all has no key: shard 0 reports it as invalid, every other shard passes over it, so each
input line is reported by exactly one shard. The run's counts, progress and ``--output``
hold its own shard's lines; the lines passed over are counted as "other shards".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from typing import Any, BinaryIO

import attrs

from .._bulk import BulkRun
from .._exceptions import ConfigurationError, JournalError, PreviousFailure
from .._inputs import InputProblem, Row, read_csv, read_jsonl, survey_csv, survey_jsonl
from .._ledger_url import redact
from .._results import BulkResult, ProfileRequest
from .._shard import Shard, parse_shard
from . import _env, _signals
from ._common import (
    EXIT_FAILED,
    EXIT_JOURNAL,
    EXIT_OK,
    EXIT_STOPPED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    Context,
    UsageError,
    check_writable,
)
from ._output import ResultsFile
from ._render import FailureSummary, ProgressView, result_record, summary_table

REPORTED_LINES = 20  # invalid lines named one by one on stderr; the rest are only counted
STDIN_BUFFER = 256  # rows read ahead from stdin
#: The shared quota's Redis URL (``--shared-quota``), kept out of argv.
SHARED_QUOTA_VAR = "ZYNTRO_SHARED_QUOTA"
#: The shard (``--shard``), for a deployment that sets it per worker.
SHARD_VAR = "ZYNTRO_SHARD"


@attrs.frozen
class LineRequest(ProfileRequest):
    """A request with the input line it came from: its result names the line, and nothing
    is kept for a line the run passes over (another shard's)."""

    line: int = attrs.field(default=0, kw_only=True, eq=False)


@attrs.define
class _Job:
    args: argparse.Namespace
    settings: dict[str, str]
    csv: bool
    stream: BinaryIO
    total: int | None
    results: ResultsFile | None
    shard: Shard | None = None


def nothing_usable(name: str, is_csv: bool, problem: InputProblem | None) -> str:
    """Why no line of the input can be sent, and what to try (a usage error's text)."""
    if problem is None or problem.reason.startswith("the file is empty"):
        return f"{name} is empty: there is nothing to send"
    if "CSV header" in problem.reason:
        if ";" in problem.reason or "\\t" in problem.reason:
            hint = "the file looks separated by ; or tabs: save it as comma-separated CSV"
        else:
            hint = "for a JSON lines file, use --format jsonl"
        return (
            f"{name}: {problem.reason}; a CSV input needs a header line naming a contact_id "
            f"column ({hint})"
        )
    if is_csv and "cells" in problem.reason:
        hint = "every row needs one cell per header column (quote cells holding commas)"
    elif is_csv:
        hint = "for a JSON lines file, use --format jsonl"
    elif "source" in problem.reason:
        hint = "give each line a source, or --source"
    elif "JSON" in problem.reason:
        hint = "for a CSV file, use --format csv (with --source)"
    else:
        hint = 'each line needs {"contact_id": "...", "payload": {...}}'
    return f"{name}: no line can be sent (line {problem.line}: {problem.reason}); {hint}"


def _not_the_same(flag: str, path: str | None, others: list[tuple[str | None, str]]) -> None:
    """Refuse ``path`` when it is another file the run needs: rewriting it would destroy it."""
    if path is None:
        return
    for other, name in others:
        if other is None or other == "-":
            continue
        try:
            same = os.path.samefile(path, other)
        except OSError:  # one of them does not exist yet
            same = os.path.abspath(path) == os.path.abspath(other)
        if same:
            raise UsageError(
                f"{flag} {path} is {name}: each run rewrites {flag}; choose another file"
            )


def shard_setting(flag: Shard | None, environ: Mapping[str, str] = os.environ) -> Shard | None:
    """``--shard``, else ``ZYNTRO_SHARD`` (checked: a bad value is a usage error)."""
    if flag is not None:
        return flag
    text = environ.get(SHARD_VAR, "").strip()
    if not text:
        return None
    try:
        return parse_shard(text)
    except ConfigurationError as exc:
        raise UsageError(f"{SHARD_VAR}: {exc}") from None


def cmd_enrich(args: argparse.Namespace, ctx: Context) -> int:
    settings = _env.load_settings(args.env_file)
    shard = shard_setting(args.shard)
    is_csv = args.format == "csv" or (args.format is None and args.input.lower().endswith(".csv"))
    if is_csv and not args.source:
        raise UsageError("a CSV input needs --source (the profile source label)")
    check_writable("--output", args.output)  # before reading: the file is rewritten later
    _not_the_same("--output", args.output, [(args.input, "the input"), (args.journal, "--journal")])
    if args.input == "-":
        stream, total = sys.stdin.buffer, None
    else:
        survey = survey_csv if is_csv else survey_jsonl
        try:
            with open(args.input, "rb") as reading:
                found = survey(reading, args.source)
            if not found.usable:
                raise UsageError(nothing_usable(args.input, is_csv, found.first_problem))
            total = found.rows
            stream = open(args.input, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise UsageError(f"cannot read {args.input}: {exc.strerror or exc}") from None
    results: ResultsFile | None = None
    try:
        if args.output:
            try:
                results = ResultsFile(args.output)
            except OSError as exc:
                raise UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from None
        job = _Job(args, settings, is_csv, stream, total, results, shard)
        return _signals.run(lambda: _enrich(job, ctx), ctx.console)
    finally:
        if results is not None:
            results.close()
        if stream is not sys.stdin.buffer:
            stream.close()


def _fd_lines(fd: int) -> Iterator[bytes]:
    """Lines read with os.read: a thread blocked here holds no lock of sys.stdin, so the
    interpreter can exit around it (a BufferedReader's lock makes that a fatal error)."""
    parts: list[bytes] = []
    while chunk := os.read(fd, 1 << 16):
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            parts.append(chunk[start : end + 1])
            yield b"".join(parts)
            parts.clear()
            start = end + 1
        if start < len(chunk):
            parts.append(chunk[start:])
    if parts:
        yield b"".join(parts)


def _rows(job: _Job) -> Iterator[Row]:
    reader = read_csv if job.csv else read_jsonl
    lines = _fd_lines(job.stream.fileno()) if job.stream is sys.stdin.buffer else job.stream
    return reader(lines, job.args.source)


async def _threaded(rows: Iterator[Row]) -> AsyncIterator[Row]:
    """``rows`` read by a daemon thread: blocking reads never block the event loop."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Row | None] = asyncio.Queue(STDIN_BUFFER)

    def produce() -> None:
        try:
            for row in rows:
                asyncio.run_coroutine_threadsafe(queue.put(row), loop).result()
            asyncio.run_coroutine_threadsafe(queue.put(None), loop).result()
        except BaseException:  # the loop is gone: the run ended first
            return

    threading.Thread(target=produce, name="zyntro-stdin", daemon=True).start()
    while (row := await queue.get()) is not None:
        yield row


def _stop_advice(job: _Job, succeeded: int, unsent: int | None) -> str:
    left = f"{unsent} lines were not sent" if unsent else "the rest of the input was not sent"
    if job.args.journal:
        # A failure every request hits is not the item's: a re-run retries it by itself.
        return f"{left}; fix that, then run the same command to resume from the journal"
    if succeeded == 0:
        return f"{left}; nothing was added: fix that and run the same command again"
    return (
        f"{left}; {succeeded} profiles were added: running again without a journal would "
        "add them twice (use --journal FILE to make runs resumable)"
    )


async def _enrich(job: _Job, ctx: Context) -> int:
    args, console = job.args, ctx.console
    summary = FailureSummary()
    errors: dict[str, BaseException] = {}  # code -> first error, for the stop hint
    view = ProgressView(console, job.total)
    interrupted, failed_before = False, 0
    first_problem: list[InputProblem] = []
    output = job.results

    def write(record: dict[str, Any]) -> None:
        if output is not None and not output.write(record) and output.lost == 1:
            why = output.error.strerror if output.error is not None else None
            console.line(
                f"zyntro-async: error: cannot write --output {output.path}: "
                f"{why or output.error}: stopping the run"
            )

    def accept(row: Row) -> ProfileRequest | None:
        if isinstance(row, InputProblem) and job.shard is not None and job.shard[0] != 0:
            view.passed += 1  # no key, so shard 0's to report
            return None
        if isinstance(row, InputProblem):
            if not first_problem:
                first_problem.append(row)
            view.invalid += 1
            summary.add(FailureSummary.INVALID, f"line {row.line}: {row.reason}")
            if view.invalid <= REPORTED_LINES:
                console.line(f"{args.input}:{row.line}: invalid input: {row.reason}")
            elif view.invalid == REPORTED_LINES + 1:
                console.line(f"{args.input}: more invalid lines: counted in the summary")
            error = {"code": "INVALID_INPUT", "message": row.reason}
            invalid: dict[str, Any] = {"line": row.line}
            if row.last_line is not None:
                invalid["last_line"] = row.last_line
            write({**invalid, "contact_id": row.contact_id, "ok": False, "error": error})
            return None
        request = row.request
        return LineRequest(
            request.contact_id,
            request.payload,
            request.source,
            key=request.key,
            member_id=request.member_id,
            line=row.line,
        )

    def from_file(rows: Iterable[Row]) -> Iterator[ProfileRequest]:
        for row in rows:
            if (request := accept(row)) is not None:
                yield request

    async def from_stdin(rows: AsyncIterator[Row]) -> AsyncIterator[ProfileRequest]:
        async for row in rows:
            if (request := accept(row)) is not None:
                yield request

    def record(result: BulkResult[Any]) -> None:
        nonlocal failed_before
        line = getattr(result.request, "line", None)
        write(result_record(result, line))
        if result.ok or result.error is None:
            return
        where = f"line {line}: " if line is not None else ""
        code = result.error.code
        if isinstance(result.error, PreviousFailure):  # failed before for its own reasons
            failed_before += 1
            label = f"{code} in an earlier run, not retried (add --retry-failed)"
            summary.add(label, f"{where}contact {result.request.contact_id}")
            return
        errors.setdefault(code, result.error)
        summary.add(code, f"{where}{result.error}")

    requests = from_stdin(_threaded(_rows(job))) if args.input == "-" else from_file(_rows(job))
    # The environment's variable keeps Redis's password out of argv.
    shared = args.shared_quota or os.environ.get(SHARED_QUOTA_VAR) or None
    async with _env.make_client(job.settings) as client:
        run = client.bulk_add_profiles(
            requests,
            concurrency=args.concurrency,
            max_per_second=args.rate,
            journal=args.journal,
            retry_failed=args.retry_failed,
            on_progress=view,
            total=job.total,
            shared_quota=shared,
            shard=job.shard,
        )
        journal_failed: JournalError | None = None
        try:
            async for result in run:
                record(result)
                if output is not None and output.error is not None:
                    break
        except asyncio.CancelledError:
            interrupted = True
        except JournalError as exc:
            if run.report is None or run.report.total == 0:
                raise  # before anything was sent: a usage error
            journal_failed = exc
        finally:
            try:
                await _drain(run, record)
            finally:
                view.close()
    report = run.report
    assert report is not None
    others = None if job.shard is None else report.other_shards + view.passed
    ctx.out.write(
        summary_table(
            report, invalid=view.invalid, failed_before=failed_before, other_shards=others
        )
        + "\n"
    )
    ctx.out.flush()
    for line in summary.lines():
        console.line(line)
    handled = report.total + view.invalid + (others or 0)
    unsent = None if job.total is None else max(0, job.total - handled)
    if output is not None and output.error is not None:
        console.line(
            f"zyntro-async: --output {output.path} holds {output.written} lines and lacks "
            f"{output.lost} results counted above ({output.error.strerror or output.error}); "
            + (
                "with room again, the same command resumes from the journal and rewrites it whole"
                if args.journal
                else "use --journal FILE to make runs resumable"
            )
        )
    if interrupted:
        resume = (
            f"run the same command again to resume from --journal {redact(args.journal)}"
            if args.journal
            else "without --journal, running again sends every line again"
        )
        console.line(f"zyntro-async: interrupted after {handled} lines; {resume}")
        raise asyncio.CancelledError
    if journal_failed is not None:
        console.line(f"zyntro-async: error: {journal_failed}")
        console.line(
            f"  items may have been sent; fix the journal's disk, then run the same command "
            f"with --journal {redact(args.journal)} (or the rescued copy it names) to "
            "reconcile them"
        )
        return EXIT_JOURNAL
    if output is not None and output.error is not None:
        return EXIT_FAILED
    if report.total == report.other_shards == 0 and job.total is None:  # stdin: nothing to send
        problem = first_problem[0] if first_problem else None
        console.line(f"zyntro-async: error: {nothing_usable('stdin', job.csv, problem)}")
        return EXIT_USAGE
    if report.stopped:
        console.line(f"zyntro-async: stopped: {report.stopped}")
        code = next((c for c in errors if c in report.stopped), next(iter(errors), None))
        advice = None if code is None else _env.hint(errors[code], _env.base_url(job.settings))
        if advice:
            console.line(f"  {advice}")
        console.line(f"  {_stop_advice(job, report.succeeded, unsent)}")
        stopped_by = errors.get(code) if code is not None else None
        if report.succeeded == 0 and stopped_by is not None and _env.unreachable(stopped_by):
            return EXIT_UNREACHABLE
        return EXIT_STOPPED
    return EXIT_OK if report.failed + view.invalid == 0 else EXIT_FAILED


async def _drain(run: BulkRun[Any], record: Callable[[BulkResult[Any]], None]) -> None:
    """Stop ``run`` and record the results it finished but had not handed out yet (a
    signal or a break can come while some wait): the summary counts them, so ``--output``
    must hold them too. Once the run is stopped nothing here waits."""
    await run.aclose()
    try:
        async for result in run:
            record(result)
    except Exception:  # the run's own error was raised (and reported) by the loop already
        return
