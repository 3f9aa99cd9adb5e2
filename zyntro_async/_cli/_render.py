"""What the command line shows: contacts, progress, run summaries, failures by error code.

Everything but results goes to stderr through one :class:`Console`, so a log line or a
message never lands in the middle of the progress bar.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any, TextIO

from .._models import ContactDetails, Profile
from .._protocol import contact_id_of
from .._results import BulkReport, BulkResult, Progress

PLAIN_PROGRESS_EVERY = 5.0  # seconds between progress lines when stderr is not a terminal
EXAMPLE_CHARS = 200


def dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)


class Console:
    """stderr for messages, log lines and the progress bar (through the bar when one shows)."""

    def __init__(self, err: TextIO) -> None:
        self.err = err
        self._bar: Any = None

    @property
    def is_terminal(self) -> bool:
        try:
            return self.err.isatty()
        except ValueError:  # closed
            return False

    @property
    def can_draw(self) -> bool:
        """A terminal that reports its size: a bar needs rows and columns to draw in
        (some CI runners and fresh pseudo-terminals report 0 x 0, where tqdm shows nothing)."""
        if not self.is_terminal:
            return False
        try:
            size = os.get_terminal_size(self.err.fileno())
        except (OSError, ValueError):
            return False
        return size.lines > 0 and size.columns > 0

    def line(self, text: str) -> None:
        """Write one line; with a bar showing, above it (tqdm clears and redraws it)."""
        if self._bar is not None:
            self._bar.write(text, file=self.err)
        else:
            self.err.write(text + "\n")
            self.err.flush()

    def attach(self, bar: Any) -> None:
        self._bar = bar

    def detach(self) -> None:
        self._bar = None


class ConsoleLogHandler(logging.Handler):
    """Log records as console lines (so ``-v`` output and the bar stay readable)."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.console.line(self.format(record))
        except Exception:  # pragma: no cover - logging must never break a run
            self.handleError(record)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class ProgressView:
    """An ``on_progress`` callback: a live bar on a terminal that reports its size (tqdm, if
    installed), plain lines every few seconds otherwise.

    ``invalid`` counts input lines that never became requests (the caller adds to it), so
    the count reaches the real total. The rate and the ETA count only items processed in
    this run: items skipped as done in an earlier run cost almost nothing.

    In a sharded run the count is of input lines, every shard's: the shard's own items
    done, and the lines passed over as other shards' (the library's count of items,
    plus ``passed``: lines that were not items, which shard 0 reports); the ETA is the
    library's estimate for the shard's own items.
    """

    def __init__(self, console: Console, total: int | None) -> None:
        self.invalid = 0
        self.passed = 0
        self._console = console
        self._total = total
        self._last_line: float | None = None
        self._last_done = -1
        self._bar: Any = None
        if console.can_draw:
            try:
                from tqdm import tqdm  # type: ignore[import-untyped,import-not-found,unused-ignore]
            except ImportError:
                return
            shape = "{l_bar}{bar}| {n_fmt}/{total_fmt}" if total is not None else "{n_fmt}"
            self._bar = tqdm(
                total=total,
                unit="item",
                file=console.err,
                leave=False,
                dynamic_ncols=True,
                bar_format=shape + " [{elapsed}{postfix}]",
            )
            console.attach(self._bar)

    def _numbers(self, p: Progress) -> tuple[int, float, float | None]:
        done = p.done + self.invalid + p.other_shards + self.passed
        rate = (p.ok + p.failed) / p.elapsed if p.elapsed > 0 else 0.0
        eta = None
        if p.shard is not None:
            eta = 0.0 if self._total is not None and done >= self._total else p.eta
        elif self._total is not None:
            remaining = max(0, self._total - done)
            if remaining == 0:
                eta = 0.0
            elif rate > 0:
                eta = remaining / rate
        return done, rate, eta

    def __call__(self, p: Progress) -> None:
        done, rate, eta = self._numbers(p)
        if self._bar is not None:
            parts = [f"ok={p.ok}", f"failed={p.failed}"]
            if self.invalid:
                parts.append(f"invalid={self.invalid}")
            parts += [f"skipped={p.skipped}", f"in flight={p.in_flight}", f"{rate:.0f}/s"]
            if p.shard is not None:
                parts.insert(0, f"shard {p.shard[0]}/{p.shard[1]}")
                parts.append(f"other shards={p.other_shards + self.passed}")
            if eta is not None:
                parts.append(f"eta {_duration(eta)}")
            if p.throttled:
                parts.append("throttled")
            self._bar.n = done
            self._bar.set_postfix_str(", ".join(parts), refresh=False)
            self._bar.refresh()
            return
        if done == 0 and p.in_flight == 0:
            return  # nothing under way yet: a run that fails to start says why, alone
        now = time.monotonic()
        complete = self._total is not None and done >= self._total
        recent = self._last_line is not None and now - self._last_line < PLAIN_PROGRESS_EVERY
        if (recent and not complete) or done == self._last_done:
            return
        self._last_line, self._last_done = now, done
        total = f"/{self._total}" if self._total is not None else ""
        invalid = f", {self.invalid} invalid" if self.invalid else ""
        shard = others = ""
        if p.shard is not None:
            shard = f"shard {p.shard[0]}/{p.shard[1]} "
            others = f", {p.other_shards + self.passed} other shards'"
        self._console.line(
            f"{shard}progress: {done}{total} done ({p.ok} ok, {p.failed} failed{invalid}, "
            f"{p.skipped} skipped, {p.in_flight} in flight"
            f"{', throttled' if p.throttled else ''}{others}), {rate:.0f}/s"
            + (f", eta {_duration(eta)}" if eta is not None else "")
        )

    def close(self) -> None:
        if self._bar is not None:
            self._console.detach()
            self._bar.close()
            self._bar = None


