"""Every Python sample in the README and the docs is checked: all of them pass
``mypy --strict`` as a user's code would, and the quick start and the Ctrl-C recipe run
verbatim against a sandbox started with the command the docs give.

A fragment (``await client.fetch_contact(contact_id)``) is checked inside an ``async def``,
with the few names the surrounding prose introduces (``client``, ``contact_id``, ...)
declared with their types in a prelude; a whole program is checked as written.
"""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .conftest import ROOT, Sample, all_samples, tagged, unavailable

#: The names samples use without defining them, as the prose around them introduces them.
PRELUDE = """\
from typing import Any

from zyntro_async import ProfileRequest, ZyntroClient

client: ZyntroClient
contact_id: str
contact_ids: list[str]
payload: dict[str, Any]
requests: list[ProfileRequest]
"""


def _module(sample: Sample) -> str:
    """The sample as a module mypy can check: a fragment that awaits goes in a function."""
    code = sample.code
    try:
        compile(code, str(sample), "exec", dont_inherit=True)
    except SyntaxError:  # "'await' outside function": a fragment of an async function
        code = "async def _sample() -> None:\n" + textwrap.indent(code, "    ")
    return "from _docs_prelude import *  # noqa\n" + code


def test_every_python_sample_passes_mypy_strict(tmp_path: Path) -> None:
    try:
        import mypy  # noqa: F401
    except ImportError:
        unavailable("mypy is not installed")
    samples = all_samples()
    assert len(samples) >= 15, "the samples were not found"
    (tmp_path / "_docs_prelude.py").write_text(PRELUDE, encoding="utf-8")
    names = {}
    for n, sample in enumerate(samples):
        name = f"sample_{n:03d}.py"
        names[name] = sample
        (tmp_path / name).write_text(_module(sample), encoding="utf-8")
    checked = subprocess.run(
        [
            *(sys.executable, "-m", "mypy", "--strict", "--no-incremental"),
            *("--cache-dir", os.devnull, "--disable-error-code", "import-untyped"),
            *sorted(names),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    errors = []
    for line in checked.stdout.splitlines():
        match = re.match(r"(sample_\d+\.py):(\d+): (error: .*)", line)
        if match:
            sample = names[match.group(1)]
            errors.append(f"{sample} (line {int(match.group(2)) - 1} of the block): {match[3]}")
    assert not errors, "\n".join(errors)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _zyntro_names(tree: ast.AST) -> list[tuple[str, str]]:
    """Each (module, name) a sample takes from zyntro_async: ``from M import N``, and the
    ``zyntro_async.M.N`` attribute paths of ``import zyntro_async``."""
    found: list[tuple[str, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("zyntro_async"):
            found += [(node.module or "", alias.name) for alias in node.names]
        elif isinstance(node, ast.Attribute) and not isinstance(node.ctx, ast.Store):
            parts: list[str] = []
            value: ast.expr = node
            while isinstance(value, ast.Attribute):
                parts.insert(0, value.attr)
                value = value.value
            if isinstance(value, ast.Name) and value.id == "zyntro_async":
                module = "zyntro_async"
                for part in parts:
                    if f"{module}.{part}" not in sys.modules:  # a name, not a submodule
                        found.append((module, part))
                        break
                    module = f"{module}.{part}"
    return found


def test_every_sample_takes_public_current_names_only() -> None:
    """What a sample imports is in the ``__all__`` of a public module: no underscore
    module, and no name that only resolves with a DeprecationWarning."""
    import zyntro_async.bulk
    import zyntro_async.errors
    import zyntro_async.models
    import zyntro_async.retries
    import zyntro_async.testing  # noqa: F401  (the public modules, for sys.modules)

    wrong = []
    for sample in all_samples():
        for module, name in _zyntro_names(ast.parse(_module(sample))):
            if any(part.startswith("_") for part in module.split(".")):
                wrong.append(f"{sample}: {module} is private")
            elif name not in getattr(sys.modules.get(module), "__all__", ()):
                wrong.append(f"{sample}: {module} does not export {name}")
    assert wrong == []


# -- the samples that run ----------------------------------------------------------------------


@contextmanager
def sandbox(*args: str, cwd: Path) -> Iterator[tuple[dict[str, str], str]]:
    """``zyntro-async sandbox ARGS`` as the docs start it: its exported settings and the
    first contact id it printed. Stopped (SIGTERM) on exit."""
    process = subprocess.Popen(
        [sys.executable, "-m", "zyntro_async", "sandbox", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_clean_env(),
    )
    try:
        settings: dict[str, str] = {}
        first = ""
        assert process.stdout is not None
        for line in process.stdout:  # the settings, then the first seeded contact's id
            if line.startswith("export "):
                name, _, value = line[len("export ") :].strip().partition("=")
                settings[name] = value
            elif line.startswith("# first contact_id: "):
                first = line.split(": ", 1)[1].strip()
                break
        assert set(settings) == {
            "ZYNTRO_BASE_URL",
            "ZYNTRO_API_KEY",
            "ZYNTRO_DEVELOPER_SECRET",
            "ZYNTRO_ORG_ID",
            "ZYNTRO_MEMBER_ID",
        }, settings
        yield settings, first
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZYNTRO_")}
    return {**env, **extra}


def _shown_output(sample: Sample) -> list[str]:
    """The ```text block the page shows as the sample's output (after "Run it")."""
    text = sample.path.read_text(encoding="utf-8")
    after = text[text.index(sample.code.strip()) + len(sample.code.strip()) :]
    block = re.search(r"```text\n(.*?)```", after, re.DOTALL)
    assert block is not None, f"{sample}: no output shown after the sample"
    return block.group(1).splitlines()


def test_the_quick_start_runs_verbatim_against_the_sandbox(tmp_path: Path) -> None:
    samples = tagged("quickstart")
    assert {s.path.name for s in samples} == {"README.md", "quickstart.md"}
    assert len({s.code for s in samples}) == 1, "the README's quick start differs from the site's"
    sample = samples[0]
    script = tmp_path / "quickstart.py"
    script.write_text(sample.code, encoding="utf-8")
    with sandbox(cwd=tmp_path) as (settings, first_contact):
        # The id in the sample is the one the sandbox prints: a newcomer copies either.
        assert f'CONTACT_ID = "{first_contact}"' in sample.code
        ran = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            env=_clean_env(**settings),
            check=False,
        )
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr == ""
    assert ran.stdout.splitlines() == _shown_output(sample)


def test_the_ctrl_c_recipe_prints_its_summary_and_resumes(tmp_path: Path) -> None:
    (sample,) = tagged("ctrl-c")
    script = tmp_path / "loyalty.py"
    script.write_text(sample.code, encoding="utf-8")
    args = ("--contacts", "300", "--ids-file", "ids.txt", "--faults", "latency=0.2")
    args += ("--dump-profiles", "profiles.json")
    with sandbox(*args, cwd=tmp_path) as (settings, _):
        env = _clean_env(**settings)
        interrupted = subprocess.Popen(
            [sys.executable, str(script)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            # A shell's child gets SIGINT as Ctrl-C sends it; undo an inherited "ignore".
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        time.sleep(1.5)  # Python started, the run under way (300 items need ~4 s here)
        interrupted.send_signal(signal.SIGINT)
        out, err = interrupted.communicate(timeout=30)
        assert interrupted.returncode == 130, err
        assert "Traceback" not in err
        summary = re.fullmatch(
            r"interrupted: (\d+) added, 0 failed, 0 skipped of (\d+) taken in [\d.]+ s\n", err
        )
        assert summary is not None, err
        added_first = int(summary.group(1))
        assert 0 < added_first < 300
        assert out == ""

        resumed = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
        assert resumed.returncode == 0, resumed.stderr
        second = re.fullmatch(
            r"(\d+) added, 0 failed, (\d+) skipped of 300 taken in [\d.]+ s\n", resumed.stdout
        )
        assert second is not None, resumed.stdout
        assert int(second.group(2)) == added_first
        assert int(second.group(1)) == 300 - added_first
    # Interrupted and resumed: every contact holds exactly one profile.
    stored = json.loads((tmp_path / "profiles.json").read_text(encoding="utf-8"))
    assert len(stored) == 300
    assert sorted({len(profiles) for profiles in stored.values()}) == [1]


def test_the_readme_keeps_its_two_commands_and_stays_small() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode()) <= 12 * 1024
    section = readme[readme.index("## Two commands") :]
    section = section[: section.index("\n## ", 3)]
    assert "python -m pip install '.[cli]' && zyntro-async demo" in section
    assert "python -m pip install -e '.[test]' && python -m pytest" in section
