"""Tests for the resumable-run journal (zyntro_async._journal)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import sqlite3
import sys
import tempfile
import textwrap
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zyntro_async import _journal
from zyntro_async._journal import (
    Claim,
    Journal,
    JournalEntry,
    JournalError,
    JournalState,
    item_key,
    payload_digest,
)

# Big enough that only batch_size, flush() or a read can trigger a commit during a test.
NEVER = 3600.0
_REPO_ROOT = Path(_journal.__file__).resolve().parents[1]
TIMEOUT = 10.0


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _claim(key: object, contact_id: object = "c", digest: object = "d") -> Claim:
    return Claim(key, contact_id, "s", digest)  # type: ignore[arg-type]


async def _sent(j: Journal, key: str, *, digest: str = "d", match_payload: bool = True) -> None:
    """A claim that marks ``key`` sent, plus an explicit flush (for journals whose
    flush_interval never elapses)."""
    claim = Claim(key, "c1", "linkedin", digest, match_payload=match_payload)
    claimed, _ = await asyncio.wait_for(asyncio.gather(j.claim(claim), j.flush()), TIMEOUT)
    assert claimed.sent


def _raw_rows(path: Path) -> dict[str, tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute("SELECT key, state, attempts FROM entries").fetchall()
    return {row[0]: row for row in rows}


async def _entries(j: Journal, keys: list[str]) -> dict[str, JournalEntry]:
    """The entries of ``keys`` that the journal holds, read concurrently."""
    found = await asyncio.gather(*(j.get(key) for key in keys))
    return {key: entry for key, entry in zip(keys, found, strict=True) if entry is not None}


def _state_counts(path: Path) -> dict[JournalState, int]:
    """Entries per state in a closed journal's file (every state present, maybe 0)."""
    counts = dict.fromkeys(JournalState, 0)
    for _, state, _ in _raw_rows(path).values():
        counts[JournalState(state)] += 1
    return counts


# -- item_key / payload_digest --------------------------------------------------------------


def test_item_key_pins_the_canonical_form() -> None:
    payload = {"b": [1, 2], "a": "é"}
    digest = _sha('{"a":"é","b":[1,2]}')
    assert payload_digest(payload) == digest
    expected = _sha(f'["profile","c1","linkedin","{digest}"]')
    assert item_key("c1", "linkedin", payload) == expected
    assert item_key("c1", "linkedin", None, digest=digest) == expected
    assert item_key("c1", "linkedin", payload, key="corr-1") == _sha('["key","corr-1"]')


def test_item_key_ignores_dict_order() -> None:
    a = {"name": "Ada", "tags": {"x": 1, "y": 2}}
    b = {"tags": {"y": 2, "x": 1}, "name": "Ada"}
    assert item_key("c1", "s", a) == item_key("c1", "s", b)
    assert payload_digest(a) == payload_digest(b)


def test_item_key_distinguishes_items() -> None:
    base = item_key("c1", "s", {"v": 1})
    others = {
        item_key("c2", "s", {"v": 1}),
        item_key("c1", "t", {"v": 1}),
        item_key("c1", "s", {"v": 2}),
        item_key("c1", "s", {"v": "1"}),
        item_key("c1", "s", {"v": 1}, key="k"),
    }
    assert base not in others
    assert len(others) == 5


def test_correlation_key_overrides_item_fields() -> None:
    assert item_key("c1", "s", {"v": 1}, key="k") == item_key("c9", "z", [3], key="k")
    assert item_key("c1", "s", {"v": 1}, key="k") != item_key("c1", "s", {"v": 1}, key="k2")


def test_item_key_rejects_non_json_payload() -> None:
    with pytest.raises(TypeError):
        item_key("c1", "s", {"v": object()})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@pytest.mark.slow
@given(st.dictionaries(st.text(), json_values, max_size=6))
def test_item_key_is_order_independent_property(payload: dict[str, object]) -> None:
    reordered = dict(reversed(list(payload.items())))
    assert item_key("c", "s", payload) == item_key("c", "s", reordered)
    assert len(item_key("c", "s", payload)) == 64