class FailureSummary:
    """Failures counted by error code, with the first example of each."""

    INVALID = "invalid input"

    def __init__(self) -> None:
        self._buckets: dict[str, list[Any]] = {}  # label -> [count, example]

    def add(self, label: str, example: str) -> None:
        bucket = self._buckets.get(label)
        if bucket is None:
            self._buckets[label] = [1, example[:EXAMPLE_CHARS]]
        else:
            bucket[0] += 1

    def lines(self, limit: int = 10) -> list[str]:
        if not self._buckets:
            return []
        ordered = sorted(self._buckets.items(), key=lambda item: -item[1][0])
        lines = ["failures by error code:"]
        for label, (count, example) in ordered:
            lines.append(f"  {label} × {count}, e.g. {example}")  # noqa: RUF001
        if len(ordered) > limit:
            lines[limit + 1 :] = [f"  ... and {len(ordered) - limit} more codes"]
        return lines


def summary_table(
    report: BulkReport,
    *,
    invalid: int | None = None,
    failed_before: int = 0,
    other_shards: int | None = None,
) -> str:
    """The end-of-run numbers. ``invalid``: input lines that never became requests;
    ``failed_before``: items the journal says failed before for their own reasons (not
    retried), which the report counts as failed; ``other_shards``: in a sharded run, the
    lines passed over as other shards' (not in "items"). "skipped" means only: done in an
    earlier run."""
    rows: list[tuple[str, object]] = [
        ("items", report.total + (invalid or 0)),
        ("succeeded", report.succeeded),
        ("failed", report.failed - failed_before),
    ]
    if invalid is not None:
        rows.append(("invalid", invalid))
    if failed_before:
        rows.append(("failed before", failed_before))
    rows.append(("skipped", report.skipped))
    if other_shards is not None:
        rows.append(("other shards", other_shards))
    rows += [
        ("retries", report.retries),
        *([("retries abandoned", report.retries_abandoned)] if report.retries_abandoned else []),
        ("recovered", report.recovered),
        ("elapsed", f"{report.elapsed:.1f} s"),
        ("throughput", f"{report.rate:.0f} items/s"),
    ]
    if report.stopped:
        rows.append(("stopped", report.stopped))
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"  {label:<{width}}  {value}" for label, value in rows)


def result_record(result: BulkResult[Any], line: int | None) -> dict[str, Any]:
    """One results-file line: identifiers and outcome, never the payload."""
    request = result.request
    record: dict[str, Any] = {"line": line, "contact_id": contact_id_of(request)}
    if getattr(request, "source", None) is not None:
        record["source"] = request.source
    if getattr(request, "key", None) is not None:
        record["key"] = request.key
    record["ok"] = result.ok
    if isinstance(result.value, Profile):
        record["profile_id"] = result.value.id
    record.update(skipped=result.skipped, recovered=result.recovered, attempts=result.attempts)
    if getattr(result, "unknown", False):  # sent, never confirmed: a re-run reconciles it
        record["unknown"] = True
    if result.error is not None:
        record["error"] = {"code": result.error.code, "message": str(result.error)}
    return record


def details_json(details: ContactDetails) -> dict[str, Any]:
    data: dict[str, Any] = details.to_dict()
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
        lines.extend(f"  - #{p.id} {p.source}: {dump(p.payload)[:100]}" for p in details.profiles)
    if details.signals is not None:
        lines.append(f"Signals: {dump(details.signals)[:200]}")
    return "\n".join(lines)
