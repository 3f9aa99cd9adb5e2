"""The pytest plugin as a user meets it: the testing guide's example, as written, in a fresh project
with pytest and pytest-asyncio and no pytest configuration at all (pytest-asyncio's strict
mode), run by a pytest process of its own with the plugins installed here."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Each test starts Python processes (a few seconds apiece): CI runs them, -m 'not slow' skips.
pytestmark = pytest.mark.slow

# Plugins this environment has and a bare project would not.
_OTHER_PLUGINS = ("-p", "no:cacheprovider", "-p", "no:anyio", "-p", "no:hypothesispytest")


def readme_example() -> str:
    """The first Python block of the testing guide (docs/guides/testing.md)."""
    text = (ROOT / "docs" / "guides" / "testing.md").read_text(encoding="utf-8")
    match = re.search(r"```python\n(.*?)```", text, re.DOTALL)
    assert match is not None, "the testing guide has no Python example"
    return match.group(1)


def pytest_asyncio_version() -> tuple[int, int]:
    major, minor = re.findall(r"\d+", importlib.metadata.version("pytest-asyncio"))[:2]
    return int(major), int(minor)


def run_pytest(project: Path, *args: str) -> tuple[int, str]:
    """``python -m pytest`` in ``project``: exit code and output (stdout and stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "ZYNTRO_"))}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *_OTHER_PLUGINS, *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


MORE_TESTS = """
import pytest
import pytest_asyncio
from zyntro_async.testing import Fault


@pytest_asyncio.fixture
async def jane(zyntro_sandbox, zyntro_client):
    return zyntro_sandbox.add_contact(first_name="Jane")


async def test_through_a_fixture_of_the_user(jane, zyntro_client):
    details = await zyntro_client.fetch_contact(jane)
    assert details.contact.first_name == "Jane"


async def test_a_timeout_fault_is_recovered(zyntro_sandbox, zyntro_client):
    contact_id = zyntro_sandbox.add_contact()
    zyntro_sandbox.script("addProfileToContact", Fault.TIMEOUT_AFTER_COMMIT)
    profile = await zyntro_client.add_profile_to_contact(contact_id, {"a": 1}, "S")
    assert [p["profile_id"] for p in zyntro_sandbox.profiles(contact_id)] == [profile.id]


class TestInAClass:
    @pytest.mark.parametrize("n", [1, 3])
    async def test_parametrized(self, zyntro_sandbox, zyntro_client, n):
        for cid in zyntro_sandbox.seed(n):
            assert (await zyntro_client.fetch_contact(cid)).contact.id == cid


def test_a_sync_test_is_left_alone():
    assert True
"""


def test_the_readme_example_runs_as_written_in_a_project_with_no_configuration(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_readme_example.py").write_text(readme_example(), encoding="utf-8")
    (tmp_path / "test_more.py").write_text(MORE_TESTS, encoding="utf-8")
    # Before 1.1, pytest-asyncio warns at start-up whatever a plugin does.
    quiet = pytest_asyncio_version() >= (1, 1)
    # -c os.devnull: no ini file anywhere above tmp_path can apply.
    code, out = run_pytest(
        tmp_path,
        "-c",
        os.devnull,
        "--rootdir",
        str(tmp_path),
        *(("-W", "error::pytest.PytestDeprecationWarning") if quiet else ()),
    )
    assert code == 0, out
    assert re.search(r"mode=(Mode\.)?strict", out, re.IGNORECASE), out
    assert re.search(r"\b7 passed in\b", out), out
    assert "not natively supported" not in out, out
    if quiet:
        assert "Deprecation" not in out, out
        assert "is unset" not in out, out


def test_the_readme_example_runs_in_auto_mode(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
        "filterwarnings = error\n",
        encoding="utf-8",
    )
    (tmp_path / "test_readme_example.py").write_text(readme_example(), encoding="utf-8")
    (tmp_path / "test_more.py").write_text(MORE_TESTS, encoding="utf-8")
    code, out = run_pytest(tmp_path, "-c", "pytest.ini")
    assert code == 0, out
    assert re.search(r"mode=(Mode\.)?auto", out, re.IGNORECASE), out
    assert re.search(r"\b7 passed in\b", out), out


WHAT_IT_CANNOT_FIX = """
import pytest
import pytest_asyncio


@pytest_asyncio.fixture(scope="module")
async def shared():
    return 1


@pytest.mark.asyncio(loop_scope="module")
async def test_with_a_module_fixture(shared):
    assert shared == 1


@pytest.mark.asyncio(loop_scope="module")
async def test_on_a_module_loop(zyntro_client):
    pass
"""


@pytest.mark.skipif(
    pytest_asyncio_version() < (1, 1),
    reason="needs pytest-asyncio >= 1.1 (loop scopes resolved at setup)",
)
def test_what_the_plugin_cannot_fix_it_says(tmp_path: Path) -> None:
    (tmp_path / "test_cases.py").write_text(WHAT_IT_CANNOT_FIX, encoding="utf-8")
    code, out = run_pytest(tmp_path, "-c", os.devnull, "--rootdir", str(tmp_path))
    assert code == 1, out
    assert re.search(r"\b1 passed, 1 warning, 1 error in\b", out), out
    # The start-up warning is held back; the fixture it concerns is named instead.
    assert 'asyncio_default_fixture_loop_scope" is unset' not in out, out
    assert "the async fixture 'shared' (scope 'module') has no loop_scope" in out, out
    # Fixtures and test on two loops: the test fails at setup, saying what to do.
    assert "test_on_a_module_loop runs on a module-scoped one" in out, out
    assert '@pytest.mark.asyncio(loop_scope="function")' in out, out
