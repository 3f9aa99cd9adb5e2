"""The ``zyntro-async`` command line (also ``python -m zyntro_async``).

Credentials come from ``ZYNTRO_*`` environment variables or ``--env-file``, never from
flags: argv is visible to every user of the machine. Exit codes: 0 all succeeded, 1 some
items failed, 2 usage or configuration error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, TextIO

from ._bulk import BulkReport, BulkResult, ProfileRequest, Progress
from ._client import ZyntroClient
from ._config import ENV_VARS
from ._converter import unstructure
from ._exceptions import ConfigurationError, ZyntroError
from ._inputs import InputLine, InputProblem, read_csv, read_jsonl
from ._journal import JournalError
from ._models import ContactDetails, Profile
from ._version import __version__

EXIT_OK, EXIT_FAILURES, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
PLAIN_PROGRESS_EVERY = 5.0  # seconds between progress lines when stderr is not a terminal


class UsageError(Exception):
    """A problem with how the command was called (exit code 2)."""


# -- environment ------------------------------------------------------------------------------


def load_env_file(path: str, environ: dict[str, str] | os._Environ[str] = os.environ) -> None:
    """Read ``KEY=VALUE`` lines (``export``, quotes and ``#`` comments allowed) and set the
    ``ZYNTRO_*`` ones that are not already set. Values are never echoed."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read --env-file {path}: {exc.strerror}") from None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        name, sep, value = line.partition("=")
        if not sep:
            raise UsageError(f"--env-file {path}, line {number}: expected NAME=value")
        name, value = name.strip(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        if name in ENV_VARS.values() and name not in environ:
            environ[name] = value


# -- output -----------------------------------------------------------------------------------


def _dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)


def details_json(details: ContactDetails) -> dict[str, Any]:
    data: dict[str, Any] = unstructure(details)
    data.pop("raw", None)
    return data


def render_details(details: ContactDetails) -> str:
    """A readable, terminal-friendly view of a contact."""
    c = details.contact
    rows: list[tuple[str, Any]] = [
        ("Contact", f"{c.name or ''} ({c.id})"),
        ("Email", c.email),
        ("Phone", c.phone),
        ("Stage", c.stage),
        ("Status", c.status),
        ("Owner", c.owner),
        ("Source", c.source),
        ("Location", ", ".join(x for x in (c.city, c.state, c.country) if x)),
        ("Tags", ", ".join(c.tags)),
        ("Custom", ", ".join(f"{k}={v}" for k, v in c.custom_fields.items())),
        ("Created", c.date_created),
        ("Updated", c.date_updated),
    ]
    flags = [name for name in ("dnc", "sms_optout", "email_optout", "is_test") if getattr(c, name)]
    if flags:
        rows.append(("Flags", ", ".join(flags)))
    lines = [f"{label:<9} {value}" for label, value in rows if value not in (None, "")]
    if details.entity is not None:
        e = details.entity
        lines.append(
            f"{'Company':<9} {e.name or ''} {f'({e.website})' if e.website else ''}".rstrip()
        )
    if details.notes is not None:
        lines.append(f"Notes ({len(details.notes)})")
        lines.extend(f"  - {n.date_created or ''}  {n.content or ''}" for n in details.notes)
    if details.profiles is not None:
        lines.append(f"Profiles ({len(details.profiles)})")
        lines.extend(f"  - #{p.id} {p.source}: {_dump(p.payload)[:100]}" for p in details.profiles)
    if details.signals is not None:
        lines.append(f"Signals: {_dump(details.signals)[:200]}")
    return "\n".join(lines)


def summary_table(report: BulkReport, *, input_problems: int = 0) -> str:
    rows = [
        ("items", report.total + input_problems),
        ("succeeded", report.succeeded),
        ("failed", report.failed + input_problems),
        ("skipped", report.skipped),
        ("retries", report.retries),
        ("recovered", report.recovered),
        ("elapsed", f"{report.elapsed:.1f} s"),
        ("throughput", f"{report.rate:.0f} items/s"),
    ]
    if report.stopped:
        rows.append(("stopped", report.stopped))
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"  {label:<{width}}  {value}" for label, value in rows)


