"""FEE_SOURCES=token2022 end to end: the sandbox's real Token-2022 mint with a transfer fee,
traders whose trades withhold fees, and `flywheel epoch` as an operator runs it.

What counts is checked against the chain: the withheld fees that were there before the epoch,
the claim transaction's own token balances, the mint's supply, and the accounts' withheld
amounts afterwards.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from flywheel.domain.epoch_state import EpochState, EpochStatus
from flywheel.sandbox.chain.ledger import TokenBalance
from flywheel.sandbox.faults import Faults
from flywheel.sandbox.runner import Sandbox
from tests.e2e.harness import (
    ChainView,
    describe,
    epochs_in,
    finished_epochs,
    flywheel_env,
    report_of,
    run_cli,
    run_crash_epoch,
)
from tests.fee_sources.harness import withheld
from tests.sandbox.harness import start_sandbox

pytestmark = pytest.mark.slow


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Sandbox]:
    sandbox = start_sandbox(tmp_path / "sandbox", fee_source="token2022")
    try:
        yield sandbox
    finally:
        sandbox.stop()


def claim_delta(view: ChainView, signature: str) -> int:
    """The executor's token change in the claim transaction, from the chain's own record."""
    record = next(r for r in view.history() if str(r.signature) == signature)
    executor, mint = view.executor, view.sandbox.token_mint

    def held(balances: list[TokenBalance]) -> int:
        return sum(b.amount for b in balances if b.owner == executor and b.mint == mint)

    return held(record.post_token_balances) - held(record.pre_token_balances)


def sale_fee(box: Sandbox, epoch: EpochState) -> int:
    """What the sale of the ads tokens withheld in the pool's vault: the only fee left."""
    fee = box.pool.transfer_fee
    assert fee is not None
    return fee.fee_on(epoch.ads_tokens_sold)


def only_epoch(env: dict[str, str]) -> EpochState:
    epochs = finished_epochs(env)
    assert len(epochs) == 1, [e.id for e in epochs]
    return epochs[0]


def test_epoch_claims_withheld_fees_and_burns_the_buyback_share(
    box: Sandbox, tmp_path: Path
) -> None:
    view = ChainView(box)
    box.traders.step(4)
    owed = withheld(box)
    assert owed > 0, "the traders' trades withheld no fee"
    supply_before, bookmark = view.supply(), view.next_seq()
    env = flywheel_env(box, tmp_path / "bot")

    done = run_cli(["epoch"], tmp_path / "bot")
    assert done.returncode == 0, describe(done)
    epoch = only_epoch(env)
    assert epoch.status is EpochStatus.SUCCEEDED, epoch.errors
    [claim] = epoch.claim_intents
    assert claim.status == "confirmed" and epoch.claim_counted == [claim.signature]
    # Exactly what the claim's own balances show arrived, and that is every withheld fee.
    assert epoch.fee_tokens_in == claim_delta(view, claim.signature) == owed
    assert epoch.ads_tokens_sold > 0 and withheld(box) == sale_fee(box, epoch)
    assert epoch.fee_tokens_to_settle == owed * 70 // 100
    assert epoch.fee_tokens_for_ads == owed - epoch.fee_tokens_to_settle
    # No swap: the buyback share is burned as it is; supply down by exactly the burn.
    kinds = [t.kind for t in view.executor_txs(bookmark)]
    assert kinds == ["other", "burn", "swap"], kinds  # the swap: the ads share sold for SOL
    assert epoch.tokens_settled == epoch.fee_tokens_to_settle
    assert supply_before - view.supply() == epoch.tokens_settled
    # The ads share is sold (tests/e2e/test_token2022_sell.py): tokens in = settled + sold +
    # carried (0).
    assert view.token_amount() == 0 == epoch.ads_tokens_carried_out
    assert epoch.ads_tokens_sold == epoch.fee_tokens_for_ads
    assert epoch.fee_tokens_in == epoch.tokens_settled + epoch.ads_tokens_sold
    report = report_of(epoch)
    assert report["claims"]["signatures"] == [claim.signature]
    assert report["claims"]["tokens_in"] == owed

    # A second epoch with no new trades claims nothing (the sale's own fee is too small to be
    # worth a claim) and burns nothing.
    supply_after = view.supply()
    again = run_cli(["epoch"], tmp_path / "bot")
    assert again.returncode == 0, describe(again)
    second = finished_epochs(env)[-1]
    assert second.id != epoch.id and second.status is EpochStatus.SUCCEEDED, second.errors
    assert second.claim_intents == [] and second.fee_tokens_in == 0
    assert any("waits" in note for note in second.claim_notes), second.claim_notes
    assert view.supply() == supply_after
    assert second.ads_tokens_carried_in == epoch.ads_tokens_carried_out


