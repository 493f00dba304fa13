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
from spl.token.instructions import create_idempotent_associated_token_account, transfer_checked
from spl.token.models import TransferCheckedParams

from flywheel.domain.epoch_state import EpochStatus
from flywheel.sandbox.jupiter.dex import build_v0
from flywheel.sandbox.runner import Sandbox
from tests.e2e.harness import ChainView, describe, epochs_in, flywheel_env, report_of, run_cli
from tests.sandbox.harness import start_sandbox

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


def give_executor_tokens(box: Sandbox) -> int:
    """A trader sends the executor some of its tokens: not a fee, nothing the journal knows."""
    pool, view = box.pool, ChainView(box)
    donor = next(k for k in box.traders.keypairs if view.token_amount(k.pubkey()) > 0)
    amount = view.token_amount(donor.pubkey()) // 2
    ixs = [
        create_idempotent_associated_token_account(
            donor.pubkey(), view.executor, pool.mint, pool.token_program
        ),
        transfer_checked(
            TransferCheckedParams(
                program_id=pool.token_program,
                source=pool.ata(donor.pubkey()),
                mint=pool.mint,
                dest=pool.ata(view.executor),
                owner=donor.pubkey(),
                amount=amount,
                decimals=pool.decimals,
            )
        ),
    ]
    blockhash, _ = box.chain.latest_blockhash()
    box.chain.send(build_v0(donor.pubkey(), ixs, blockhash, [donor]))
    return amount


def test_tokens_from_outside_stop_the_next_epoch(box: Sandbox, tmp_path: Path) -> None:
    env = flywheel_env(box, tmp_path)
    view = ChainView(box)
    box.traders.step(4)
    first = run_cli(["epoch"], tmp_path)
    assert first.returncode == 0, describe(first)
    bookmark = view.next_seq()
    before = view.token_amount()
    added = give_executor_tokens(box)
    assert view.token_amount() == before + added
    box.traders.step(3)  # fees to spend: the next epoch would buy if nothing stopped it

    stopped = run_cli(["epoch"], tmp_path)
    assert stopped.returncode == 1, describe(stopped)
    assert "Traceback" not in stopped.stderr
    second = epochs_in(env)[-1]
    assert second.status is EpochStatus.FAILED
    [error] = second.errors
    assert error.step == "reconcile" and error.kind == "BalanceMismatch"
    assert f"+{added} unexplained" in error.message
    assert "flywheel wallet accept-balances" in error.message
    assert report_of(second)["errors"][0]["message"] == error.message
    assert second.swap_intents == [] and landed_swaps(view, bookmark) == []  # nothing spent

    # Still stopped until the operator has looked and accepts the chain's figures.
    assert run_cli(["epoch"], tmp_path).returncode == 1
    accepted = run_cli(["wallet", "accept-balances", "--yes"], tmp_path)
    assert accepted.returncode == 0, describe(accepted)
    assert f"{before + added} tokens" in accepted.stdout
    resumed = run_cli(["epoch"], tmp_path)
    assert resumed.returncode == 0, describe(resumed)
    assert len(landed_swaps(view, bookmark)) == 1


def test_a_node_that_hides_our_swap_cannot_make_us_buy_twice(box: Sandbox, tmp_path: Path) -> None:
    env = flywheel_env(box, tmp_path)
    view = ChainView(box)
    bookmark = view.next_seq()
    tokens_before, sol_before = view.token_amount(), view.sol()
    box.traders.step(4)
    # The node answers null for every status and transaction the executor signed, and leaves
    # them out of address history, while claiming full history: the expiry proof passes.
    box.faults.update(rpc_hide_signer=str(view.executor), blockhash_lifetime_blocks=75)
    fooled = run_cli(["epoch"], tmp_path)
    assert fooled.returncode == 1, describe(fooled)
    assert "Traceback" not in fooled.stderr
    [swap] = landed_swaps(view, bookmark)  # the first swap landed, and it is the only one
    epoch = epochs_in(env)[-1]
    assert [i.status for i in epoch.swap_intents] == ["expired"]
    assert epoch.swap_intents[0].signature == swap
    [error] = epoch.errors
    assert error.kind == "BalanceMismatch" and "before re-signing the expired swap" in error.message
    bought = view.token_amount() - tokens_before
    assert bought > 0 and f"+{bought} unexplained" in error.message
    assert view.sol() < sol_before

    # Run after run, through the lying node or an honest one, nothing more is bought.
    assert run_cli(["epoch"], tmp_path).returncode == 1
    box.faults.update(rpc_hide_signer="")
    honest = run_cli(["epoch"], tmp_path)
    assert honest.returncode == 1, describe(honest)
    assert landed_swaps(view, bookmark) == [swap]
    assert epochs_in(env)[-1].errors[0].kind == "BalanceMismatch"