class ProgressView:
    """A live bar on a terminal (tqdm, if installed), plain periodic lines otherwise."""

    def __init__(self, stream: TextIO, total: int | None, *, unit: str = "item") -> None:
        self._stream = stream
        self._last_line = 0.0
        self._bar: Any = None
        if stream.isatty():
            with contextlib.suppress(ImportError):
                from tqdm import tqdm  # type: ignore[import-untyped,import-not-found,unused-ignore]

                self._bar = tqdm(total=total, unit=unit, file=stream)

    def __call__(self, p: Progress) -> None:
        if self._bar is not None:
            self._bar.n = p.done
            postfix: dict[str, object] = {"ok": p.ok, "failed": p.failed, "skipped": p.skipped}
            if p.throttled:
                postfix["throttled"] = "yes"
            self._bar.set_postfix(postfix, refresh=False)
            self._bar.refresh()
            return
        now = time.monotonic()
        if now - self._last_line < PLAIN_PROGRESS_EVERY and p.done != p.total:
            return
        self._last_line = now
        total = f"/{p.total}" if p.total is not None else ""
        eta = f", eta {p.eta:.0f}s" if p.eta is not None else ""
        self._stream.write(
            f"progress: {p.done}{total} done ({p.ok} ok, {p.failed} failed, {p.skipped} skipped,"
            f" {p.in_flight} in flight{', throttled' if p.throttled else ''}), "
            f"{p.rate:.0f}/s{eta}\n"
        )
        self._stream.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def result_record(result: BulkResult[Any], line: int | None) -> dict[str, Any]:
    """One results-file line: identifiers and outcome, never the payload."""
    request = result.request
    record: dict[str, Any] = {"line": line, "contact_id": getattr(request, "contact_id", request)}
    if getattr(request, "source", None) is not None:
        record["source"] = request.source
    if getattr(request, "key", None) is not None:
        record["key"] = request.key
    record["ok"] = result.ok
    if isinstance(result.value, Profile):
        record["profile_id"] = result.value.id
    record.update(skipped=result.skipped, recovered=result.recovered, attempts=result.attempts)
    if result.error is not None:
        record["error"] = {"code": result.error.code, "message": str(result.error)}
    return record


# -- commands ---------------------------------------------------------------------------------


async def cmd_fetch(args: argparse.Namespace, out: TextIO) -> int:
    async with ZyntroClient() as client:
        details = await client.fetch_contact(
            args.contact_id,
            include_notes=args.notes,
            include_entity=args.entity,
            include_profile=args.profile,
            include_signals=args.signals,
        )
    out.write((_dump(details_json(details)) if args.json else render_details(details)) + "\n")
    return EXIT_OK


