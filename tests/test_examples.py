"""Every program in examples/ runs, offline, and prints what it says it does.

Each runs as a user would run it (``python examples/<name>.py``, or ``python -m pytest`` on
the plugin example) in a process of its own, with no ``ZYNTRO_*`` variable inherited.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.test_plugin_bare_project import pytest_asyncio_version

# Each test starts Python processes (a few seconds apiece): CI runs them, -m 'not slow' skips.
pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

#: Per program: patterns its output must match, in order, each on a line of its own.
EXPECTED: dict[str, list[str]] = {
    "quick_start.py": [
        r"contact: Jane Doe, tags \['lead', 'webinar'\]",
        r"notes: \['Asked for a demo'\]",
        r"company: Acme Corp",
        r"added profile \d+ from Clearbit: \{'job_title': 'VP of Marketing'\}",
        r"unknown contact: NOT_FOUND",
    ],
    "bulk_add_from_csv.py": [
        r"rows: 201, added: 200, failed: 1",
        r"  contacts\.csv:202: NOT_FOUND",
        r"profiles stored: 200",
    ],
    "streaming_fetch.py": [
        r"fetched 300 of 300 contacts, 0 failed",
        r"retries: [1-9]\d*",
        r"by stage: (\w+ \d+, )*\w+ \d+",
    ],
    "enrichment_pipeline.py": [
        r"  progress: 31/31",
        r"first run: 31 contacts, 20 enriched, 10 skipped \(.*\), 1 failed",
        r"  [\w-]+: ENRICHER_FAILED \(the enrichment API answered 500\)",
        r"second run: 31 contacts, 0 enriched, 30 skipped \(.*\), 1 failed",
        r"contacts with a profile from ExampleEnricher: 20",
    ],
    "resumable_run.py": [
        r"first run: stopped, (\d+) added, 0 failed",
        r"second run: (\d+) skipped as done, (\d+) added \((\d+) of them .*\), 0 failed",
        r"check: OK, 500 of 500 hold one profile",
    ],
}


def resumed_run_adds_every_item_once(out: str) -> None:
    first = re.search(r"first run: stopped, (\d+) added", out)
    second = re.search(r"second run: (\d+) skipped as done, (\d+) added", out)
    assert first is not None
    assert second is not None
    assert int(first[1]) >= 100  # at least the results read before the stop
    assert int(second[1]) == int(first[1])
    assert int(second[1]) + int(second[2]) == 500


#: Per program: more checks of its output.
CHECKS: dict[str, tuple[Callable[[str], None], ...]] = {
    "resumable_run.py": (resumed_run_adds_every_item_once,),
}

#: Plugins this environment has and a project of a user's would not need.
_OTHER_PLUGINS = ("-p", "no:cacheprovider", "-p", "no:anyio", "-p", "no:hypothesispytest")


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZYNTRO_", "PYTEST_"))}
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_example_is_tested() -> None:
    programs = {p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith(("_", "test_"))}
    assert programs == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_example_runs(name: str, tmp_path: Path) -> None:
    done = run([str(EXAMPLES / name)], cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    at = 0
    for pattern in EXPECTED[name]:
        found = next((i for i in range(at, len(lines)) if re.fullmatch(pattern, lines[i])), None)
        assert found is not None, f"{pattern!r} not in the output, in order:\n{done.stdout}"
        at = found + 1
    assert "api_key" not in done.stdout
    assert "developer_secret" not in done.stdout
    for check in CHECKS.get(name, ()):
        check(done.stdout)


def test_the_plugin_example_runs_with_this_repository_s_configuration() -> None:
    # asyncio_mode = "auto" (pyproject.toml), run from the repository's root.
    done = run(
        ["-m", "pytest", *_OTHER_PLUGINS, "-q", "examples/test_with_the_plugin.py"],
        cwd=EXAMPLES.parent,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b4 passed in\b", done.stdout), done.stdout


def test_the_plugin_example_runs_in_a_project_with_no_configuration(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "test_with_the_plugin.py", tmp_path)
    quiet = pytest_asyncio_version() >= (1, 1)  # older ones warn at start-up, plugin or not
    done = run(
        [
            "-m",
            "pytest",
            *_OTHER_PLUGINS,
            "-c",
            os.devnull,
            "--rootdir",
            str(tmp_path),
            *(("-W", "error::pytest.PytestDeprecationWarning") if quiet else ()),
            "test_with_the_plugin.py",
        ],
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"mode=(Mode\.)?strict", done.stdout, re.IGNORECASE), done.stdout
    assert re.search(r"\b4 passed in\b", done.stdout), done.stdout
    if quiet:
        assert "Deprecation" not in done.stdout + done.stderr