# -- state transitions / reads ---------------------------------------------------------------


async def test_state_transitions(tmp_path: Path) -> None:
    async with await Journal.open(tmp_path / "j.db", flush_interval=NEVER) as j:
        assert await j.get("k") is None

        await _sent(j, "k", digest="d1")
        entry = await j.get("k")
        assert entry is not None
        assert (entry.state, entry.attempts, entry.contact_id, entry.source) == (
            JournalState.SENT,
            1,
            "c1",
            "linkedin",
        )
        assert entry.payload_digest == "d1"
        assert entry.profile_id is None

        j.mark_failed("k", error_code="http_503")
        entry = await j.get("k")
        assert entry is not None
        assert (entry.state, entry.error_code, entry.contact_id) == (
            JournalState.FAILED,
            "http_503",
            "c1",
        )

        await _sent(j, "k", digest="d2", match_payload=False)  # re-sent with a new payload
        entry = await j.get("k")
        assert entry is not None
        assert (entry.state, entry.attempts, entry.error_code, entry.payload_digest) == (
            JournalState.SENT,
            2,
            None,
            "d2",
        )

        j.mark_done("k", profile_id=77)
        entry = await j.get("k")
        assert entry is not None
        assert (entry.state, entry.profile_id, entry.attempts, entry.source) == (
            JournalState.DONE,
            77,
            2,
            "linkedin",
        )
        assert entry.updated_at > 0


async def test_done_and_failed_create_missing_rows(tmp_path: Path) -> None:
    async with await Journal.open(tmp_path / "j.db", flush_interval=NEVER) as j:
        j.mark_done("a", profile_id=None)
        j.mark_failed(
            "b", error_code="bad_request", contact_id="c2", source="s", payload_digest="d"
        )
        found = await _entries(j, ["a", "b", "missing"])
    assert found["a"] == JournalEntry(
        key="a",
        state=JournalState.DONE,
        contact_id="",
        source="",
        payload_digest="",
        profile_id=None,
        error_code=None,
        attempts=0,
        updated_at=found["a"].updated_at,
    )
    assert (found["b"].state, found["b"].contact_id, found["b"].error_code) == (
        JournalState.FAILED,
        "c2",
        "bad_request",
    )
    assert "missing" not in found


async def test_marks_apply_in_call_order_within_a_batch(tmp_path: Path) -> None:
    async with await Journal.open(tmp_path / "j.db", flush_interval=NEVER) as j:
        await _sent(j, "a")
        j.mark_done("a", profile_id=1)
        j.mark_failed("b", error_code="first")  # "b" was never sent
        j.mark_done("b", profile_id=2)
        j.mark_failed("a", error_code="last")
        found = await _entries(j, ["a", "b"])
    assert (found["a"].state, found["a"].error_code, found["a"].profile_id) == (
        JournalState.FAILED,
        "last",
        None,
    )
    assert (found["b"].state, found["b"].profile_id, found["b"].error_code) == (
        JournalState.DONE,
        2,
        None,
    )


async def test_reads_see_buffered_marks(tmp_path: Path) -> None:
    async with await Journal.open(tmp_path / "j.db", flush_interval=NEVER) as j:
        await _sent(j, "k")
        j.mark_done("k", profile_id=5)  # buffered: flush_interval never elapses
        entry = await j.get("k")
        assert entry is not None
        assert entry.state is JournalState.DONE
        assert entry.profile_id == 5


async def test_many_concurrent_reads_are_all_answered(tmp_path: Path) -> None:
    keys = [f"k{i}" for i in range(2500)]  # read together: several IN (...) chunks
    async with await Journal.open(tmp_path / "j.db", flush_interval=NEVER) as j:
        for i, key in enumerate(keys):
            if i % 2:
                j.mark_done(key, profile_id=i)
        found = await _entries(j, [*keys, "absent"])
    assert set(found) == {k for i, k in enumerate(keys) if i % 2}
    assert found["k1"].profile_id == 1