def read_payload(args: argparse.Namespace) -> Any:
    """The add-profile payload, from --payload or --payload-file (synchronously, pre-loop)."""
    if args.payload_file is not None:
        try:
            text = Path(args.payload_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read --payload-file: {exc.strerror}") from None
    else:
        text = args.payload
    try:
        return json.loads(text)
    except ValueError:
        raise UsageError("the payload is not valid JSON") from None


async def cmd_add_profile(args: argparse.Namespace, out: TextIO) -> int:
    payload = args.payload_obj
    async with ZyntroClient() as client:
        profile = await client.add_profile_to_contact(args.contact_id, payload, args.source)
    if args.json:
        out.write(_dump(unstructure(profile)) + "\n")
    else:
        out.write(f"added profile #{profile.id} ({profile.source}) to {args.contact_id}\n")
    return EXIT_OK


def _open_input(path: str) -> tuple[TextIO, int | None]:
    if path == "-":
        return sys.stdin, None
    try:
        with open(path, "rb") as counting:
            lines = sum(1 for _ in counting)
        return open(path, encoding="utf-8", newline=""), lines
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def open_enrich_files(args: argparse.Namespace) -> None:
    """Open the input and results files before the loop starts (file I/O blocks)."""
    is_csv = args.input.lower().endswith(".csv") or args.format == "csv"
    if is_csv and not args.source:
        raise UsageError("a CSV input needs --source (the profile source label)")
    stream, line_count = _open_input(args.input)
    total = None if line_count is None else max(0, line_count - (1 if is_csv else 0))
    results_file: IO[str] | None = None
    if args.output:
        try:
            results_file = open(args.output, "a", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise UsageError(f"cannot write {args.output}: {exc.strerror}") from None
    args.opened = (is_csv, stream, total, results_file)


async def cmd_enrich(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    is_csv, stream, total, results_file = args.opened
    problems = 0
    lines_of: dict[int, int] = {}  # id(request) -> line, for requests in flight only

    def write(record: dict[str, Any]) -> None:
        if results_file is not None:
            results_file.write(_dump(record) + "\n")

    def requests() -> Iterator[Any]:
        nonlocal problems
        rows = read_csv(stream, args.source) if is_csv else read_jsonl(stream, args.source)
        for row in rows:
            if isinstance(row, InputProblem):
                problems += 1
                err.write(f"{args.input}:{row.line}: skipped: {row.reason}\n")
                write(
                    {
                        "line": row.line,
                        "contact_id": row.contact_id,
                        "ok": False,
                        "error": {"code": "INVALID_INPUT", "message": row.reason},
                    }
                )
                continue
            assert isinstance(row, InputLine)
            lines_of[id(row.request)] = row.line
            yield row.request

    view = ProgressView(err, total)
    try:
        async with ZyntroClient() as client:
            run = client.bulk_add_profiles(
                requests(),
                concurrency=args.concurrency,
                max_per_second=args.rate,
                journal=args.journal,
                retry_failed=args.retry_failed,
                on_progress=view,
                total=total,
            )
            try:
                async for result in run:
                    write(result_record(result, lines_of.pop(id(result.request), None)))
            except asyncio.CancelledError:
                view.close()
                err.write(
                    "interrupted: in-flight items are recorded as unknown"
                    + (f"; re-run with --journal {args.journal} to resume" if args.journal else "")
                    + "\n"
                )
                raise
    finally:
        view.close()
        if results_file is not None:
            results_file.close()
        if stream is not sys.stdin:
            stream.close()
    report = run.report
    assert report is not None
    out.write(summary_table(report, input_problems=problems) + "\n")
    return EXIT_OK if report.failed == 0 and problems == 0 else EXIT_FAILURES


async def cmd_sandbox(args: argparse.Namespace, out: TextIO) -> int:
    from .testing import Faults, serve

    faults = Faults.parse(args.faults) if args.faults else None
    await serve(
        host=args.host,
        port=args.port,
        contacts=args.contacts,
        faults=faults,
        seed=args.seed,
        out=out,
    )
    return EXIT_OK  # pragma: no cover - serve() runs until cancelled


async def cmd_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """The main job, offline: seed a sandbox, bulk-enrich every contact, check the result."""
    from .testing import Faults, ZyntroSandbox

    faults = Faults.parse(args.faults) if args.faults not in ("", "none") else Faults()
    source = "zyntro-async demo"
    async with ZyntroSandbox(faults=faults, seed=args.seed, record_requests=0) as sandbox:
        ids = sandbox.seed(args.contacts)
        before = {cid: len(sandbox.profiles(cid)) for cid in ids}
        out.write(
            f"sandbox at {sandbox.base_url}: {len(ids)} contacts, faults: {args.faults or 'none'}\n"
        )

        def requests() -> Iterator[ProfileRequest]:
            for n, cid in enumerate(ids):
                payload = {
                    "job_title": ("VP Marketing", "Head of Sales", "CTO", "Founder")[n % 4],
                    "company_size": ("1-10", "11-50", "51-200", "200-500")[n % 4],
                    "linkedin_url": f"https://linkedin.com/in/demo-{n}",
                    "technologies_used": ["HubSpot", "Salesforce"][: 1 + n % 2],
                }
                yield ProfileRequest(cid, payload, source)

        view = ProgressView(err, len(ids))
        creds = sandbox.credentials
        try:
            async with ZyntroClient(
                api_key=creds["api_key"],
                developer_secret=creds["developer_secret"],
                org_id=creds["org_id"],
                member_id=creds["member_id"],
                base_url=sandbox.base_url,
            ) as client:
                report = await client.bulk_add_profiles(
                    requests(), concurrency=args.concurrency, on_progress=view, total=len(ids)
                )
        finally:
            view.close()
        out.write(summary_table(report) + "\n")
        added = {cid: len(sandbox.profiles(cid)) - before[cid] for cid in ids}
        failed = {r.request.contact_id for r in report.failures}
        exact = all(added[cid] == (0 if cid in failed else 1) for cid in ids)
        out.write(
            f"  check       {'OK' if exact else 'MISMATCH'}: "
            f"{sum(1 for v in added.values() if v == 1)} contacts hold exactly one new profile, "
            f"{sum(1 for v in added.values() if v > 1)} hold more, {len(failed)} failed\n"
        )
    if not exact:
        return EXIT_FAILURES
    return EXIT_OK if report.failed == 0 else EXIT_FAILURES


# -- argument parsing -------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zyntro-async",
        description="Zyntro CRM from the command line. Credentials come from the ZYNTRO_* "
        "environment variables (or --env-file), never from flags.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--env-file", help="read ZYNTRO_* settings from this file")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log retries and recoveries (-v), and every request (-vv)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fetch = sub.add_parser("fetch", help="show one contact")
    fetch.add_argument("contact_id")
    for flag in ("notes", "entity", "profile", "signals"):
        fetch.add_argument(f"--{flag}", action="store_true", help=f"include the {flag}")
    fetch.add_argument("--json", action="store_true", help="machine-readable output")

    add = sub.add_parser("add-profile", help="attach a profile record to a contact")
    add.add_argument("contact_id")
    add.add_argument("--source", required=True, help="the profile source label")
    given = add.add_mutually_exclusive_group(required=True)
    given.add_argument("--payload", help="the profile payload, as JSON")
    given.add_argument("--payload-file", help="a file holding the payload JSON")
    add.add_argument("--json", action="store_true", help="machine-readable output")

    enrich = sub.add_parser("enrich", help="bulk-add profiles from a .jsonl or .csv file")
    enrich.add_argument("input", help="a .jsonl or .csv file, or - for JSONL on stdin")
    enrich.add_argument("--format", choices=("jsonl", "csv"), help="override the file type")
    enrich.add_argument("--source", help="profile source for lines without one (CSV: required)")
    enrich.add_argument("--concurrency", type=_positive_int, default=32)
    enrich.add_argument("--rate", type=float, help="at most this many requests per second")
    enrich.add_argument("--journal", help="SQLite checkpoint: makes the run resumable")
    enrich.add_argument(
        "--retry-failed", action="store_true", help="retry items the journal says failed"
    )
    enrich.add_argument("--output", help="append per-item results to this JSONL file")

    sandbox = sub.add_parser("sandbox", help="run a local Zyntro sandbox (dev server)")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=0, help="0 picks a free port")
    sandbox.add_argument("--contacts", type=int, default=100, help="contacts to seed")
    sandbox.add_argument("--faults", default="", help='e.g. "rate_limit=0.05,server_error=0.02"')
    sandbox.add_argument("--seed", type=int, default=0)

    demo = sub.add_parser("demo", help="bulk-enrich contacts in an embedded sandbox (offline)")
    demo.add_argument("--contacts", type=_positive_int, default=2000)
    demo.add_argument("--concurrency", type=_positive_int, default=64)
    demo.add_argument(
        "--faults",
        default="rate_limit=0.01,server_error=0.01,bad_gateway_html=0.01,drop_after_commit=0.01,"
        "retry_after=0.2",
        help='fault mix of the sandbox, or "none"',
    )
    demo.add_argument("--seed", type=int, default=0)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


async def _dispatch(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.command == "fetch":
        return await cmd_fetch(args, out)
    if args.command == "add-profile":
        return await cmd_add_profile(args, out)
    if args.command == "enrich":
        return await cmd_enrich(args, out, err)
    if args.command == "sandbox":
        return await cmd_sandbox(args, out)
    return await cmd_demo(args, out, err)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    out, err = sys.stdout, sys.stderr
    if args.verbose:
        handler = logging.StreamHandler(err)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger = logging.getLogger("zyntro_async")
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG if args.verbose > 1 else logging.INFO)
    try:
        if args.env_file:
            load_env_file(args.env_file)
        if args.command == "add-profile":
            args.payload_obj = read_payload(args)
        if args.command == "enrich":
            open_enrich_files(args)
        return asyncio.run(_dispatch(args, out, err))
    except (UsageError, ConfigurationError, JournalError) as exc:
        err.write(f"zyntro-async: error: {exc}\n")
        return EXIT_USAGE
    except ZyntroError as exc:
        err.write(f"zyntro-async: {type(exc).__name__}: {exc}\n")
        return EXIT_FAILURES
    except KeyboardInterrupt:
        err.write("zyntro-async: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. piped into `head`
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
