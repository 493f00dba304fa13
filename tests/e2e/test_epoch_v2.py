"""`flywheel epoch` with JUPITER_SWAP_API=v2: one transaction an epoch buys and burns.

The burn of the swap's guaranteed minimum rides in the swap's own transaction; what the swap
gave above the minimum stays in the executor and is burnt in the next epoch's transaction. Over
two epochs the supply drops by exactly what the reports say, and the chain holds one executor
transaction per epoch.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flywheel.domain.epoch_state import EpochMode, EpochStatus
from flywheel.sandbox.jupiter.jito_engine import TIP_ACCOUNTS
from flywheel.sandbox.runner import Sandbox
from tests.e2e.harness import (
    ChainView,
    check_identity,
    describe,
    epochs_in,
    finished_epochs,
    flywheel_env,
    report_of,
    run_cli,
)
from tests.sandbox.harness import start_sandbox

pytestmark = pytest.mark.slow


@pytest.fixture(params=["spl", "token-2022"])
def box(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Sandbox]:
    sandbox = start_sandbox(tmp_path / "sandbox", token_program=request.param)
    try:
        yield sandbox
    finally:
        sandbox.stop()


def test_two_v2_epochs_each_buy_and_burn_in_one_transaction(box: Sandbox, tmp_path: Path) -> None:
    view = ChainView(box)
    supply_start = view.supply()
    env = flywheel_env(box, tmp_path, JUPITER_SWAP_API="v2", MIN_BUYBACK_SOL="0")
    settled: list[int] = []
    for number in (1, 2):
        box.traders.step(5)
        bookmark = view.next_seq()
        supply_before = view.supply()
        result = run_cli(["epoch"], tmp_path)
        assert result.returncode == 0, describe(result)
        epoch = finished_epochs(env)[-1]
        report = report_of(epoch)
        assert report["status"] == "succeeded" and report["errors"] == [], report["errors"]
        buyback = report["execution"]["buyback"]
        settlement = buyback["settlement"]
        # One executor transaction this epoch: the swap, with the burn inside it.
        [tx] = view.executor_txs(since_seq=bookmark)
        assert tx.kind == "swap" and tx.ok
        assert settlement["in_swap"] is True
        assert settlement["signature"] == tx.signature == buyback["transactions"][0]["signature"]
        assert settlement["status"] == "confirmed"
        # What was burnt: the tokens carried in plus the swap's guaranteed minimum.
        quote = buyback["quote"]
        assert settlement["tokens"] == (
            buyback["tokens_carried_in"] + quote["other_amount_threshold"]
        )
        assert supply_before - view.supply() == settlement["tokens"], f"epoch {number}"
        # Above the minimum: kept for the next transaction, and the executor holds exactly it.
        assert buyback["tokens_carried_out"] == (
            buyback["tokens_bought"] - quote["other_amount_threshold"]
        )
        assert view.token_amount() == buyback["tokens_carried_out"]
        settled.append(settlement["tokens"])
    epochs = finished_epochs(env)
    assert len(epochs) == 2 and all(e.status is EpochStatus.SUCCEEDED for e in epochs)
    assert epochs[1].tokens_carried_in == epochs[0].tokens_carried_out > 0
    assert supply_start - view.supply() == sum(settled)
    check_identity(epochs)


def test_a_v2_epoch_through_the_jito_block_engine_tips_exactly_once(tmp_path: Path) -> None:
    box = start_sandbox(tmp_path / "sandbox")
    try:
        view = ChainView(box)
        env = flywheel_env(
            box,
            tmp_path,
            JUPITER_SWAP_API="v2",
            MIN_BUYBACK_SOL="0",
            JITO_BLOCK_ENGINE_URL=f"{box.jupiter_url}/jito",
            JITO_TIP_LAMPORTS="5000",
        )
        box.traders.step(5)
        bookmark = view.next_seq()
        result = run_cli(["epoch"], tmp_path)
        assert result.returncode == 0, describe(result)
        [epoch] = finished_epochs(env)
        assert report_of(epoch)["errors"] == []
        [tx] = view.executor_txs(since_seq=bookmark)
        engine = box.jupiter.jito
        assert engine is not None and engine.sent == [tx.signature]  # not the public RPC path
        record = tx.record
        tips = [
            record.post_balances[i] - record.pre_balances[i]
            for i, key in enumerate(record.account_keys)
            if key in TIP_ACCOUNTS
        ]
        assert tips == [5000]
    finally:
        box.stop()


def test_a_v2_rehearsal_predicts_the_one_transaction_epoch(tmp_path: Path) -> None:
    box = start_sandbox(tmp_path / "sandbox")
    try:
        view = ChainView(box)
        env = flywheel_env(box, tmp_path, JUPITER_SWAP_API="v2", MIN_BUYBACK_SOL="0")
        box.traders.step(5)
        bookmark, supply = view.next_seq(), view.supply()
        rehearsal = run_cli(["simulate"], tmp_path)
        assert rehearsal.returncode == 0, describe(rehearsal)
        assert view.executor_txs(since_seq=bookmark) == [] and view.supply() == supply
        [simulated] = epochs_in(env, EpochMode.SIMULATE)
        live = run_cli(["epoch"], tmp_path)
        assert live.returncode == 0, describe(live)
        [epoch] = finished_epochs(env)
        # The same pool, the same quote: the rehearsal showed what the live epoch then did.
        assert simulated.errors == [] and simulated.tokens_settled_in_swap > 0
        assert simulated.tokens_bought == epoch.tokens_bought
        assert simulated.tokens_settled == epoch.tokens_settled == supply - view.supply()
        assert simulated.tokens_carried_out == epoch.tokens_carried_out
    finally:
        box.stop()
