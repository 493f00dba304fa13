"""`flywheel epoch` through an RPC node that cannot prove an expiry, or lies about one.

A transaction may be signed anew only once the old one provably never landed. A node with
short history cannot prove that: the epoch stays in flight and says which RPC to use. A node
that answers null for our transactions while claiming full history is caught by the balances.
Every assertion about money reads the sandbox chain itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flywheel.domain.epoch_state import EpochStatus
from flywheel.sandbox.runner import Sandbox
from tests.e2e.conftest import (
    ChainView,
    describe,
    epochs_in,
    flywheel_env,
    run_cli,
    start_sandbox,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """Slots advance by themselves (20 ms each), so blockhashes really expire."""
    sandbox = start_sandbox(tmp_path_factory.mktemp("sandbox"), slot_ms=20)
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture(autouse=True)
def calm(box: Sandbox) -> Iterator[None]:
    yield
    box.faults.update(
        drop_sends_rate=0.0,
        blockhash_lifetime_blocks=150,
        rpc_short_history=False,
        rpc_hide_signer="",
    )


def landed_swaps(view: ChainView, since: int) -> list[str]:
    return [t.signature for t in view.executor_txs(since) if t.kind == "swap" and t.ok]


def test_a_node_with_short_history_leaves_the_epoch_in_flight(box: Sandbox, tmp_path: Path) -> None:
    env = flywheel_env(box, tmp_path)
    view = ChainView(box)
    bookmark = view.next_seq()
    box.traders.step(3)
    # Every send is dropped, so the swap's blockhash expires (75 slots, 1.5 s); the node then
    # claims its history starts now, so it cannot prove the swap never landed.
    box.faults.update(drop_sends_rate=1.0, blockhash_lifetime_blocks=75, rpc_short_history=True)
    stuck = run_cli(["epoch"], tmp_path)
    assert stuck.returncode == 1, describe(stuck)
    assert "Traceback" not in stuck.stderr
    assert "in flight" in stuck.stderr and "SOLANA_RPC_URL" in stuck.stderr, describe(stuck)
    assert "history" in stuck.stderr
    [epoch] = epochs_in(env)
    assert epoch.status is EpochStatus.RUNNING
    assert [i.status for i in epoch.swap_intents] == ["pending"]  # not declared expired
    assert landed_swaps(view, bookmark) == []

    # Run again on the same node: still unproven, still nothing new signed.
    again = run_cli(["epoch"], tmp_path)
    assert again.returncode == 1 and "SOLANA_RPC_URL" in again.stderr, describe(again)
    assert len(epochs_in(env)[0].swap_intents) == 1

    # A node with its history: the expiry is proved, one new swap is signed and lands once.
    box.faults.update(drop_sends_rate=0.0, rpc_short_history=False)
    done = run_cli(["epoch"], tmp_path)
    assert done.returncode == 0, describe(done)
    [epoch] = epochs_in(env)
    assert epoch.status is EpochStatus.SUCCEEDED
    assert [i.status for i in epoch.swap_intents] == ["expired", "confirmed"]
    assert landed_swaps(view, bookmark) == [epoch.swap_intents[1].signature]