def test_a_claim_worth_less_than_min_claim_sol_waits(box: Sandbox, tmp_path: Path) -> None:
    view = ChainView(box)
    box.traders.step(2)
    owed, supply = withheld(box), view.supply()
    env = flywheel_env(box, tmp_path / "bot", MIN_CLAIM_SOL="5000")

    done = run_cli(["epoch"], tmp_path / "bot")
    assert done.returncode == 0, describe(done)
    epoch = only_epoch(env)
    assert epoch.claim_intents == [] and epoch.fee_tokens_in == 0
    assert any("below" in note for note in epoch.claim_notes), epoch.claim_notes
    assert withheld(box) == owed and view.supply() == supply


def test_executor_not_the_withdraw_authority_is_said_clearly(tmp_path: Path) -> None:
    other = start_sandbox(tmp_path / "sandbox", token_program="token-2022")  # creator withdraws
    try:
        other.traders.step(2)
        env = flywheel_env(other, tmp_path / "bot", FEE_SOURCES="token2022")
        done = run_cli(["epoch"], tmp_path / "bot")
        assert done.returncode == 1, describe(done)
        epoch = only_epoch(env)
        assert epoch.status is EpochStatus.FAILED
        [error] = epoch.errors
        assert error.step == "claim"
        assert "withdraw-withheld authority" in error.message
        assert str(other.executor.pubkey()) in error.message
        assert epoch.claim_intents == []
    finally:
        other.stop()


@pytest.mark.parametrize(
    ("step", "send"),
    [("reconcile", None), (None, 1), ("claim", None), ("detect", None)],
    ids=["before-claim", "claim-sent", "after-claim", "after-detect"],
)
def test_sigkill_around_the_claim_counts_it_once(
    box: Sandbox, tmp_path: Path, step: str | None, send: int | None
) -> None:
    view = ChainView(box)
    box.traders.step(3)
    owed, supply_before, bookmark = withheld(box), view.supply(), view.next_seq()
    env = flywheel_env(box, tmp_path / "bot")

    crashed = run_crash_epoch(tmp_path / "bot", after_step=step, after_send=send)
    assert crashed.returncode == -signal.SIGKILL, describe(crashed)
    resumed = run_cli(["epoch"], tmp_path / "bot")
    assert resumed.returncode == 0, describe(resumed)

    assert not [e for e in epochs_in(env) if e.status is EpochStatus.RUNNING]
    epoch = only_epoch(env)
    assert epoch.status is EpochStatus.SUCCEEDED, epoch.errors
    claims = [t for t in view.executor_txs(bookmark) if t.kind == "other" and t.ok]
    assert len(claims) == 1, [t.signature for t in claims]
    assert epoch.claim_counted == [claims[0].signature]
    assert epoch.fee_tokens_in == claim_delta(view, claims[0].signature) == owed
    assert withheld(box) == sale_fee(box, epoch)
    assert supply_before - view.supply() == epoch.tokens_settled == epoch.fee_tokens_to_settle


def test_a_claim_that_keeps_expiring_fails_cleanly_then_lands_once(tmp_path: Path) -> None:
    """Every send dropped: each claim provably expires (1.5 s blockhashes) and is signed anew,
    at most three times; the epoch fails with the fees left withheld, and once the sends go
    through the next epoch claims them all, exactly once."""
    faults = Faults(seed=3)
    box = start_sandbox(tmp_path / "sandbox", fee_source="token2022", slot_ms=20, faults=faults)
    try:
        view = ChainView(box)
        box.traders.step(3)
        owed, supply, bookmark = withheld(box), view.supply(), view.next_seq()
        env = flywheel_env(box, tmp_path / "bot")
        faults.update(drop_sends_rate=1.0, blockhash_lifetime_blocks=75)
        dropped = run_cli(["epoch"], tmp_path / "bot")
        assert dropped.returncode == 1, describe(dropped)
        failed = only_epoch(env)
        assert [i.status for i in failed.claim_intents] == ["expired"] * 3
        assert failed.fee_tokens_in == 0 and failed.claim_counted == []
        assert "did not land after 3 attempts" in failed.errors[0].message
        assert withheld(box) == owed and view.supply() == supply
        assert view.executor_txs(bookmark) == []

        faults.update(drop_sends_rate=0.0, blockhash_lifetime_blocks=150)
        calm = run_cli(["epoch"], tmp_path / "bot")
        assert calm.returncode == 0, describe(calm)
        landed = finished_epochs(env)[-1]
        claims = [t for t in view.executor_txs(bookmark) if t.kind == "other"]
        assert len(claims) == 1 and landed.claim_counted == [claims[0].signature]
        assert landed.fee_tokens_in == owed and withheld(box) == sale_fee(box, landed)
        assert supply - view.supply() == landed.tokens_settled == landed.fee_tokens_to_settle
    finally:
        box.stop()
