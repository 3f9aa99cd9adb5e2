"""The journal store: what a bulk run asks of the record that makes its adds exactly-once.

``addProfileToContact`` is not idempotent, so a run records every item in a store, keyed by
the item's key (a digest, :func:`._digest.item_key`): ``sent`` before the request goes out,
``done`` or ``failed`` after. A re-run skips what is done and reconciles what is only
``sent`` before sending it again. This module is the store's contract, in plain data and
sans I/O: the entries (:class:`JournalEntry`), a claim (:class:`Claim`) and its answer
(:class:`Claimed`), the rule that decides a claim (:func:`decide`), and the operations
(:class:`JournalStore`). The SQLite file of :mod:`._journal` is one store; a server database
shared by several processes can be another.

What every store guarantees:

* **Write-ahead, one path.** :meth:`JournalStore.claim` is the only way a key becomes
  ``sent``. When its answer says ``sent``, the record is durable -- it survives at least the
  process being killed -- and only then does the caller send. A claim whose caller is cancelled may
  still be recorded: an item recorded ``sent`` and never sent is reconciled, never lost.
* **Atomic claims, decided on data.** A claim reads the key's entry and, if :func:`decide`
  says so, marks it ``sent``, in one transaction: no other write to the key comes between.
  Claims of one key are decided in call order, each seeing the ones before it; a claim of a
  key its holder has just marked sent is answered :attr:`Verdict.UNCONFIRMED` and claims it
  again, so a holder keeps one claim per key in flight (the add pipeline makes a second
  copy of a key wait for the first). The claim carries everything the rule needs as data
  (the expected contact, source and payload digest, the failure codes that settle an
  item); no caller code runs inside the store, so the store may run in a thread of its
  own, or in a database server.
* **Outcomes.** :meth:`~JournalStore.mark_done` and :meth:`~JournalStore.mark_failed` may be
  buffered; they are durable after the next :meth:`~JournalStore.flush` or
  :meth:`~JournalStore.close`. Losing one in a crash leaves the key ``sent``, which the next
  run reconciles. Every operation on one key applies in call order.
* **Reads see every earlier operation** of the same holder, buffered marks included.
* **Failures are loud.** A record that cannot be written fails the operations waiting on
  it and every later call with :class:`~._exceptions.JournalError`; ``close`` raises one not
  yet reported. A bad argument (not a ``str``, not valid UTF-8) is refused at the call
  with ``TypeError``/``ValueError``, before it can fail anything batched with it.
* **One split.** A store one process holds at a time (the SQLite file) records the shard
  split ``(index, count)`` it was first opened under (``(0, 1)``: not sharded) and refuses
  an open under another (:func:`check_split`, a :class:`~._exceptions.ConfigurationError`
  before anything is claimed): it answers for its own shard's items only, so under another
  split some items would belong to a shard whose store never saw them. A file made before
  stores kept their split has none: its first open records the split it is opened under,
  and warns if the file holds entries. A store a run's workers share (the PostgreSQL
  ledger) answers for every shard's items, and its per-key leased claims keep any mix of
  workers from sending an item twice, so it keeps no split: a worker of another count, or
  one not sharded, finishes the leftovers of shards whose workers stopped.
* **No payload and no secret** is stored: only keys, payload digests, contact ids, source
  names, profile ids, error codes, attempt counts and times.

What belongs to one store, not to the contract: how a store keeps one run's record its own.
The SQLite store holds an exclusive lock on its file for its whole life (a second run on it
fails at open), and checks at every commit that the file at its path is still the one it
writes (else it stops the run and writes what it holds to the path, or beside it). A store
shared by several processes cannot lock the whole record: it leases each key it claims
(expiry from the database's clock) and checks the lease on every mark; a key ``sent`` under
another holder's live lease is not claimed (answered :attr:`Verdict.HELD`, with the entry
when the store read one), and one whose lease and request timeout have passed is claimed
as :attr:`Verdict.UNCONFIRMED`, so it is reconciled before anything is re-sent.
"""

from __future__ import annotations

import enum
from typing import NamedTuple, Protocol

import attrs

from ._exceptions import ConfigurationError
from ._shard import Shard


class JournalState(enum.Enum):
    """Recorded state of an item; an item absent from the journal is pending."""

    SENT = "sent"
    DONE = "done"
    FAILED = "failed"


@attrs.frozen
class JournalEntry:
    """One stored entry.

    ``contact_id``, ``source`` and ``payload_digest`` are ``""`` when the entry was created by
    ``mark_done``/``mark_failed`` without them. ``attempts`` counts the claims that marked it
    ``sent``.
    """

    key: str
    state: JournalState
    contact_id: str
    source: str
    payload_digest: str
    profile_id: int | None
    error_code: str | None
    attempts: int
    updated_at: float


