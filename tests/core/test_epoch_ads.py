"""The ads side of an epoch: accrue in the ledger, make a campaign when the budget is enough."""

from __future__ import annotations

import pytest

from flywheel.domain.ads import AdsOutcome, AdsStatus, CampaignSpec
from flywheel.domain.epoch_state import EpochState, EpochStatus
from flywheel.errors import OperationalError
from flywheel.persistence.store import SqliteStore
from tests.core.fakes import FEE, Crash, EpochWorld, PendingAds, RecordingAds


async def test_small_budgets_accrue_until_they_make_one_campaign(tmp_path):
    # 0.3 SOL of ads per epoch at $150 = $45; the minimum is $100: the third epoch launches.
    world = EpochWorld.at(tmp_path, ads_min_budget_micro_usd=100_000_000)
    outcomes = []
    for n in range(3):
        world.ledger.pay_fee(10**9, n)
        state = await world.run()
        assert state.ads is not None
        outcomes.append(state.ads.status)
    assert outcomes == [AdsStatus.ACCRUED, AdsStatus.ACCRUED, AdsStatus.PLANNED]
    assert len(world.ads.runs) == 1
    assert world.ads.runs[0][1].budget_micro_usd == 3 * 45_000_000
    with SqliteStore.open(world.db) as store:
        # A dry-run plan commits nothing: the budget stays available and keeps accruing.
        assert store.ads_available_micro_usd() == 135_000_000
        assert store.ads_balance()["accrued"] == 135_000_000
        assert store.ads_balance()["committed"] == 0
    world.ledger.pay_fee(10**9, 3)
    fourth = await world.run()
    assert fourth.ads is not None and fourth.ads.status == AdsStatus.PLANNED
    assert world.ads.runs[1][1].budget_micro_usd == 4 * 45_000_000  # what would launch now
    world.check_accounting()


async def test_a_campaign_handed_to_the_operator_commits_its_budget(tmp_path):
    world = EpochWorld.at(tmp_path)
    world.ads = PendingAds()  # type: ignore[assignment]
    world.ledger.pay_fee(10**9, 0)
    state = await world.run()
    assert state.ads is not None and state.ads.status == AdsStatus.PENDING_OPERATOR
    with SqliteStore.open(world.db) as store:
        assert store.ads_balance()["committed"] == 45_000_000
        assert store.ads_available_micro_usd() == 0
    world.check_accounting()


async def test_ads_share_goes_to_the_ads_treasury_exactly_once(tmp_path):
    world = EpochWorld.at(tmp_path, ads_treasury="AdsTreasury1111111111111111111111111111111")
    world.ledger.pay_fee(10**9, 0)

    def crash_after_send(step: str, state: EpochState) -> None:
        if step == "buyback.settle":
            world.ledger.crash_after_executing = 1  # the ads transfer lands, then we "die"

    with pytest.raises(Crash):
        await world.run(on_step=crash_after_send)
    state = await world.run()
    assert state.status == EpochStatus.SUCCEEDED
    assert world.ledger.ads_treasury_lamports == 300_000_000
    assert state.ads_transfer_intent is not None
    assert state.ads_transfer_intent.status == "confirmed"
    # detected = spent + reserved + carried still holds; the ledger also paid one more fee.
    epochs = world.finished()
    assert sum(e.ads_reserved_lamports for e in epochs) == 300_000_000
    assert world.ledger.executor_lamports == (
        10 * 10**9 + 10**9 - 700_000_000 - 300_000_000 - FEE * len(world.ledger.executed)
    )


class FailingAds:
    mode = "api"

    async def run(self, epoch_id: str, spec: CampaignSpec) -> AdsOutcome:
        raise OperationalError("X Ads API rejected the credentials (401)")


async def test_an_ads_failure_fails_the_ads_step_not_the_buyback_and_keeps_the_budget(tmp_path):
    world = EpochWorld.at(tmp_path)
    world.ads = FailingAds()  # type: ignore[assignment]
    world.ledger.pay_fee(10**9, 0)
    state = await world.run()
    assert state.status == EpochStatus.ADS_FAILED  # not FAILED: the buyback stands
    assert state.buyback_spent_lamports == 700_000_000 and state.tokens_settled > 0
    assert state.errors[0].step == "ads"
    assert "credentials" in state.errors[0].message
    assert state.ads_reserved_lamports == 300_000_000, "accrued: reserved for ads, not lost"
    with SqliteStore.open(world.db) as store:
        assert store.ads_available_micro_usd() == 45_000_000
    world.check_accounting()


async def test_a_budget_kept_after_a_failed_launch_launches_without_new_fees(tmp_path):
    world = EpochWorld.at(tmp_path)
    world.ads = FailingAds()  # type: ignore[assignment]
    world.ledger.pay_fee(10**9, 0)
    failed = await world.run()
    assert failed.status == EpochStatus.ADS_FAILED

    world.ads = RecordingAds()
    quiet = await world.run()  # no new fees: only the budget the failed launch kept
    assert quiet.ads is not None
    assert quiet.ads.status == AdsStatus.PLANNED
    assert quiet.fees_in_lamports == 0
    assert world.ads.runs[0][1].budget_micro_usd == 45_000_000
    world.check_accounting()
