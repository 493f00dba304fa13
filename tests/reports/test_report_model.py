"""The report models: the paths the runbook's jq commands read, the accounting identity, and the
committed JSON Schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from flywheel.domain.ads import AdsOutcome, AdsStatus, CampaignSpec, Targeting
from flywheel.domain.epoch_state import (
    STEPS,
    EpochError,
    EpochMode,
    EpochState,
    EpochStatus,
    IntentRecord,
)
from flywheel.domain.fees import RejectedFee
from flywheel.domain.trade import Quote
from flywheel.reports.common import realized_price, slippage_bps
from flywheel.reports.models import AccountingSection, EpochReport
from flywheel.reports.schema import REGENERATE_COMMAND, render, report_json_schema
from flywheel.reports.snapshot import SnapshotReport, WalletBalance, WalletRole

REPO = Path(__file__).resolve().parents[2]
STARTED = datetime(2026, 11, 28, 10, 57, 0, tzinfo=UTC)
RAW_QUOTE = {
    "inputMint": "So11111111111111111111111111111111111111112",
    "inAmount": "600000000",
    "outAmount": "2000000000",
    "otherAmountThreshold": "1940000000",
    "priceImpactPct": "0.0012",
    "routePlan": [{"percent": 100}],
}


def jq(document: dict[str, Any], path: str) -> Any:
    """A jq-style lookup: '.execution.buyback.quote.raw' on the dumped JSON."""
    value: Any = document
    for key in path.strip(".").split("."):
        value = value[key]
    return value


def dumped(report: EpochReport | SnapshotReport) -> dict[str, Any]:
    # Through text, as a reader of the file would see it.
    data: dict[str, Any] = json.loads(report.model_dump_json())
    return data


def succeeded_state() -> EpochState:
    return EpochState(
        id="01JDXK3M7Q8R9S0T1V2W3X4Y5Z",
        mode=EpochMode.LIVE,
        started_at=STARTED,
        finished_at=STARTED + timedelta(seconds=42),
        status=EpochStatus.SUCCEEDED,
        steps_done=list(STEPS),
        carried_in_lamports=100_000_000,
        fees_in_lamports=900_000_000,
        receipt_signatures=["sigA", "sigB"],
        quarantined_signatures=["sigQ"],
        rejected_fees=[RejectedFee("sigR", 7_000, "an airdrop, not a fee")],
        sol_usd_price="150.25",
        executor_balance_lamports=5_000_000_000,
        buyback_planned_lamports=600_000_000,
        ads_planned_lamports=300_000_000,
        allocation_note="",
        quote=Quote(
            in_lamports=600_000_000,
            out_amount=2_000_000_000,
            min_out_amount=1_940_000_000,
            price_impact_bps=12,
            slippage_bps=300,
            raw=RAW_QUOTE,
        ),
        quote_attempts=1,
        swap_intents=[
            IntentRecord(
                kind="swap",
                signature="swapSig",
                last_valid_block_height=1000,
                status="confirmed",
                fee_lamports=5_000,
                sol_delta=-600_005_000,
                token_delta=1_980_000_000,
            )
        ],
        buyback_spent_lamports=600_000_000,
        tokens_bought=1_980_000_000,
        settle_intent=IntentRecord(
            kind="burn",
            signature="burnSig",
            last_valid_block_height=1010,
            status="confirmed",
            fee_lamports=5_000,
            sol_delta=-5_000,
            token_delta=-1_980_000_000,
        ),
        tokens_settled=1_980_000_000,
        destination="burn",
        ads_reserved_lamports=300_000_000,
        ads=AdsOutcome(
            status=AdsStatus.PENDING_OPERATOR,
            spec=CampaignSpec(
                budget_usd=45.075,
                budget_micro_usd=45_075_000,
                duration_hours=24,
                targeting=Targeting(locations=["US"], languages=["en"], keywords=["solana"]),
                post_id="1862000000000000000",
            ),
        ),
    )


def failed_state() -> EpochState:
    return EpochState(
        id="e-7f3a9c21",
        mode=EpochMode.SIMULATE,
        started_at=STARTED,
        finished_at=STARTED + timedelta(seconds=3),
        status=EpochStatus.FAILED,
        steps_done=["reconcile", "detect", "allocate", "buyback.quote"],
        fees_in_lamports=1_000_000_000,
        receipt_signatures=["sigA"],
        sol_usd_price="150",
        executor_balance_lamports=2_000_000_000,
        buyback_planned_lamports=1_000_000_000,
        quote=Quote(
            in_lamports=1_000_000_000,
            out_amount=10,
            min_out_amount=9,
            price_impact_bps=900,
            slippage_bps=300,
        ),
        quote_attempts=2,
        price_impact_limited=True,
        errors=[
            EpochError(
                step="buyback.guard",
                kind="GuardRefused",
                message="swap moves 2 SOL, quote says 1",
            )
        ],
    )


def test_succeeded_epoch_has_every_runbook_path() -> None:
    doc = dumped(EpochReport.from_state(succeeded_state()))

    assert (doc["schema_version"], doc["kind"], doc["status"]) == (1, "epoch", "succeeded")
    assert doc["mode"] == "live"
    assert doc["epoch_id"] == "01JDXK3M7Q8R9S0T1V2W3X4Y5Z"
    assert doc["started_at"] == "2026-11-28T10:57:00Z"
    assert doc["finished_at"] == "2026-11-28T10:57:42Z"
    assert isinstance(doc["flywheel_version"], str)
    assert doc["flywheel_version"]
    assert jq(doc, ".fees") == {
        "carried_in_lamports": 100_000_000,
        "detected_lamports": 900_000_000,
        "receipts": 2,
        "receipt_signatures": ["sigA", "sigB"],
        "quarantined_signatures": ["sigQ"],
        "rejected": [{"signature": "sigR", "lamports": 7_000, "reason": "an airdrop, not a fee"}],
        "internal_transfer_signatures": [],
        "internal_transfer_lamports": 0,
        "funding": "same-wallet",
        "collected_lamports": 0,
    }
    assert jq(doc, ".allocation.sol_usd_price") == "150.25"
    assert jq(doc, ".allocation.buyback_lamports") == 600_000_000
    assert jq(doc, ".allocation.ads_lamports") == 300_000_000
    assert jq(doc, ".allocation.carried_lamports") == 100_000_000

    quote = jq(doc, ".execution.buyback.quote")
    assert quote["in_amount"] == 600_000_000
    assert quote["out_amount"] == 2_000_000_000
    assert quote["other_amount_threshold"] == 1_940_000_000
    assert (quote["price_impact_bps"], quote["slippage_bps"]) == (12, 300)
    assert quote["raw"] == RAW_QUOTE
    buyback = jq(doc, ".execution.buyback")
    assert [t["kind"] for t in buyback["transactions"]] == ["swap", "burn"]
    assert buyback["transactions"][0] == {
        "kind": "swap",
        "signature": "swapSig",
        "status": "confirmed",
        "error": "",
        "fee_lamports": 5_000,
        "sol_delta": -600_005_000,
        "token_delta": 1_980_000_000,
    }
    assert buyback["spent_lamports"] == 600_000_000
    assert buyback["tokens_bought"] == 1_980_000_000
    # 600_000_000 / 1_980_000_000 lamports per base unit, as exact text.
    assert Decimal(buyback["realized_price_lamports_per_token"]).quantize(
        Decimal("0.000001")
    ) == Decimal("0.303030")
    assert buyback["slippage_vs_quote_bps"] == 100  # 1.98e9 received vs 2e9 quoted
    assert buyback["settlement"] == {
        "destination": "burn",
        "signature": "burnSig",
        "status": "confirmed",
        "tokens": 1_980_000_000,
        "in_swap": False,
    }

    ads = jq(doc, ".execution.ads")
    assert ads["status"] == "pending-operator"
    assert jq(doc, ".execution.ads.budget_usd") == 45.075
    assert ads["budget_micro_usd"] == 45_075_000
    assert ads["duration_hours"] == 24
    assert ads["targeting"]["locations"] == ["US"]
    assert ads["post_id"] == "1862000000000000000"
    assert ads["objective"] == "ENGAGEMENTS"
    assert ads["reserved_lamports"] == 300_000_000

    assert jq(doc, ".accounting") == {
        "input_lamports": 1_000_000_000,
        "buyback_spent_lamports": 600_000_000,
        "ads_reserved_lamports": 300_000_000,
        "carried_out_lamports": 100_000_000,
    }
    assert jq(doc, ".errors") == []


def test_failed_epoch_reports_errors_and_skipped_ads() -> None:
    doc = dumped(EpochReport.from_state(failed_state()))

    assert (doc["status"], doc["mode"]) == ("failed", "simulate")
    assert jq(doc, ".errors") == [
        {
            "step": "buyback.guard",
            "kind": "GuardRefused",
            "message": "swap moves 2 SOL, quote says 1",
        }
    ]
    buyback = jq(doc, ".execution.buyback")
    assert buyback["quote"]["in_amount"] == 1_000_000_000
    assert buyback["quote"]["raw"] == {}
    assert (buyback["quote_attempts"], buyback["price_impact_limited"]) == (2, True)
    assert buyback["transactions"] == []
    assert buyback["spent_lamports"] == 0
    assert buyback["realized_price_lamports_per_token"] is None
    assert buyback["slippage_vs_quote_bps"] is None
    assert buyback["settlement"] is None
    assert jq(doc, ".execution.ads") == {
        "status": "skipped",
        "budget_usd": 0,
        "budget_micro_usd": 0,
        "reserved_lamports": 0,
        "duration_hours": None,
        "targeting": None,
        "post_id": None,
        "objective": None,
        "campaign_id": None,
        "detail": {},
    }
    # Nothing spent: every detected lamport carries to the next epoch.
    assert jq(doc, ".accounting.carried_out_lamports") == 1_000_000_000


def test_a_running_journal_is_judged_by_its_errors() -> None:
    running = failed_state().model_copy(update={"status": EpochStatus.RUNNING, "finished_at": None})
    now = STARTED + timedelta(minutes=1)
    report = EpochReport.from_state(running, now=now)
    assert report.status == "failed"
    assert report.finished_at == now

    clean = running.model_copy(update={"errors": []})
    assert EpochReport.from_state(clean, now=now).status == "succeeded"


def test_held_tokens_settle_without_a_transaction() -> None:
    state = succeeded_state().model_copy(
        update={"settle_intent": None, "destination": "hold", "tokens_settled": 1_980_000_000}
    )
    doc = dumped(EpochReport.from_state(state))
    assert jq(doc, ".execution.buyback.settlement") == {
        "destination": "hold",
        "signature": None,
        "status": "held",
        "tokens": 1_980_000_000,
        "in_swap": False,
    }
    assert [t["kind"] for t in jq(doc, ".execution.buyback.transactions")] == ["swap"]


def test_times_are_written_in_utc_with_z() -> None:
    paris = timezone(timedelta(hours=1))
    state = succeeded_state().model_copy(
        update={
            "started_at": datetime(2026, 11, 28, 11, 57, tzinfo=paris),
            "finished_at": datetime(2026, 11, 28, 10, 58),  # naive: the store's UTC
        }
    )
    doc = dumped(EpochReport.from_state(state))
    assert doc["started_at"] == "2026-11-28T10:57:00Z"
    assert doc["finished_at"] == "2026-11-28T10:58:00Z"


def test_accounting_identity_is_enforced() -> None:
    with pytest.raises(ValidationError, match="accounting identity broken"):
        AccountingSection(
            input_lamports=1_000,
            buyback_spent_lamports=600,
            ads_reserved_lamports=300,
            carried_out_lamports=200,
        )
    doc = dumped(EpochReport.from_state(succeeded_state()))
    doc["accounting"]["carried_out_lamports"] += 1
    with pytest.raises(ValidationError, match="accounting identity broken"):
        EpochReport.model_validate(doc)


def test_reports_round_trip_and_tolerate_new_fields() -> None:
    report = EpochReport.from_state(succeeded_state())
    doc = dumped(report)
    assert EpochReport.model_validate(doc) == report
    # Additive fields do not bump schema_version, so today's reader must accept tomorrow's file.
    doc["some_future_field"] = {"x": 1}
    doc["execution"]["buyback"]["another"] = 3
    assert EpochReport.model_validate(doc) == report


def test_derived_figures_are_exact_text() -> None:
    assert realized_price(1, 10**9) == "0.000000001"  # never "1E-9"
    assert realized_price(3_000, 1_000) == "3"
    assert realized_price(1_000_000_000, 3) == "333333333.3333333333333333333"
    assert realized_price(5, 0) is None
    assert slippage_bps(10_000, 9_900) == 100
    assert slippage_bps(10_000, 10_100) == -100
    assert slippage_bps(3, 2) == 3333
    assert slippage_bps(0, 5) is None
    assert slippage_bps(5, 0) is None


def snapshot(sol_usd: Decimal | None = Decimal("150"), token_usd: Decimal | None = None):
    token_usd = Decimal("0.0012") if token_usd is None else token_usd
    wallets = [
        WalletBalance.priced(
            role=WalletRole.EXECUTOR,
            pubkey="Exec1111111111111111111111111111111111111111",
            sol_lamports=2 * 10**9,
            token_amount=1_000_000,  # one whole token at 6 decimals
            token_decimals=6,
            sol_usd=sol_usd,
            token_usd=token_usd,
        ),
        WalletBalance.priced(
            role=WalletRole.FEE_COLLECTOR,
            pubkey="Fees1111111111111111111111111111111111111111",
            sol_lamports=1,
            token_amount=0,
            token_decimals=6,
            sol_usd=sol_usd,
            token_usd=token_usd,
        ),
    ]
    return SnapshotReport.create(
        taken_at=STARTED,
        token_mint="Mint111111111111111111111111111111111111111",
        sol_usd=sol_usd,
        token_usd=token_usd,
        wallets=wallets,
    )


def test_snapshot_values_wallets_and_totals() -> None:
    doc = dumped(snapshot())
    assert (doc["schema_version"], doc["kind"], doc["taken_at"]) == (
        1,
        "snapshot",
        "2026-11-28T10:57:00Z",
    )
    assert (doc["sol_usd_price"], doc["token_usd_price"]) == ("150", "0.0012")
    executor, collector = doc["wallets"]
    assert executor["role"] == "executor"
    assert executor["usd_value_micro"] == 300_000_000 + 1_200  # 2 SOL + 1 token
    assert collector["usd_value_micro"] == 0  # 1 lamport is 0.15 micro-USD: rounded down
    assert doc["totals"] == {
        "sol_lamports": 2 * 10**9 + 1,
        "token_amount": 1_000_000,
        "usd_value_micro": 300_001_200,
    }

    unpriced = dumped(snapshot(sol_usd=None))
    assert unpriced["sol_usd_price"] is None
    assert [w["usd_value_micro"] for w in unpriced["wallets"]] == [None, None]
    assert unpriced["totals"]["usd_value_micro"] is None


def test_snapshot_rejects_totals_that_do_not_add_up() -> None:
    doc = dumped(snapshot())
    doc["totals"]["sol_lamports"] -= 1
    with pytest.raises(ValidationError, match="totals do not match"):
        SnapshotReport.model_validate(doc)


def test_committed_schema_is_up_to_date() -> None:
    committed = REPO / "docs" / "report-schema.json"
    assert committed.is_file(), f"docs/report-schema.json is missing; run: {REGENERATE_COMMAND}"
    assert committed.read_text(encoding="utf-8") == render(), (
        f"docs/report-schema.json is out of date; regenerate it with: {REGENERATE_COMMAND}"
    )


def test_reports_validate_against_the_published_schema() -> None:
    schema = report_json_schema()
    assert schema["schema_version"] == 1
    validator = jsonschema.Draft202012Validator(schema)
    for doc in (
        dumped(EpochReport.from_state(succeeded_state())),
        dumped(EpochReport.from_state(failed_state())),
        dumped(snapshot()),
    ):
        validator.validate(doc)

    broken = dumped(EpochReport.from_state(succeeded_state()))
    broken["accounting"]["input_lamports"] = "1000000000"  # money must be an integer
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)
    del broken["errors"]
    assert not validator.is_valid(broken)
