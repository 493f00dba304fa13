"""FEE_SOURCES=pump end to end: the sandbox's emulated pump.fun coin (creator: the executor),
traders whose fees accrue in its creator vault, on its curve (v3) and in its PumpSwap vault, and
`flywheel epoch` as an operator runs it.

What counts is checked against the chain: the vaults before the epoch, the claim transaction's
own balances (the executor's change plus its fee), and the vaults afterwards (their rent).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from flywheel.domain.epoch_state import EpochState, EpochStatus
from flywheel.sandbox.pump import layout
from flywheel.sandbox.runner import Sandbox
from flywheel.solana.keypair import write_keypair_file
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
from tests.sandbox.harness import start_sandbox

pytestmark = pytest.mark.slow


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Sandbox]:
    sandbox = start_sandbox(tmp_path / "sandbox", fee_source="pump")
    try:
        yield sandbox
    finally:
        sandbox.stop()


def owed(box: Sandbox) -> int:
    """Every creator fee waiting, read from the emulated accounts themselves."""
    pump = box.pump
    assert pump is not None
    chain = box.chain
    curve = chain.get_account(pump.curve)
    amm = chain.get_account(pump.amm_vault)
    assert curve is not None and amm is not None
    vault = chain.balance(pump.vault) - chain.minimum_balance_for_rent_exemption(0)
    return (
        vault + layout.curve_creator_fee(bytes(curve.data)) + layout.token_amount(bytes(amm.data))
    )


def arrived(view: ChainView, signature: str) -> int:
    """The executor's SOL change plus the fee it paid, from the chain's own record."""
    record = next(r for r in view.history() if str(r.signature) == signature)
    return view.executor_delta(record) + record.fee


def only_epoch(env: dict[str, str]) -> EpochState:
    epochs = finished_epochs(env)
    assert len(epochs) == 1, [e.id for e in epochs]
    return epochs[0]


def test_epoch_claims_both_vaults_buys_back_and_burns(box: Sandbox, tmp_path: Path) -> None:
    view = ChainView(box)
    box.traders.step(6)  # two of each kind: vault, curve (v3), PumpSwap
    waiting = owed(box)
    assert waiting > 0, "the traders paid no creator fee"
    supply_before, bookmark = view.supply(), view.next_seq()
    env = flywheel_env(box, tmp_path / "bot")
    assert env["FEE_SOURCES"] == "pump"

    done = run_cli(["epoch"], tmp_path / "bot")
    assert done.returncode == 0, describe(done)
    epoch = only_epoch(env)
    assert epoch.status is EpochStatus.SUCCEEDED, epoch.errors
    [claim] = epoch.claim_intents
    assert claim.status == "confirmed" and epoch.claim_counted == [claim.signature]
    # Exactly what the claim's own balances show arrived, and that is every fee that waited.
    assert epoch.fees_in_lamports == arrived(view, claim.signature) == waiting
    assert owed(box) == 0  # the vaults keep their rent, the curve's fee is swept
    pump = box.pump
    assert pump is not None
    assert box.chain.balance(pump.vault) == box.chain.minimum_balance_for_rent_exemption(0)
    kinds = [t.kind for t in view.executor_txs(bookmark)]
    assert kinds == ["other", "swap", "burn"], kinds
    assert epoch.tokens_settled > 0 and supply_before - view.supply() == epoch.tokens_settled
    report = report_of(epoch)
    assert report["claims"]["signatures"] == [claim.signature]
    assert report["claims"]["lamports_in"] == waiting

    # A second epoch with no new trades claims nothing.
    again = run_cli(["epoch"], tmp_path / "bot")
    assert again.returncode == 0, describe(again)
    second = finished_epochs(env)[-1]
    assert second.id != epoch.id and second.status is EpochStatus.SUCCEEDED, second.errors
    assert second.claim_intents == [] and second.fees_in_lamports == 0
    assert any("waits" in note for note in second.claim_notes), second.claim_notes


def test_executor_not_the_creator_is_said_clearly(tmp_path: Path) -> None:
    other = start_sandbox(tmp_path / "sandbox", fee_source="pump")
    try:
        other.traders.step(3)
        # The coin's creator is the sandbox's executor; a bot run with another key is not.
        stranger = other.scenario.keypair("not-the-creator")
        other.chain.airdrop(stranger.pubkey(), 10**9)
        (tmp_path / "bot").mkdir(parents=True)
        key_path = tmp_path / "bot" / "stranger.json"
        write_keypair_file(key_path, stranger)
        env = flywheel_env(
            other,
            tmp_path / "bot",
            EXECUTOR_KEYPAIR_PATH=str(key_path),
            FEE_COLLECTOR_PUBKEY=str(stranger.pubkey()),
        )
        done = run_cli(["epoch"], tmp_path / "bot")
        assert done.returncode == 1, describe(done)
        epoch = only_epoch(env)
        [error] = epoch.errors
        assert error.step == "claim"
        assert "to be the creator of TOKEN_MINT" in error.message
        assert str(stranger.pubkey()) in error.message
        assert str(other.executor.pubkey()) in error.message  # who the creator is
        assert epoch.claim_intents == []
    finally:
        other.stop()


def test_a_coin_moved_to_fee_sharing_is_reported_with_what_to_do(tmp_path: Path) -> None:
    shared = start_sandbox(tmp_path / "sandbox", fee_source="pump", pump_sharing=True)
    try:
        env = flywheel_env(shared, tmp_path / "bot")
        done = run_cli(["epoch"], tmp_path / "bot")
        assert done.returncode == 1, describe(done)
        epoch = only_epoch(env)
        [error] = epoch.errors
        assert error.step == "claim"
        assert "fee-sharing config" in error.message
        assert "distribute_creator_fees_v2" in error.message
        assert "FEE_SOURCES=wallet" in error.message
        assert epoch.claim_intents == []
    finally:
        shared.stop()


@pytest.mark.parametrize(
    ("step", "send"),
    [("reconcile", None), (None, 1), ("claim", None)],
    ids=["before-claim", "claim-sent", "after-claim"],
)
def test_sigkill_around_the_claim_counts_it_once(
    box: Sandbox, tmp_path: Path, step: str | None, send: int | None
) -> None:
    view = ChainView(box)
    box.traders.step(4)
    waiting, bookmark = owed(box), view.next_seq()
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
    assert epoch.fees_in_lamports == arrived(view, claims[0].signature) == waiting
    assert owed(box) == 0


def test_a_claim_worth_less_than_min_claim_sol_waits(box: Sandbox, tmp_path: Path) -> None:
    box.traders.step(3)
    waiting = owed(box)
    env = flywheel_env(box, tmp_path / "bot", MIN_CLAIM_SOL="5000")

    done = run_cli(["epoch"], tmp_path / "bot")
    assert done.returncode == 0, describe(done)
    epoch = only_epoch(env)
    assert epoch.claim_intents == [] and epoch.fees_in_lamports == 0
    assert any(f"{waiting} lamports claimable" in n for n in epoch.claim_notes), epoch.claim_notes
    assert owed(box) == waiting


def test_simulate_plans_the_claim_and_moves_nothing(box: Sandbox, tmp_path: Path) -> None:
    view = ChainView(box)
    box.traders.step(3)
    waiting, bookmark = owed(box), view.next_seq()
    flywheel_env(box, tmp_path / "bot")

    done = run_cli(["simulate"], tmp_path / "bot")
    assert done.returncode == 0, describe(done)
    assert owed(box) == waiting
    assert view.executor_txs(bookmark) == []
