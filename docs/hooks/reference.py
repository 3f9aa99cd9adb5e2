"""MkDocs hook: the reference pages that are generated from the code at build time.

A page holding a marker line ``<!-- generated: NAME -->`` gets the marker replaced by
what the code says now, so the reference cannot drift from it:

- ``api``: one ``::: zyntro_async.NAME`` block (mkdocstrings) per name in ``__all__``,
  grouped by the module that defines it; then each public submodule (``SUBMODULES``): its
  docstring, a link to each of its names the top level documents already, and a block for
  each of the others;
- ``testing-api``: the same for ``zyntro_async.testing``;
- ``error-classes`` and ``error-messages``: the exception tree (``zyntro_async.errors``)
  with each class's code and where to import it from, and the documented API messages
  with the code and class each maps to;
- ``exit-codes`` and ``cli``: the command line's exit codes (from ``_cli._common``) and
  every command's usage, arguments, defaults and help (from its argparse parser).

It also drops the Sphinx roles (``:class:``) that docstrings use from the rendered HTML.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import io
import re
import tokenize
from collections.abc import Callable
from typing import Any

MARKER = re.compile(r"^<!-- generated: ([a-z-]+) -->$", re.MULTILINE)

#: The module that defines a public name -> the section it is listed under.
API_SECTIONS = {
    "_client": "The client",
    "_config": "Settings",
    "_retry": "Settings",
    "_models": "Models",
    "_bulk": "Bulk runs",
    "_results": "Bulk runs",
    "_pipelines": "Bulk runs",
    "_exceptions": "Errors",
}

#: The public submodules, each one family of names complete in one place, in page order.
SUBMODULES = (
    "zyntro_async.models",
    "zyntro_async.bulk",
    "zyntro_async.retries",
    "zyntro_async.errors",
)


def _api(module_name: str, *, sections: dict[str, str] | None = None) -> str:
    module = importlib.import_module(module_name)
    grouped: dict[str, list[str]] = {}
    for name in module.__all__:
        if name.startswith("__"):
            continue
        value = getattr(module, name)
        defined_in = getattr(value, "__module__", module_name) or module_name
        if not inspect.isclass(value) and not inspect.isfunction(value):
            defined_in = module_name  # constants and aliases: listed with the module
        short = defined_in.rsplit(".", 1)[-1]
        section = (sections or {}).get(short, "Other names") if sections else ""
        grouped.setdefault(section, []).append(name)
    out: list[str] = []
    order = list(dict.fromkeys([*(sections or {}).values(), "Other names", ""]))
    for section in sorted(grouped, key=order.index):
        if section:
            out.append(f"## {section}\n")
        for name in grouped[section]:
            out.append(f"::: {module_name}.{name}\n")
    return "\n".join(out)


def _submodule(module_name: str) -> str:
    """A public submodule: its docstring, then its names (those the top level documents
    already as links to them, so each object is documented once)."""
    top = importlib.import_module("zyntro_async")
    module = importlib.import_module(module_name)
    out = [
        f"::: {module_name}",
        "    options:",
        "      members: false",
        "      show_root_full_path: true",
        "      heading_level: 2",
        "",
    ]
    shared = [
        name
        for name in module.__all__
        if name in top.__all__ and getattr(top, name) is getattr(module, name)
    ]
    if shared:
        links = ", ".join(f"[`{name}`](#zyntro_async.{name})" for name in shared)
        out.append(f"Also here, documented above: {links}.\n")
    out += [f"::: {module_name}.{name}\n" for name in module.__all__ if name not in shared]
    return "\n".join(out)


def _api_page() -> str:
    sections = [_api("zyntro_async", sections=API_SECTIONS)]
    return "\n".join(sections + [_submodule(name) for name in SUBMODULES])


def _error_classes() -> str:
    import zyntro_async
    from zyntro_async import errors

    public = {getattr(errors, n) for n in errors.__all__ if inspect.isclass(getattr(errors, n))}
    rows = [
        "| class | is a | `.code` | import from | what it means |",
        "|---|---|---|---|---|",
    ]

    def walk(cls: type, depth: int) -> None:
        bases = ", ".join(f"`{b.__name__}`" for b in cls.__bases__ if b is not object)
        doc = inspect.getdoc(cls) or ""
        first = " ".join(doc.split("\n\n")[0].split())
        first = re.sub(r":(?:class|func|meth|attr|exc):`~?([^`]+)`", r"`\1`", first)
        code = getattr(cls, "code", "")
        indent = "&nbsp;&nbsp;" * depth
        where = "zyntro_async" if cls.__name__ in zyntro_async.__all__ else errors.__name__
        rows.append(f"| {indent}`{cls.__name__}` | {bases} | `{code}` | `{where}` | {first} |")
        for sub in sorted(cls.__subclasses__(), key=_source_line):
            if sub in public and sub.__bases__[0] is cls:
                walk(sub, depth + 1)

    walk(errors.ZyntroError, 0)
    return "\n".join(rows) + "\n"


def _source_line(cls: type) -> int:
    try:
        return inspect.getsourcelines(cls)[1]
    except (OSError, TypeError):
        return 0


def _error_messages() -> str:
    from zyntro_async import _policy

    rows = [
        "| endpoint | message (verbatim from the API docs) | `.code` | class |",
        "|---|---|---|---|",
    ]
    for endpoint in ("fetchContact", "addProfileToContact"):
        for row in _policy.CODES:
            for message in row.messages.get(endpoint, ()):
                name = row.error.__name__
                rows.append(f"| `{endpoint}` | {message} | `{row.code}` | `{name}` |")
    rows.append("| either | any other message (kept in `.messages`) | `UNKNOWN` | `APIError` |")
    return "\n".join(rows) + "\n"


def _exit_codes() -> str:
    from zyntro_async._cli import _common

    source = inspect.getsource(_common)
    rows = ["| exit code | name | meaning |", "|---|---|---|"]
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    for i, tok in enumerate(tokens):
        if tok.type == tokenize.NAME and tok.string.startswith("EXIT_") and tok.start[1] == 0:
            comment = next(
                (
                    t.string
                    for t in tokens[i:]
                    if t.type == tokenize.COMMENT and t.start[0] == tok.start[0]
                ),
                "#",
            )
            value = getattr(_common, tok.string)
            rows.append(f"| {value} | `{tok.string}` | {comment.lstrip('# ')} |")
    return "\n".join(rows) + "\n"


def _flags(action: argparse.Action) -> str:
    if action.option_strings:
        names = ", ".join(f"`{s}`" for s in action.option_strings)
        if action.nargs != 0:
            names += f" `{action.metavar or action.dest.upper()}`"
        return names
    return f"`{action.metavar or action.dest}`"


def _default(action: argparse.Action) -> str:
    if action.nargs == 0 or action.default in (None, argparse.SUPPRESS) or action.required:
        return "required" if action.required else ""
    if action.default == "":
        return '`""`'
    return f"`{action.default}`"


def _cli() -> str:
    from zyntro_async._cli._parser import build_parser

    parser = build_parser("zyntro-async")
    out = ["```text", parser.format_usage().strip(), "```", ""]
    out.append(_arguments(parser))
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in sub.choices.items():
        out += [f"## `{name}`", "", command.description or "", "", "```text"]
        out += [command.format_usage().strip(), "```", "", _arguments(command)]
    return "\n".join(out) + "\n"


def _arguments(parser: argparse.ArgumentParser) -> str:
    rows = ["| argument | default | what |", "|---|---|---|"]
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        what = (action.help or "").replace("|", "\\|")
        if action.choices and not isinstance(action, argparse._SubParsersAction):
            what += f" (one of: {', '.join(map(str, action.choices))})"
        rows.append(f"| {_flags(action)} | {_default(action)} | {what} |")
    return "\n".join(rows) + "\n"


GENERATORS: dict[str, Callable[[], str]] = {
    "api": _api_page,
    "testing-api": lambda: _api("zyntro_async.testing"),
    "error-classes": _error_classes,
    "error-messages": _error_messages,
    "exit-codes": _exit_codes,
    "cli": _cli,
}


def on_page_markdown(markdown: str, **_: Any) -> str:
    def expand(match: re.Match[str]) -> str:
        generate = GENERATORS.get(match.group(1))
        return match.group(0) if generate is None else generate()  # another hook's marker

    return MARKER.sub(expand, markdown)


ROLE = re.compile(r":(?:class|func|meth|attr|mod|data|exc|obj):(?=<code>)")


def on_page_content(html: str, **_: Any) -> str:
    return ROLE.sub("", html)
