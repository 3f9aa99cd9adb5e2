"""aioresponses 0.7.x builds ``ClientResponse`` without the ``stream_writer`` argument that
aiohttp 3.14 made required (pnuckowski/aioresponses#289). Until a fixed release exists, give
it a response class that supplies one. A no-op on aiohttp versions that do not need it.
"""

from __future__ import annotations

import inspect
from typing import Any

import aioresponses.core
from aiohttp import ClientResponse


class _NullStreamWriter:
    output_size = 0


class _CompatResponse(ClientResponse):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", _NullStreamWriter())
        super().__init__(*args, **kwargs)


def install() -> None:
    if "stream_writer" in inspect.signature(ClientResponse.__init__).parameters:
        aioresponses.core.ClientResponse = _CompatResponse  # type: ignore[misc]
