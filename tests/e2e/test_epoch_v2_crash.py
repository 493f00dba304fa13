"""SIGKILL a v2 epoch (swap and burn in one transaction) at its buyback steps and its send.

After the restart: exactly one executor transaction on chain for the allocation (never two
swaps), the supply down by exactly what the report says was burnt in it, and the executor
holding exactly the tokens the journal says it carries to the next epoch.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from flywheel.domain.epoch_state import EpochStatus
from flywheel.sandbox.runner import Sandbox
from tests.e2e.harness import (
    ChainView,
    check_identity,
    describe,
    finished_epochs,
    flywheel_env,
    report_of,
    run_cli,
    run_crash_epoch,
)
from tests.sandbox.harness import start_sandbox

pytestmark = pytest.mark.slow

CRASH_POINTS: list[tuple[str | None, int | None]] = [
    ("buyback.quote", None),
    ("buyback.guard", None),  # the signed swap-and-burn is journaled, not yet sent
    (None, 1),  # right after its sendTransaction returned
    ("buyback.send", None),
    ("buyback.settle", None),
]


def _case_id(point: tuple[str | None, int | None]) -> str:
    step, send = point
    return f"after-{step}" if step else f"after-send-{send}"


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    sandbox = start_sandbox(tmp_path_factory.mktemp("sandbox"))
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.mark.parametrize("point", CRASH_POINTS, ids=_case_id)
def test_sigkill_then_restart_buys_and_burns_once(
    box: Sandbox, tmp_path: Path, point: tuple[str | None, int | None]
) -> None:
    step, send = point
    view = ChainView(box)
    bookmark = view.next_seq()
    supply_before, tokens_before = view.supply(), view.token_amount()
    assert box.traders.step(5), "the traders paid no fee"
    env = flywheel_env(box, tmp_path, JUPITER_SWAP_API="v2", MIN_BUYBACK_SOL="0")

    crashed = run_crash_epoch(tmp_path, after_step=step, after_send=send)
    assert crashed.returncode == -signal.SIGKILL, describe(crashed)
    resumed = run_cli(["epoch"], tmp_path)
    assert resumed.returncode == 0, describe(resumed)

    epochs = finished_epochs(env)
    assert all(e.status is EpochStatus.SUCCEEDED for e in epochs), [e.errors for e in epochs]
    [epoch] = [e for e in epochs if e.buyback_spent_lamports > 0]
    buyback = report_of(epoch)["execution"]["buyback"]
    txs = view.executor_txs(bookmark)
    assert [t.kind for t in txs] == ["swap"], [(t.kind, t.signature) for t in txs]
    assert txs[0].ok and buyback["settlement"]["signature"] == txs[0].signature
    assert buyback["settlement"]["in_swap"] is True
    assert supply_before - view.supply() == buyback["settlement"]["tokens"]
    # Each case has a fresh state: earlier cases' surplus is not its own and stays untouched;
    # this case's surplus (above the minimum) is what its journal carries to the next epoch.
    assert buyback["tokens_carried_in"] == 0
    assert view.token_amount() == tokens_before + epochs[-1].tokens_carried_out
    check_identity(epochs)