class Claim(NamedTuple):
    """A request to mark ``key`` sent for this very item, as data.

    ``contact_id``, ``source`` and ``payload_digest`` are written when the claim succeeds and
    say which item the key must stand for: an entry that records another one is a conflict
    (``match_payload=False``: the payload may differ, as an enrichment recomputes it). A
    failed entry whose code is in ``settled`` failed for the item's own reason and is not
    sent again.
    """

    key: str
    contact_id: str
    source: str
    payload_digest: str
    settled: frozenset[str] = frozenset()
    match_payload: bool = True


class Verdict(enum.Enum):
    """What a claim found, and so whether it marked the key sent."""

    NEW = "new"  #: no entry: marked sent
    UNCONFIRMED = "unconfirmed"  #: sent before, outcome unknown: marked sent; look first
    RETRY = "retry"  #: failed before, not for the item's own reason: marked sent
    DONE = "done"  #: done before: left alone
    FAILED = "failed"  #: failed before for a code in ``settled``: left alone
    CONFLICT = "conflict"  #: the entry records another item: left alone
    HELD = "held"  #: sent under another holder's live lease (a shared store): left alone

    @property
    def sends(self) -> bool:
        """Whether this claim marked the key sent (the caller sends the request)."""
        return self is _NEW or self is _UNCONFIRMED or self is _RETRY


# Compared by identity on the claim path (an Enum's hash is a Python-level call).
_NEW, _UNCONFIRMED, _RETRY = Verdict.NEW, Verdict.UNCONFIRMED, Verdict.RETRY


class Claimed(NamedTuple):
    """A claim's answer: the entry as it stood before the claim, and the verdict on it."""

    entry: JournalEntry | None
    verdict: Verdict

    @property
    def sent(self) -> bool:
        """Whether the claim marked the key sent: durable now, the request may go out."""
        v = self.verdict
        return v is _NEW or v is _UNCONFIRMED or v is _RETRY


def matches(entry: JournalEntry, claim: Claim) -> bool:
    """Whether ``entry`` was written for the item ``claim`` is for (a blank stored field
    matches anything: entries made by a mark alone do not record them)."""
    if entry.contact_id and entry.contact_id != claim.contact_id:
        return False
    if entry.source and entry.source != claim.source:
        return False
    return not (
        claim.match_payload
        and entry.payload_digest
        and entry.payload_digest != claim.payload_digest
    )


def decide(entry: JournalEntry | None, claim: Claim) -> Verdict:
    """The verdict on ``claim`` given the key's stored ``entry`` (None: absent)."""
    if entry is None:
        return Verdict.NEW
    if not matches(entry, claim):
        return Verdict.CONFLICT
    if entry.state is JournalState.DONE:
        return Verdict.DONE
    if entry.state is JournalState.SENT:
        return Verdict.UNCONFIRMED
    if entry.error_code in claim.settled:
        return Verdict.FAILED
    return Verdict.RETRY


def _shown(split: Shard) -> str:
    return "not sharded" if split[1] == 1 else f"shard {split[0]}/{split[1]}"


def check_split(recorded: Shard | None, wanted: Shard, *, where: str) -> None:
    """Refuse to run under ``wanted`` a store made under another split ``recorded`` (None:
    no record, accepted): :class:`ConfigurationError` names both splits."""
    if recorded is None or recorded == wanted:
        return
    raise ConfigurationError(
        f"{where} was made by a run that was {_shown(recorded)}; this run is "
        f"{_shown(wanted)}. Under another split, an item that another shard's journal "
        "recorded could be sent again: run this journal with the split it was made by, or "
        "give this split a journal of its own"
    )


class JournalStore(Protocol):
    """The operations of a journal store (see the module docstring for the guarantees)."""

    async def claim(self, claim: Claim) -> Claimed:
        """Decide ``claim`` on the key's entry (:func:`decide`) and, if it sends, mark the
        key sent; returns once that is durable."""
        ...

    async def get(self, key: str) -> JournalEntry | None:
        """The entry for ``key`` (None: absent), seeing every earlier operation."""
        ...

    def mark_done(
        self,
        key: str,
        *,
        profile_id: int | None,
        contact_id: str | None = None,
        source: str | None = None,
        payload_digest: str | None = None,
    ) -> None:
        """Record "``key`` was created as ``profile_id``" (creating the entry if absent;
        the optional fields, when given, overwrite the stored ones)."""
        ...

    def mark_failed(
        self,
        key: str,
        *,
        error_code: str,
        contact_id: str | None = None,
        source: str | None = None,
        payload_digest: str | None = None,
    ) -> None:
        """Record "``key`` failed with ``error_code``" (as :meth:`mark_done` for the rest)."""
        ...

    async def flush(self) -> None:
        """Make every operation so far durable."""
        ...

    async def close(self) -> None:
        """Flush and release the store; idempotent."""
        ...
