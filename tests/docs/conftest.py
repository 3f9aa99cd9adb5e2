"""What the documentation's tests share: the Markdown sources, their Python samples, and the
built site (every test here is slow: each starts a process, a build or a browser).

The site is the one ``ZYNTRO_DOCS_SITE`` names (CI builds it once with ``mkdocs build
--strict`` and points there), else it is built here if MkDocs is installed (the ``docs``
extra). A missing tool skips a test locally and fails it under ``CI``: CI must not skip.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.slow)


def unavailable(why: str) -> None:
    """Skip locally; fail in CI, where every tool is installed and nothing may skip."""
    if os.environ.get("CI"):
        pytest.fail(f"{why} (CI must run this test)")
    pytest.skip(why)


def sources() -> list[Path]:
    """Every Markdown file a user reads: the README and the site's pages."""
    return [ROOT / "README.md", *sorted(p for p in DOCS.rglob("*.md") if "hooks" not in p.parts)]


@dataclass(frozen=True)
class Sample:
    path: Path
    line: int  # of the block's first code line, 1-based
    code: str
    tag: str | None  # from a ``<!-- sample: TAG -->`` line just above the fence

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


_FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w-]*)[^\n]*$")
_TAG = re.compile(r"^<!-- sample: ([\w-]+) -->$")


def python_samples(path: Path) -> list[Sample]:
    """The ```python blocks of a Markdown file, dedented (a block may sit in a list)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    samples = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        indent, lang = match.group("indent"), match.group("lang")
        end = i + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if lang == "python":
            body = [
                line[len(indent) :] if line.startswith(indent) else line
                for line in lines[i + 1 : end]
            ]
            tag_line = lines[i - 1].strip() if i > 0 else ""
            tag = _TAG.match(tag_line)
            samples.append(Sample(path, i + 2, "\n".join(body) + "\n", tag and tag.group(1)))
        i = end + 1
    return samples


def all_samples() -> list[Sample]:
    return [sample for path in sources() for sample in python_samples(path)]


def tagged(tag: str) -> list[Sample]:
    return [sample for sample in all_samples() if sample.tag == tag]


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The built site's directory."""
    given = os.environ.get("ZYNTRO_DOCS_SITE")
    if given:
        path = Path(given)
        if not (path / "index.html").is_file():
            pytest.fail(f"ZYNTRO_DOCS_SITE={given} holds no built site")
        yield path
        return
    try:
        import mkdocs  # noqa: F401
    except ImportError:
        unavailable("MkDocs is not installed (pip install -e '.[docs]')")
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-4000:]
    yield out
    shutil.rmtree(out, ignore_errors=True)
