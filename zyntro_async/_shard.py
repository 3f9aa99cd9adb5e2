"""Sharded runs: which of ``n`` workers owns an item, decided by the item's key alone.

A shard is ``(index, count)`` with ``0 <= index < count``. An item belongs to shard
``blake2b-64(key) mod count``, where ``key`` is the item's journal identity (what
``_pipelines`` computes for it). The hash is keyed by nothing and salted by nothing, so every
process, on every machine and in every later run, puts an item in the same shard (Python's
``hash()`` is salted per process, and would not). An item without a key -- one its own
pipeline refuses before sending anything -- belongs to shard 0, so it is reported exactly
once across the shards.

The rule is part of the contract: a resumed shard must see the same items as before, so
changing it would change which journal knows an item.
"""

from __future__ import annotations

import hashlib
import re

from ._exceptions import ConfigurationError

Shard = tuple[int, int]

_TEXT = re.compile(r"\s*([+-]?\d+)\s*/\s*([+-]?\d+)\s*")


def parse_shard(text: str, *, name: str = "shard") -> Shard:
    """``"I/N"`` (as ``--shard`` and ``ZYNTRO_SHARD`` take it) as ``(I, N)``, checked."""
    match = _TEXT.fullmatch(text)
    if match is None:
        raise ConfigurationError(
            f"{name} must be INDEX/COUNT with whole numbers, such as 0/4 (got {text!r})"
        )
    return check_shard((int(match[1]), int(match[2])), name=name)


def check_shard(value: object, *, name: str = "shard") -> Shard:
    """``value`` as a ``(index, count)`` tuple: a pair of ints, or an ``"I/N"`` string,
    with ``count >= 1`` and ``0 <= index < count``; else :class:`ConfigurationError`."""
    if isinstance(value, str):
        return parse_shard(value, name=name)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ConfigurationError(
            f"{name} must be (index, count), such as (0, 4), or None (got {value!r})"
        )
    index, count = value
    for what, number in (("index", index), ("count", count)):
        if isinstance(number, bool) or not isinstance(number, int):
            raise ConfigurationError(
                f"{name} {what} must be a whole number (got {number!r} in {value!r})"
            )
    if count < 1:
        raise ConfigurationError(f"{name} count must be 1 or more (got {index}/{count})")
    if not 0 <= index < count:
        raise ConfigurationError(
            f"{name} index must be from 0 to {count - 1}, one less than the count "
            f"(got {index}/{count})"
        )
    return (int(index), int(count))


def shard_of(key: str | None, count: int) -> int:
    """The shard (of ``count``) that owns the item whose key is ``key``."""
    if key is None or count == 1:
        return 0
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count
