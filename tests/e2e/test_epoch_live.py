"""`flywheel epoch` as a subprocess against the sandbox: fees in, buy back, burn, report.

Issue 4's first "done when": an epoch after traders paid fees buys and burns, the supply drops
by exactly what the report says, and a second epoch with no new fees spends nothing. For the
SPL Token program and for Token-2022 (with a transfer fee on the mint).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from flywheel.domain.epoch_state import STEPS, EpochStatus
from flywheel.sandbox.runner import Sandbox
from tests.e2e.harness import (
    ChainView,
    check_identity,
    describe,
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


def test_an_epoch_buys_back_and_burns_then_an_idle_epoch_spends_nothing(
    box: Sandbox, tmp_path: Path
) -> None:
    view = ChainView(box)
    sol_start, supply_start = view.sol(), view.supply()
    paid = box.traders.step(5)
    assert len(paid) == 5
    fees_paid = sum(f.lamports for f in box.traders.fees)
    env = flywheel_env(box, tmp_path)

    first = run_cli(["epoch"], tmp_path)
    assert first.returncode == 0, describe(first)
    [epoch] = finished_epochs(env)
    report = report_of(epoch)
    assert report["status"] == "succeeded"
    assert report["errors"] == []
    assert epoch.steps_done == list(STEPS)
    assert report["steps_done"] == list(STEPS)  # the report step lists itself
    assert report["fees"]["detected_lamports"] == fees_paid
    assert sorted(report["fees"]["receipt_signatures"]) == sorted(map(str, paid))
    buyback = report["execution"]["buyback"]
    settlement = buyback["settlement"]
    assert settlement["destination"] == "burn" and settlement["status"] == "confirmed"
    burned = settlement["tokens"]
    assert burned > 0
    # The supply dropped by exactly what the report says was burned.
    assert supply_start - view.supply() == burned
    assert view.token_amount() == 0  # nothing bought was left behind
    # On chain: one swap, one burn, both the report's; the swap took exactly what it says.
    txs = view.executor_txs()
    assert [t.kind for t in txs] == ["swap", "burn"]
    assert all(t.ok for t in txs)
    by_kind = {t["kind"]: t for t in buyback["transactions"]}
    assert by_kind["swap"]["signature"] == txs[0].signature
    assert settlement["signature"] == txs[1].signature
    assert by_kind["swap"]["token_delta"] == buyback["tokens_bought"] == burned
    spent = buyback["spent_lamports"]
    assert spent == epoch.buyback_planned_lamports > 0
    # Executor (also the fee collector here): start + fees - swap input - fees - rent of the
    # token account the first swap created, all read from the chain's records.
    rent = box.chain.minimum_balance_for_rent_exemption(
        165 if box.config.token_program == "spl" else 182
    )
    network = sum(t.record.fee for t in txs)
    assert view.sol() == sol_start + fees_paid - spent - network - rent
    assert -view.executor_delta(txs[0].record) == spent + txs[0].record.fee + rent
    check_identity([epoch])

    # A second epoch with no new fees: exit 0, nothing on chain, nothing spent.
    sol_before, supply_before = view.sol(), view.supply()
    second = run_cli(["epoch"], tmp_path)
    assert second.returncode == 0, describe(second)
    epochs = finished_epochs(env)
    assert len(epochs) == 2
    idle = report_of(epochs[1])
    assert idle["errors"] == []
    assert idle["fees"]["detected_lamports"] == 0
    assert idle["execution"]["buyback"]["spent_lamports"] == 0
    assert idle["execution"]["buyback"]["transactions"] == []
    assert [t.signature for t in view.executor_txs()] == [t.signature for t in txs]
    assert (view.sol(), view.supply()) == (sol_before, supply_before)
    check_identity(epochs)
    assert all(e.status is EpochStatus.SUCCEEDED for e in epochs)


def test_the_readmes_first_command_runs_the_demo(tmp_path: Path) -> None:
    """`flywheel demo --epochs 2 --trades 5`: the embedded sandbox, two epochs, a rehearsal."""
    result = run_cli(["demo", "--epochs", "2", "--trades", "5", "--dir", str(tmp_path)], tmp_path)
    assert result.returncode == 0, describe(result)
    assert "(equal)" in result.stdout and "MISMATCH" not in result.stdout
    reports = tmp_path / "reports"
    epochs = sorted(reports.glob("epoch-*.json"))
    assert len(epochs) == 2
    for path in epochs:
        report = json.loads(path.read_text())
        assert report["status"] == "succeeded" and report["errors"] == []
        assert report["execution"]["buyback"]["settlement"]["tokens"] > 0
    assert len(list((reports / "simulate").glob("epoch-*.json"))) == 1
    assert len(list(reports.glob("snapshot-*.json"))) == 1
