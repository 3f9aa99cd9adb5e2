"""What the examples share: a local Zyntro in this process, so they run offline.

``local_zyntro()`` starts the sandbox that ships with zyntro_async (``zyntro_async.testing``)
and points the ``ZYNTRO_*`` variables of this process at it, so every example builds its
client as your code would: ``ZyntroClient()``. Against the real API, set those variables
yourself (``ZYNTRO_API_KEY``, ``ZYNTRO_DEVELOPER_SECRET``, ``ZYNTRO_ORG_ID``,
``ZYNTRO_MEMBER_ID``; ``ZYNTRO_BASE_URL`` defaults to the public API) and leave this out.
Nothing here prints a credential.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

from zyntro_async.testing import ZyntroSandbox


@contextlib.asynccontextmanager
async def local_zyntro(**options: Any) -> AsyncIterator[ZyntroSandbox]:
    """A running sandbox (``options`` go to ``ZyntroSandbox``), ``ZYNTRO_*`` set to it."""
    async with ZyntroSandbox(**options) as sandbox:
        credentials = sandbox.credentials
        settings = {
            "ZYNTRO_BASE_URL": sandbox.base_url,
            "ZYNTRO_API_KEY": credentials["api_key"],
            "ZYNTRO_DEVELOPER_SECRET": credentials["developer_secret"],
            "ZYNTRO_ORG_ID": credentials["org_id"],
            "ZYNTRO_MEMBER_ID": credentials["member_id"],
        }
        before = {name: os.environ.get(name) for name in settings}
        os.environ.update(settings)
        try:
            yield sandbox
        finally:
            for name, value in before.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
