"""The argument parser: one subcommand per job, each dispatched with ``set_defaults(func=)``.

Global flags (``-v``, ``--env-file``) work on either side of the subcommand, as git's and
aws's do. A usage error is one line and exit code 2.
"""

from __future__ import annotations

import argparse
import math
from typing import Any, NoReturn

from .._exceptions import ConfigurationError
from .._shard import Shard, parse_shard
from .._version import __version__
from ._commands import cmd_add_profile, cmd_demo, cmd_fetch, cmd_sandbox
from ._enrich import cmd_enrich

DEMO_FAULTS = (
    "rate_limit=0.01,server_error=0.01,bad_gateway_html=0.01,drop_after_commit=0.01,retry_after=0.2"
)


class Formatter(argparse.HelpFormatter):
    """``--help`` with each option's default, where it has one worth saying."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            action.option_strings
            and default is not None
            and default is not False
            and default not in ("", argparse.SUPPRESS)
            and "%(default)" not in text
            and "default" not in text
        ):
            text += " (default: %(default)s)"
        return text


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (usage stays behind ``--help``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


VERBOSE_HELP = "log retries and recoveries (-v), and every request with its milliseconds (-vv)"


def _global_flags(
    parser: argparse.ArgumentParser, *, subcommand: bool, verbose_help: str = VERBOSE_HELP
) -> None:
    # Given after the subcommand, a flag lands in the subcommand's namespace, which
    # argparse copies over the main one: SUPPRESS keeps an absent flag from resetting it,
    # and -v counts under its own name so `-v enrich -v` adds up.
    parser.add_argument(
        "--env-file",
        metavar="FILE",
        default=argparse.SUPPRESS if subcommand else None,
        help="read ZYNTRO_* settings from this file (the environment's take precedence)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        dest="verbose_after" if subcommand else "verbose",
        default=argparse.SUPPRESS if subcommand else 0,
        help=verbose_help,
    )


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def positive_int(text: str) -> int:
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more (got {value})")
    return value


def count(text: str) -> int:
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more (got {value})")
    return value


def port(text: str) -> int:
    value = _integer(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a TCP port, 0 to 65535 (got {value})")
    return value


def rate(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(
            f"must be more than 0 requests per second (got {text}); leave it out for no limit"
        )
    return value


def shard(text: str) -> Shard:
    try:
        return parse_shard(text)
    except ConfigurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def faults(text: str) -> str:
    from ..testing import Faults

    if text.strip().lower() not in ("", "none"):
        try:
            Faults.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def build_parser(prog: str = "zyntro-async") -> Parser:
    parser = Parser(
        prog=prog,
        description="Zyntro CRM from the command line. Credentials come from the ZYNTRO_* "
        "environment variables (or --env-file), never from flags.",
        epilog="Exit codes: 0 all succeeded, 1 some items failed, 2 usage or configuration "
        "error, 3 stopped early on a failure every item would hit, 130 Ctrl-C, 143 SIGTERM.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _global_flags(parser, subcommand=False)
    sub = parser.add_subparsers(metavar="COMMAND", required=True)

    def command(name: str, help: str, verbose: str = VERBOSE_HELP) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        _global_flags(p, subcommand=True, verbose_help=verbose)
        return p

    contact = "the contact's id (a UUID, or a database row number)"

    fetch = command("fetch", "show one contact")
    fetch.set_defaults(func=cmd_fetch)
    fetch.add_argument("contact_id", help=contact)
    for flag in ("notes", "entity", "profile", "signals"):
        fetch.add_argument(f"--{flag}", action="store_true", help=f"include the {flag}")
    fetch.add_argument("--json", action="store_true", help="machine-readable output")

    add = command("add-profile", "attach a profile record to a contact")
    add.set_defaults(func=cmd_add_profile)
    add.add_argument("contact_id", help=contact)
    add.add_argument("--source", required=True, help="the profile source label")
    given = add.add_mutually_exclusive_group(required=True)
    given.add_argument("--payload", help="the profile payload: a JSON object or array")
    given.add_argument(
        "--payload-file", metavar="FILE", help="a file holding the payload JSON (- for stdin)"
    )
    add.add_argument("--json", action="store_true", help="machine-readable output")

    enrich = command("enrich", "bulk-add profiles from a .jsonl or .csv file")
    enrich.set_defaults(func=cmd_enrich)
    enrich.add_argument("input", help="a .jsonl or .csv file, or - for JSONL on stdin")
    enrich.add_argument(
        "--format",
        choices=("jsonl", "csv"),
        help="the input's format (default: from the file name's extension; - is jsonl)",
    )
    enrich.add_argument("--source", help="profile source for lines without one (CSV: required)")
    enrich.add_argument(
        "--concurrency", type=positive_int, default=32, metavar="N", help="requests in flight"
    )
    enrich.add_argument(
        "--rate",
        type=rate,
        metavar="PER_SECOND",
        help="at most this many requests a second (default: no limit but the server's own)",
    )
    enrich.add_argument(
        "--shared-quota",
        metavar="URL",
        help="pace with every process on this API key through this Redis (redis://...; "
        "--rate is then the fleet's total). Prefer ZYNTRO_SHARED_QUOTA: a password in "
        "argv is visible to other users",
    )
    enrich.add_argument(
        "--shard",
        type=shard,
        metavar="I/N",
        help="take only shard I of N (0 <= I < N) of the input, split by item key: N "
        "processes given the same input share it, none twice (also ZYNTRO_SHARD; in a "
        'Kubernetes Indexed Job: --shard "$JOB_COMPLETION_INDEX/N"). Give each shard '
        "its own --journal",
    )
    enrich.add_argument(
        "--journal",
        metavar="FILE|URL",
        help="checkpoint for resumable runs: a SQLite file, or a postgresql:// URL shared "
        "by several workers (password: PGPASSWORD or ~/.pgpass keeps it out of argv)",
    )
    enrich.add_argument(
        "--retry-failed", action="store_true", help="retry items the journal says failed"
    )
    enrich.add_argument(
        "--output",
        metavar="FILE",
        help="per-item results (JSONL), one line per input line; each run rewrites it",
    )

    sandbox = command(
        "sandbox",
        "run a local Zyntro sandbox (dev server) until Ctrl-C",
        verbose="accepted for symmetry: the sandbox logs no requests (-vv names the event loop)",
    )
    sandbox.set_defaults(func=cmd_sandbox)
    sandbox.add_argument("--host", default="127.0.0.1", help="bind address")
    sandbox.add_argument("--port", type=port, default=0, help="TCP port; 0 picks a free one")
    sandbox.add_argument("--contacts", type=count, default=100, help="contacts to seed")
    sandbox.add_argument(
        "--faults",
        type=faults,
        default="",
        help='faults to inject, e.g. "rate_limit=0.05,server_error=0.02" (default: none)',
    )
    sandbox.add_argument(
        "--seed", type=_integer, default=0, help="seeds contacts, faults and credentials"
    )
    sandbox.add_argument("--ids-file", metavar="FILE", help="write the seeded contact ids here")
    sandbox.add_argument(
        "--dump-profiles", metavar="FILE", help="write stored profiles here (JSON) on exit"
    )

    demo = command("demo", "bulk-enrich contacts in an embedded sandbox (offline)")
    demo.set_defaults(func=cmd_demo)
    demo.add_argument("--contacts", type=positive_int, default=2000, help="contacts to enrich")
    demo.add_argument(
        "--concurrency", type=positive_int, default=64, metavar="N", help="requests in flight"
    )
    demo.add_argument(
        "--faults", type=faults, default=DEMO_FAULTS, help='fault mix of the sandbox, or "none"'
    )
    demo.add_argument(
        "--seed", type=_integer, default=0, help="seeds the sandbox's contacts and faults"
    )
    return parser
