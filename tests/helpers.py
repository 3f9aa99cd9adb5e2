"""Test helpers shared by several test modules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
