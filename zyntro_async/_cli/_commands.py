"""The commands but ``enrich``: ``fetch``, ``add-profile``, ``sandbox``, ``demo``.

Each is ``cmd_x(args, ctx) -> exit code``: checks and file reads first, synchronously,
then the async part through :func:`._signals.run`.
"""

from __future__ import annotations

import argparse
import errno
import json
import sys
from collections.abc import Callable, Coroutine, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._client import ZyntroClient
from .._exceptions import ZyntroError
from .._policy import php_empty
from .._results import ProfileRequest
from . import _env, _signals
from ._common import EXIT_FAILED, EXIT_OK, Context, UsageError, check_writable
from ._render import (
    FailureSummary,
    ProgressView,
    details_json,
    dump,
    render_details,
    summary_table,
)

if TYPE_CHECKING:
    from ..testing import Faults


def _call(
    settings: Mapping[str, str],
    ctx: Context,
    call: Callable[[ZyntroClient], Coroutine[Any, Any, str]],
) -> int:
    """One API call: print its output, or explain its failure in one line."""

    async def command() -> int:
        try:
            async with _env.make_client(settings) as client:
                text = await call(client)
        except ZyntroError as exc:
            message, code = _env.describe(exc, _env.base_url(settings))
            ctx.console.line(f"zyntro-async: error: {message}")
            return code
        ctx.out.write(text + "\n")
        return EXIT_OK

    return _signals.run(command, ctx.console)


def cmd_fetch(args: argparse.Namespace, ctx: Context) -> int:
    settings = _env.load_settings(args.env_file)

    async def call(client: ZyntroClient) -> str:
        details = await client.fetch_contact(
            args.contact_id,
            include_notes=args.notes,
            include_entity=args.entity,
            include_profile=args.profile,
            include_signals=args.signals,
        )
        return dump(details_json(details)) if args.json else render_details(details)

    return _call(settings, ctx, call)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_payload(args: argparse.Namespace) -> Any:
    """The add-profile payload, from --payload or --payload-file (``-``: standard input): a
    non-empty JSON object or array (what the API takes)."""
    flag = "--payload-file" if args.payload_file is not None else "--payload"
    if args.payload_file is not None:
        name = "standard input" if args.payload_file == "-" else args.payload_file
        try:
            if args.payload_file == "-":
                text = sys.stdin.buffer.read().decode("utf-8")
            else:
                text = Path(args.payload_file).read_bytes().decode("utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read --payload-file {name}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise UsageError(f"--payload-file {name} is not UTF-8 text") from None
    else:
        text = args.payload
    try:
        payload = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise UsageError(f"{flag}: the JSON is nested too deeply") from None
    except ValueError as exc:
        raise UsageError(f"{flag} is not valid JSON ({exc})") from None
    if not isinstance(payload, (dict, list)):
        raise UsageError(f"{flag} must be a JSON object or array, not {type(payload).__name__}")
    if not payload:
        raise UsageError(f"{flag} is empty: the API needs at least one field")
    return payload


def cmd_add_profile(args: argparse.Namespace, ctx: Context) -> int:
    if php_empty(args.source):  # what the API calls missing ("", "0"); "  " is a source
        raise UsageError("--source is empty")
    payload = read_payload(args)
    settings = _env.load_settings(args.env_file)

    async def call(client: ZyntroClient) -> str:
        profile = await client.add_profile_to_contact(args.contact_id, payload, args.source)
        if args.json:
            return dump(profile.to_dict())
        return f"added profile #{profile.id} ({profile.source}) to {args.contact_id}"

    return _call(settings, ctx, call)


def faults(spec: str) -> Faults:
    """A ``--faults`` spec (checked by the parser already); "" or "none": no faults."""
    from ..testing import Faults

    return Faults() if spec.strip().lower() in ("", "none") else Faults.parse(spec)


def cmd_sandbox(args: argparse.Namespace, ctx: Context) -> int:
    from ..testing import serve

    check_writable("--ids-file", args.ids_file)
    check_writable("--dump-profiles", args.dump_profiles)

    async def command() -> int:
        try:
            await serve(
                host=args.host,
                port=args.port,
                contacts=args.contacts,
                faults=faults(args.faults),
                seed=args.seed,
                out=ctx.out,
                ids_file=args.ids_file,
                dump_profiles=args.dump_profiles,
            )
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UsageError(
                    f"port {args.port} is already in use on {args.host}: choose another "
                    "--port (0 picks a free one)"
                ) from None
            where = f"{args.host}:{args.port}"
            raise UsageError(f"cannot serve on {where}: {exc.strerror or exc}") from None
        return EXIT_OK  # pragma: no cover - serve() runs until cancelled

    code = _signals.run(command, ctx.console, on_signal=EXIT_OK)
    if args.dump_profiles:
        ctx.console.line(f"zyntro-async: profiles written to {args.dump_profiles}")
    return code


def cmd_demo(args: argparse.Namespace, ctx: Context) -> int:
    """The main job, offline: seed a sandbox, bulk-enrich every contact, check the result."""
    return _signals.run(lambda: _demo(args, ctx), ctx.console)


async def _demo(args: argparse.Namespace, ctx: Context) -> int:
    from ..testing import ZyntroSandbox

    source, out = "zyntro-async demo", ctx.out
    async with ZyntroSandbox(
        faults=faults(args.faults), seed=args.seed, record_requests=0
    ) as sandbox:
        ids = sandbox.seed(args.contacts)
        before = {cid: len(sandbox.profiles(cid)) for cid in ids}
        out.write(
            f"sandbox at {sandbox.base_url}: {len(ids)} contacts, faults: {args.faults or 'none'}\n"
        )
        out.flush()

        def requests() -> Iterator[ProfileRequest]:
            for n, cid in enumerate(ids):
                payload = {
                    "job_title": ("VP Marketing", "Head of Sales", "CTO", "Founder")[n % 4],
                    "company_size": ("1-10", "11-50", "51-200", "200-500")[n % 4],
                    "linkedin_url": f"https://linkedin.com/in/demo-{n}",
                    "technologies_used": ["HubSpot", "Salesforce"][: 1 + n % 2],
                }
                yield ProfileRequest(cid, payload, source)

        view = ProgressView(ctx.console, len(ids))
        creds = sandbox.credentials
        try:
            async with ZyntroClient(
                api_key=creds["api_key"],
                developer_secret=creds["developer_secret"],
                org_id=creds["org_id"],
                member_id=creds["member_id"],
                base_url=sandbox.base_url,
                trust_env=False,  # the embedded sandbox is on this machine: never via a proxy
            ) as client:
                report = await client.bulk_add_profiles(
                    requests(), concurrency=args.concurrency, on_progress=view, total=len(ids)
                )
        finally:
            view.close()
        out.write(summary_table(report) + "\n")
        out.flush()
        summary = FailureSummary()
        for failure in report.failures:
            if failure.error is not None:
                summary.add(failure.error.code, str(failure.error))
        for line in summary.lines():
            ctx.console.line(line)
        added = {cid: len(sandbox.profiles(cid)) - before[cid] for cid in ids}
        failed = {r.request.contact_id for r in report.failures}
        exact = all(added[cid] == (0 if cid in failed else 1) for cid in ids)
        out.write(
            f"  check       {'OK' if exact else 'MISMATCH'}: "
            f"{sum(1 for v in added.values() if v == 1)} contacts hold exactly one new profile, "
            f"{sum(1 for v in added.values() if v > 1)} hold more, {len(failed)} failed\n"
        )
    return EXIT_OK if exact and report.failed == 0 else EXIT_FAILED