async def test_concurrent_gets_each_see_the_buffered_marks(tmp_path: Path) -> None:
    async with await Journal.open(tmp_path / "j.db", flush_interval=NEVER) as j:
        for i in range(100):
            j.mark_done(f"k{i}", profile_id=i)
        results = await asyncio.gather(*(j.get(f"k{i}") for i in range(100)))
    assert [r.profile_id if r else None for r in results] == list(range(100))


async def test_bad_arguments_are_rejected_at_the_call(tmp_path: Path) -> None:
    async with await Journal.open(tmp_path / "j.db", flush_interval=NEVER) as j:
        with pytest.raises(TypeError):
            j.mark_done(b"k", profile_id=1)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            j.mark_done("k", profile_id="1")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            await j.claim(_claim("k", contact_id=1))
        with pytest.raises(TypeError):
            await j.claim(("k", "c", "s", "d"))  # type: ignore[arg-type]
        with pytest.raises(TypeError):  # the rule's data is checked too, before it is queued
            await j.claim(Claim("k", "c", "s", "d", settled=None))  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            await j.get(b"k")  # type: ignore[arg-type]
        # The journal is still healthy.
        await _sent(j, "k")
        assert await j.get("k") is not None


# -- group commit ----------------------------------------------------------------------------


async def test_concurrent_claims_all_return_committed(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with await Journal.open(path, batch_size=512) as j:
        await asyncio.gather(*(j.claim(_claim(f"k{i}")) for i in range(1000)))
    assert _state_counts(path)[JournalState.SENT] == 1000


async def test_full_batch_commits_without_waiting_for_interval(tmp_path: Path) -> None:
    async with await Journal.open(tmp_path / "j.db", flush_interval=NEVER, batch_size=10) as j:
        claims = (j.claim(_claim(f"k{i}")) for i in range(10))
        await asyncio.wait_for(asyncio.gather(*claims), TIMEOUT)


async def test_interval_commits_a_partial_batch(tmp_path: Path) -> None:
    async with await Journal.open(tmp_path / "j.db", flush_interval=0.01, batch_size=10_000) as j:
        # Neither a full batch nor flush(): only the flush_interval timer can commit this.
        await asyncio.wait_for(j.claim(_claim("k")), TIMEOUT)


# -- durability across SIGKILL ---------------------------------------------------------------

_CHILD = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from zyntro_async._journal import Claim, Journal

    async def kill_after_marks(path, n):
        # n claims fill one batch; the mark_done calls after them never do.
        journal = await Journal.open(path, flush_interval=3600, batch_size=n)
        await asyncio.gather(*(
            journal.claim(Claim(f"k{i}", f"c{i}", "s", "d")) for i in range(n)
        ))
        for i in range(0, n, 2):
            journal.mark_done(f"k{i}", profile_id=i)
        print("ready", flush=True)
        # Killed the instant the claims have returned, before the loop can run anything else.
        os.kill(os.getpid(), signal.SIGKILL)

    async def stream(path, n):
        # Runs until killed: waves of n items, reporting the items whose claims returned.
        journal = await Journal.open(path, flush_interval=0.001, batch_size=64)
        for wave in range(10**9):
            keys = [f"k{wave * n + i}" for i in range(n)]
            await asyncio.gather(*(journal.claim(Claim(key, "c", "s", "d")) for key in keys))
            print(f"sent {wave}", flush=True)
            for key in keys:
                journal.mark_done(key, profile_id=1)

    mode, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    asyncio.run((kill_after_marks if mode == "kill" else stream)(path, n))
    """
)


async def _spawn(mode: str, path: Path, n: int) -> asyncio.subprocess.Process:
    pythonpath = [str(_REPO_ROOT), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, pythonpath))}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _CHILD,
        mode,
        str(path),
        str(n),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def _read_line(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None
    assert proc.stderr is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    if not line:
        pytest.fail(f"child failed: {(await proc.stderr.read()).decode()}")
    return line.decode().strip()


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


def _assert_intact(path: Path) -> None:
    with closing(sqlite3.connect(path)) as conn, conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


async def test_a_claim_survives_sigkill_right_after_it_returns(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    n = 300
    proc = await _spawn("kill", path, n)
    try:
        assert await _read_line(proc) == "ready"
        assert await asyncio.wait_for(proc.wait(), 30) == -signal.SIGKILL
    finally:
        await _stop(proc)

    _assert_intact(path)
    assert _state_counts(path) == {
        JournalState.SENT: n,
        JournalState.DONE: 0,
        JournalState.FAILED: 0,
    }
    async with await Journal.open(path) as j:
        entries = await _entries(j, [f"k{i}" for i in range(n)])
        assert len(entries) == n
        # Every write-ahead mark survived; the buffered mark_done calls were lost, which is safe.
        assert {e.state for e in entries.values()} == {JournalState.SENT}
        assert {e.attempts for e in entries.values()} == {1}
        assert entries["k7"].contact_id == "c7"


@pytest.mark.slow
async def test_sigkill_during_a_busy_run(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    n = 200
    proc = await _spawn("stream", path, n)
    try:
        assert await _read_line(proc) == "sent 0"
        # While the run is alive, a second run is refused instead of interleaving.
        with pytest.raises(JournalError, match="in use by another run"):
            await Journal.open(path)
        last = 0
        while last < 5:
            last = int((await _read_line(proc)).split()[1])
        os.kill(proc.pid, signal.SIGKILL)  # mid-wave: commits and done marks in flight
        assert await asyncio.wait_for(proc.wait(), 30) == -signal.SIGKILL
    finally:
        await _stop(proc)

    _assert_intact(path)
    async with await Journal.open(path) as j:  # the lock died with the process
        reported = [f"k{i}" for i in range((last + 1) * n)]
        entries = await _entries(j, reported)
        assert set(entries) == set(reported)
        assert {e.state for e in entries.values()} <= {JournalState.SENT, JournalState.DONE}
    counts = _state_counts(path)
    assert counts[JournalState.FAILED] == 0
    assert counts[JournalState.SENT] + counts[JournalState.DONE] >= len(reported)


# -- errors ----------------------------------------------------------------------------------


async def test_open_missing_directory_fails(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="cannot open journal"):
        await Journal.open(tmp_path / "no" / "such" / "dir" / "j.db")


async def test_open_directory_fails(tmp_path: Path) -> None:
    with pytest.raises(JournalError):
        await Journal.open(tmp_path)


async def test_open_foreign_sqlite_file_fails(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("CREATE TABLE users (id INTEGER)")
    with pytest.raises(JournalError, match="not a zyntro_async journal"):
        await Journal.open(path)
    with closing(sqlite3.connect(path)) as conn, conn:  # untouched
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("users",)]


async def test_open_garbage_file_fails(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(JournalError):
        await Journal.open(path)


async def test_open_other_schema_version_fails(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    await (await Journal.open(path)).close()
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("PRAGMA user_version=99")
    with pytest.raises(JournalError, match="schema version 99"):
        await Journal.open(path)


async def test_second_open_in_same_process_fails(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with await Journal.open(path) as j:
        with pytest.raises(JournalError, match="in use by another run"):
            await Journal.open(path)
        await j.claim(_claim("k"))
    async with await Journal.open(path) as j:  # released by close()
        assert await j.get("k") is not None


def _install_failing_trigger(path: Path) -> None:
    """Make the database reject key 'boom', like a disk-full error in the worker thread."""
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(
            "CREATE TRIGGER boom BEFORE INSERT ON entries WHEN NEW.key = 'boom' "
            "BEGIN SELECT RAISE(ABORT, 'simulated disk failure'); END"
        )


async def test_worker_error_reaches_every_waiter_and_later_calls(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    await (await Journal.open(path)).close()
    _install_failing_trigger(path)

    j = await Journal.open(path, flush_interval=NEVER, batch_size=3)
    results = await asyncio.wait_for(
        asyncio.gather(
            j.claim(_claim("ok1")),
            j.claim(_claim("boom")),
            j.claim(_claim("ok2")),
            return_exceptions=True,
        ),
        TIMEOUT,
    )
    assert all(isinstance(r, JournalError) for r in results), results
    assert "simulated disk failure" in str(results[1])
    with pytest.raises(JournalError):
        j.mark_done("x", profile_id=1)
    with pytest.raises(JournalError):
        await j.get("ok1")
    with pytest.raises(JournalError):
        await j.flush()
    await j.close()  # already reported: releases without raising
    await j.close()

    async with await Journal.open(path) as j2:  # the failed batch was rolled back
        assert await _entries(j2, ["ok1", "ok2", "boom"]) == {}


async def test_buffered_write_error_is_raised_by_close(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    await (await Journal.open(path)).close()
    _install_failing_trigger(path)

    j = await Journal.open(path, flush_interval=NEVER)
    j.mark_done("boom", profile_id=1)
    with pytest.raises(JournalError, match="simulated disk failure"):
        await j.close()
    await j.close()  # idempotent afterwards


# -- lifecycle -------------------------------------------------------------------------------


async def test_close_commits_a_waiting_claim(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    j = await Journal.open(path, flush_interval=NEVER)
    mark = asyncio.ensure_future(j.claim(_claim("k")))
    await asyncio.sleep(0)  # let the claim queue
    await asyncio.wait_for(j.close(), TIMEOUT)
    assert mark.done()
    assert mark.exception() is None
    assert _raw_rows(path) == {"k": ("k", "sent", 1)}


async def test_a_cancelled_claim_leaves_journal_usable(tmp_path: Path) -> None:
    async with await Journal.open(tmp_path / "j.db", flush_interval=NEVER) as j:
        mark = asyncio.ensure_future(j.claim(_claim("k")))
        await asyncio.sleep(0)
        mark.cancel()
        with pytest.raises(asyncio.CancelledError):
            await mark
        await j.flush()
        # The row is committed anyway: "sent" without a request is reconciled, never lost.
        entry = await j.get("k")
        assert entry is not None
        assert entry.state is JournalState.SENT
        await _sent(j, "k2")


async def test_close_flushes_and_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    j = await Journal.open(path, flush_interval=NEVER)
    j.mark_done("k", profile_id=3)
    await asyncio.gather(j.close(), j.close())
    await j.close()
    with pytest.raises(JournalError, match="closed"):
        j.mark_done("k2", profile_id=1)
    with pytest.raises(JournalError, match="closed"):
        await j.get("k")
    assert _raw_rows(path) == {"k": ("k", "done", 0)}


async def test_file_holds_no_payload(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    secret_payload = {"email": "ada@example.com", "api_token": "tok_SECRET_123"}
    key = item_key("c1", "s", secret_payload)
    async with await Journal.open(path) as j:
        await j.claim(Claim(key, "c1", "s", payload_digest(secret_payload)))
        j.mark_done(key, profile_id=1)
    data = path.read_bytes()
    assert key.encode() in data
    assert b"ada@example.com" not in data
    assert b"tok_SECRET_123" not in data


@pytest.mark.slow
async def test_hundred_thousand_items(tmp_path: Path) -> None:
    n = 100_000
    items = iter(range(n))

    async def worker(j: Journal) -> None:
        for i in items:
            key = f"k{i}"
            await j.claim(_claim(key, contact_id=f"c{i}"))
            if i % 10:
                j.mark_done(key, profile_id=i)
            else:
                j.mark_failed(key, error_code="invalid")

    path = tmp_path / "j.db"
    async with await Journal.open(path, batch_size=512) as j:
        await asyncio.gather(*(worker(j) for _ in range(1024)))
    assert _state_counts(path) == {
        JournalState.SENT: 0,
        JournalState.DONE: n - n // 10,
        JournalState.FAILED: n // 10,
    }


# -- model-based check of claims, ordering and read-your-writes ------------------------------

_ops = st.lists(
    st.tuples(
        st.sampled_from(["claim", "claim+done", "done", "failed", "get", "flush"]),
        st.sampled_from(["a", "b", "c"]),
        st.integers(0, 5),
    ),
    max_size=30,
)

# A failure with one of these codes was the item's own: a claim leaves it failed.
_SETTLED = frozenset({"e0", "e1"})
_Model = tuple[JournalState, int | None, str | None, int, str]  # state, id, code, attempts, digest


def _claim_sends(stored: _Model | None, digest: str) -> bool:
    """The claim rule, as the journal promises it."""
    if stored is None:
        return True
    state, _, code, _, stored_digest = stored
    if stored_digest not in ("", digest):
        return False  # the key stands for another payload
    if state is JournalState.FAILED:
        return code not in _SETTLED
    return state is JournalState.SENT  # sent, never confirmed: claimed again; done: never


@settings(max_examples=40, deadline=None)
@given(_ops)
def test_journal_matches_a_model(ops: list[tuple[str, str, int]]) -> None:
    async def run(path: Path) -> None:
        model: dict[str, _Model] = {}

        def mark(key: str, state: JournalState, pid: int | None, code: str | None) -> None:
            _, _, _, attempts, digest = model.get(key, (state, None, None, 0, ""))
            model[key] = (state, pid, code, attempts, digest)

        async with await Journal.open(path, flush_interval=NEVER, batch_size=4) as j:
            for op, key, n in ops:
                if op in ("claim", "claim+done"):
                    digest = str(n % 2)
                    claim = Claim(key, "c", "s", digest, settled=_SETTLED)
                    sends = _claim_sends(model.get(key), digest)
                    claimed = asyncio.ensure_future(j.claim(claim))
                    if op == "claim+done":  # marked before the claim returns: applied after it
                        await asyncio.sleep(0)
                        j.mark_done(key, profile_id=n)
                    answer, _ = await asyncio.wait_for(asyncio.gather(claimed, j.flush()), TIMEOUT)
                    assert answer.sent is sends
                    if sends:
                        attempts = model[key][3] if key in model else 0
                        model[key] = (JournalState.SENT, None, None, attempts + 1, digest)
                    if op == "claim+done":
                        mark(key, JournalState.DONE, n, None)
                elif op == "done":
                    j.mark_done(key, profile_id=n)
                    mark(key, JournalState.DONE, n, None)
                elif op == "failed":
                    j.mark_failed(key, error_code=f"e{n}")
                    mark(key, JournalState.FAILED, None, f"e{n}")
                elif op == "get":
                    entry = await j.get(key)
                    got = (
                        (
                            entry.state,
                            entry.profile_id,
                            entry.error_code,
                            entry.attempts,
                            entry.payload_digest,
                        )
                        if entry
                        else None
                    )
                    assert got == model.get(key)
                else:
                    await j.flush()
            expected = dict(model)
        async with await Journal.open(path) as j:
            found = await _entries(j, ["a", "b", "c"])
        assert {
            k: (e.state, e.profile_id, e.error_code, e.attempts, e.payload_digest)
            for k, e in found.items()
        } == expected

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(Path(tmp) / "j.db"))


async def test_a_lone_surrogate_is_refused_at_the_call_and_poisons_no_batch(
    tmp_path: Path,
) -> None:
    async with await Journal.open(tmp_path / "j.db") as j:
        good = asyncio.ensure_future(j.claim(_claim("good")))
        with pytest.raises(ValueError, match="UTF-8"):
            await j.claim(_claim("bad\ud800"))
        with pytest.raises(ValueError, match="UTF-8"):
            await j.claim(_claim("k", contact_id="c\udfff"))
        with pytest.raises(ValueError, match="UTF-8"):
            await j.claim(_claim("k", digest="d\udfff"))
        await good
        entry = await j.get("good")
    assert entry is not None
    assert entry.state is JournalState.SENT
