"""The statuses that were strings are StrEnums: equal to the strings stored and reported, so
old state files and reports read the same, and each enum names every value its table holds."""

from __future__ import annotations

from flywheel.domain.ads import AdsLedgerKind
from flywheel.domain.epoch_state import IntentRecord, IntentStatus, StepStatus
from flywheel.domain.trade import LandingStatus
from flywheel.persistence.store import ADS_KINDS


def test_the_enums_name_exactly_the_stored_values() -> None:
    assert set(AdsLedgerKind) == set(ADS_KINDS)
    assert set(IntentStatus) == {"pending", *LandingStatus}
    assert {"started", "done", "interrupted"} == set(StepStatus)


def test_an_intent_reads_and_writes_its_status_as_the_plain_string() -> None:
    stored = '{"kind":"swap","signature":"s","last_valid_block_height":1,"status":"expired"}'
    record = IntentRecord.model_validate_json(stored)
    assert record.status == IntentStatus.EXPIRED
    assert '"status":"expired"' in record.model_dump_json()
    assert IntentRecord(kind="swap", signature="t", last_valid_block_height=2).status == "pending"
