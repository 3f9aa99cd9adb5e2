"""``serve()``: the sandbox as a development server, what ``zyntro-async sandbox`` runs.

Same seed, same credentials and contacts, so a ``.env`` written from its ``export`` lines
survives restarts; it can write the seeded ids before serving and the stored profiles
after.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import sys
from typing import TextIO

from ._faults import Faults
from ._sandbox import ZyntroSandbox
from ._seed import new_key


async def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    contacts: int = 0,
    faults: Faults | None = None,
    seed: int = 0,
    out: TextIO = sys.stdout,
    ids_file: str | None = None,
    dump_profiles: str | None = None,
) -> None:
    """Run a sandbox until cancelled, printing its URL and ``export ZYNTRO_*=...`` lines.

    The credentials derive from ``seed`` (same seed, same credentials: a ``.env`` survives
    restarts), as do the seeded contacts (``seeded_contact_ids(seed, contacts)``).
    ``ids_file`` receives the seeded contact ids, one per line, before serving starts;
    ``dump_profiles`` receives every seeded contact's stored profiles as one JSON object
    (``{contact_id: [profile records, oldest first]}``) when serving stops. Requests are
    not recorded (lean handler for benchmarks).
    """

    def write_atomically(path: str, text: str) -> None:
        temporary = f"{path}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(temporary, path)

    sandbox = ZyntroSandbox(host=host, port=port, faults=faults, seed=seed, record_requests=0)
    sandbox._use_credentials(new_key(None, seed=seed))
    async with sandbox:
        ids = sandbox.seed(contacts) if contacts > 0 else []
        if ids_file is not None:
            write_atomically(ids_file, "".join(cid + "\n" for cid in ids))
        creds = sandbox.credentials
        lines = [
            f"# Zyntro sandbox at {sandbox.base_url} ({len(ids)} contacts, seed {seed})",
            f"export ZYNTRO_BASE_URL={shlex.quote(sandbox.base_url)}",
            f"export ZYNTRO_API_KEY={shlex.quote(creds['api_key'])}",
            f"export ZYNTRO_DEVELOPER_SECRET={shlex.quote(creds['developer_secret'])}",
            f"export ZYNTRO_ORG_ID={shlex.quote(creds['org_id'])}",
            f"export ZYNTRO_MEMBER_ID={shlex.quote(creds['member_id'])}",
        ]
        if ids:
            lines.append(f"# first contact_id: {ids[0]}")
        if ids_file is not None:
            lines.append(f"# contact ids: {ids_file}")
        if dump_profiles is not None:
            lines.append(f"# profiles: written to {dump_profiles} on shutdown")
        out.write("\n".join(lines) + "\n")
        out.flush()
        try:
            await asyncio.Event().wait()
        finally:
            if dump_profiles is not None:
                stored = {cid: sandbox.profiles(cid) for cid in ids}
                write_atomically(dump_profiles, json.dumps(stored, ensure_ascii=False) + "\n")
