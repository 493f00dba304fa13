"""SIGKILL the epoch process at every step (and right after each send), then `flywheel epoch`.

The real-chain counterpart of tests/core/test_epoch_runner.py's crash tests. One sandbox for the
module, a fresh state directory per case. After the restart: exactly one swap and one burn on
chain for the allocation, the supply down by exactly what was bought, no allocation lost, and
detected = spent + reserved + carried, checked against the executor's balance on chain.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from flywheel.domain.epoch_state import STEPS, EpochStatus
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
    run_crash_epoch,
)
from tests.sandbox.harness import start_sandbox

pytestmark = pytest.mark.slow

CRASH_POINTS: list[tuple[str | None, int | None]] = [
    *((step, None) for step in STEPS),
    (None, 1),  # right after the swap's sendTransaction returned
    (None, 2),  # right after the burn's sendTransaction returned
]


def _case_id(point: tuple[str | None, int | None]) -> str:
    step, send = point
    return f"after-{step}" if step else f"after-send-{send}"


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """The module's sandbox, warmed up by one epoch so the executor's token account exists
    (every case then pays the same costs: the swap, the burn and their fees, no rent)."""
    sandbox = start_sandbox(tmp_path_factory.mktemp("sandbox"))
    try:
        warmup = tmp_path_factory.mktemp("warmup")
        flywheel_env(sandbox, warmup)
        sandbox.traders.step(3)
        done = run_crash_epoch(warmup)
        assert done.returncode == 0 and "succeeded" in done.stdout, describe(done)
        yield sandbox
    finally:
        sandbox.stop()


@pytest.mark.parametrize("point", CRASH_POINTS, ids=_case_id)
def test_sigkill_then_restart_spends_each_allocation_exactly_once(
    box: Sandbox, tmp_path: Path, point: tuple[str | None, int | None]
) -> None:
    step, send = point
    view = ChainView(box)
    bookmark = view.next_seq()
    sol_before, supply_before, tokens_before = view.sol(), view.supply(), view.token_amount()
    paid = box.traders.step(3)
    assert paid, "the traders paid no fee"
    env = flywheel_env(box, tmp_path)

    crashed = run_crash_epoch(tmp_path, after_step=step, after_send=send)
    assert crashed.returncode == -signal.SIGKILL, describe(crashed)
    assert "killing at" in crashed.stdout

    if step == "buyback.guard":  # a signed swap is journaled, not yet sent
        rehearsal = run_cli(["simulate"], tmp_path)
        assert rehearsal.returncode == 1, describe(rehearsal)
        assert "a live epoch is unfinished" in rehearsal.stderr

    resumed = run_cli(["epoch"], tmp_path)
    assert resumed.returncode == 0, describe(resumed)

    # The state database: every epoch finished, exactly one of them spent.
    assert not [e for e in epochs_in(env) if e.status is EpochStatus.RUNNING]
    epochs = finished_epochs(env)
    assert all(e.status is EpochStatus.SUCCEEDED for e in epochs), [e.errors for e in epochs]
    assert len(epochs) == (2 if step == "report" else 1)
    spenders = [e for e in epochs if e.buyback_spent_lamports > 0]
    assert len(spenders) == 1
    epoch = spenders[0]
    assert report_of(epoch)["errors"] == []
    check_identity(epochs)
    # FEE_START=all on a fresh state: every fee the chain ever recorded, each exactly once.
    receipts = [s for e in epochs for s in e.receipt_signatures]
    assert len(receipts) == len(set(receipts))
    assert set(map(str, paid)) <= set(receipts)
    assert sum(e.fees_in_lamports for e in epochs) == view.fee_inflows()

    # The chain: one swap and one burn since the bookmark, the ones the journal names.
    txs = view.executor_txs(bookmark)
    assert [t.kind for t in txs] == ["swap", "burn"], [(t.kind, t.signature) for t in txs]
    assert all(t.ok for t in txs)
    swap, burn = txs
    confirmed = [i for i in epoch.swap_intents if i.status == "confirmed"]
    assert [i.signature for i in confirmed] == [swap.signature]
    assert epoch.settle_intent is not None and epoch.settle_intent.signature == burn.signature
    assert -view.executor_delta(swap.record) - swap.record.fee == epoch.buyback_spent_lamports
    assert supply_before - view.supply() == epoch.tokens_settled == epoch.tokens_bought > 0
    assert view.token_amount() == tokens_before  # all that was bought was burned

    # Accounting against the executor's balance: start + fees in - swaps - network fees.
    network_fees = sum(t.record.fee for t in view.executor_txs(bookmark))
    expected = (
        sol_before
        + view.fee_inflows(bookmark)
        - sum(e.buyback_spent_lamports for e in epochs)
        - network_fees
    )
    assert view.sol() == expected
