"""The ads ledger across epochs: budgets below ADS_MIN_BUDGET_USD accrue until they make one
campaign with their sum, and what X bills a launched campaign is read back as `spent`."""

from __future__ import annotations

from pathlib import Path

import pytest

from flywheel.domain.epoch_state import EpochStatus
from flywheel.persistence.store import SqliteStore
from flywheel.sandbox.runner import Sandbox
from tests.ads_e2e.harness import (
    ADS_MICRO_PER_EPOCH,
    ads_env,
    assert_fully_launched,
    campaigns,
    ledger,
    pay_fees,
    report_ads,
)
from tests.e2e.harness import check_identity, describe, finished_epochs, report_of, run_cli

pytestmark = pytest.mark.slow


def test_budgets_below_the_minimum_accrue_then_one_campaign_launches_with_their_sum(
    box: Sandbox, tmp_path: Path
) -> None:
    # $0.90 per epoch, $1.50 minimum: the first epoch accrues, the second launches $1.80.
    env = ads_env(box, tmp_path, ADS_MIN_BUDGET_USD="1.5")
    pay_fees(box)
    first = run_cli(["epoch"], tmp_path)
    assert first.returncode == 0, describe(first)
    [accrued] = finished_epochs(env)
    section = report_ads(report_of(accrued))
    assert section["status"] == "accrued"
    assert section["detail"] == {
        "available_micro_usd": ADS_MICRO_PER_EPOCH,
        "min_budget_micro_usd": 1_500_000,
    }
    assert campaigns(box) == [] and not box.x_ads.request_log, "no call below the minimum"
    assert ledger(env)["available"] == ADS_MICRO_PER_EPOCH

    pay_fees(box)
    second = run_cli(["epoch"], tmp_path)

    assert second.returncode == 0, describe(second)
    _, launched = finished_epochs(env)
    section = report_ads(report_of(launched))
    assert section["status"] == "launched"
    assert section["budget_micro_usd"] == 2 * ADS_MICRO_PER_EPOCH
    found = assert_fully_launched(box, launched.id, 2 * ADS_MICRO_PER_EPOCH)
    assert [c.id for c in campaigns(box)] == [found.campaign.id]
    totals = ledger(env)
    assert totals["accrued"] == totals["committed"] == 2 * ADS_MICRO_PER_EPOCH
    assert totals["available"] == 0
    check_identity(finished_epochs(env))


def test_what_x_bills_is_read_back_into_the_ledger_once(box: Sandbox, tmp_path: Path) -> None:
    pay_fees(box)
    env = ads_env(box, tmp_path)
    first = run_cli(["epoch"], tmp_path)
    assert first.returncode == 0, describe(first)
    [epoch] = finished_epochs(env)
    found = assert_fully_launched(box, epoch.id, ADS_MICRO_PER_EPOCH)
    [item] = found.line_items
    assert ledger(env)["spent"] == 0

    box.x_ads.store.add_spend(item.id, 250_000)
    idle = run_cli(["epoch"], tmp_path)  # no new fees: no campaign, but spend is read back
    assert idle.returncode == 0, describe(idle)
    assert ledger(env)["spent"] == 250_000

    box.x_ads.store.add_spend(item.id, 100_000)
    for _ in range(2):  # the second read finds no increase and records nothing
        again = run_cli(["epoch"], tmp_path)
        assert again.returncode == 0, describe(again)
    with SqliteStore.open(Path(env["STATE_DB_PATH"])) as store:
        spent = [e for e in store.ads_entries() if e.kind == "spent"]
    assert [(e.micro_usd, e.campaign_id, e.epoch_id) for e in spent] == [
        (250_000, found.campaign.id, epoch.id),
        (100_000, found.campaign.id, epoch.id),
    ]
    assert [e.status for e in finished_epochs(env)] == [EpochStatus.SUCCEEDED] * 4
    assert len(campaigns(box)) == 1
