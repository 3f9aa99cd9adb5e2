"""Test helpers shared by several test modules."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

DOCS = Path(__file__).parent / "fixtures" / "docs"

CREDS = {
    "api_key": "zk_live_SECRET_KEY_5d1e",
    "developer_secret": "zdk_SECRET_DEV_9f3a",
    "org_id": "org-1111",
    "member_id": "member-2222",
}
BASE = "https://zyntro.example/apis/v2/public/crm/"


def doc_json(name: str) -> Any:
    return json.loads((DOCS / name).read_text())


@contextlib.contextmanager
def small_disk(where: Path, size: str = "256k") -> Iterator[Path]:
    """A real tmpfs of ``size`` mounted at ``where`` (a full disk, for real). Needs root,
    as the tests have here and in CI; elsewhere the test is skipped, saying why (and
    fails under ``CI``, where it must run)."""
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        reason = f"cannot mount a {size} tmpfs here ({done.stderr.strip()}); needs root"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
