"""The claim rule, sans I/O: given a stored entry (plain data) and a claim (the expected
contact, source and payload digest, and the failure codes that settle an item), whether the
key is marked sent, and what the run is told.

Every journal store applies this rule inside its claim; the pipeline turns the verdict into
the item's result on the event loop.
"""

from __future__ import annotations

import attrs
import pytest

from zyntro_async._journal_store import (
    Claim,
    Claimed,
    JournalEntry,
    JournalState,
    Verdict,
    decide,
)

CLAIM = Claim("k", "c1", "linkedin", "d1", settled=frozenset({"NOT_FOUND", "INVALID_PAYLOAD"}))


def _entry(state: JournalState, **fields: object) -> JournalEntry:
    base = JournalEntry(
        key="k",
        state=state,
        contact_id="c1",
        source="linkedin",
        payload_digest="d1",
        profile_id=7 if state is JournalState.DONE else None,
        error_code="NOT_FOUND" if state is JournalState.FAILED else None,
        attempts=1,
        updated_at=1.0,
    )
    return attrs.evolve(base, **fields)


@pytest.mark.parametrize(
    ("entry", "verdict", "sends"),
    [
        pytest.param(None, Verdict.NEW, True, id="new"),
        pytest.param(_entry(JournalState.SENT), Verdict.UNCONFIRMED, True, id="sent"),
        pytest.param(_entry(JournalState.DONE), Verdict.DONE, False, id="ok"),
        pytest.param(_entry(JournalState.FAILED), Verdict.FAILED, False, id="failed-settled"),
        pytest.param(
            _entry(JournalState.FAILED, error_code="RATE_LIMITED"),
            Verdict.RETRY,
            True,
            id="failed-not-the-items-fault",
        ),
        pytest.param(
            _entry(JournalState.FAILED, error_code=None), Verdict.RETRY, True, id="failed-no-code"
        ),
        pytest.param(
            _entry(JournalState.DONE, contact_id="c2"),
            Verdict.CONFLICT,
            False,
            id="conflict-contact",
        ),
        pytest.param(
            _entry(JournalState.SENT, source="other"), Verdict.CONFLICT, False, id="conflict-source"
        ),
        pytest.param(
            _entry(JournalState.FAILED, payload_digest="d2", error_code="RATE_LIMITED"),
            Verdict.CONFLICT,
            False,
            id="conflict-payload",
        ),
        pytest.param(
            _entry(JournalState.DONE, contact_id="", source="", payload_digest=""),
            Verdict.DONE,
            False,
            id="blank-fields-match-anything",
        ),
    ],
)
def test_the_claim_rule(entry: JournalEntry | None, verdict: Verdict, sends: bool) -> None:
    assert decide(entry, CLAIM) is verdict
    assert Claimed(entry, verdict).sent is sends


def test_without_settled_codes_every_failure_is_claimed_again() -> None:
    retry_failed = CLAIM._replace(settled=frozenset())
    assert decide(_entry(JournalState.FAILED), retry_failed) is Verdict.RETRY


def test_a_claim_that_lets_the_payload_differ_still_checks_contact_and_source() -> None:
    any_payload = CLAIM._replace(payload_digest="d9", match_payload=False)
    assert decide(_entry(JournalState.SENT), any_payload) is Verdict.UNCONFIRMED
    assert decide(_entry(JournalState.DONE), any_payload) is Verdict.DONE
    other = _entry(JournalState.SENT, contact_id="c2")
    assert decide(other, any_payload) is Verdict.CONFLICT
