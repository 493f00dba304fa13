"""Issue 11's "Done when" for the memos inside every transaction (Jupiter v2, swap and burn in
one transaction): a database deleted after several epochs is rebuilt to the allocation the
original would have given; a crash after the swap landed but before the anchor is rebuilt from
the swap's memo and its landed balances (nothing bought again, nothing forgotten); quarantined
receipts come back one by one, so `fees release` works after a rebuild. By subprocess against
the sandbox, checked against the chain."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import pytest
from solders.keypair import Keypair

from flywheel.domain.epoch_state import EpochMode, EpochState
from flywheel.persistence.store import SqliteStore
from flywheel.sandbox.runner import Sandbox
from tests.e2e.harness import (
    ChainView,
    check_identity,
    describe,
    epochs_in,
    finished_epochs,
    flywheel_env,
    run_cli,
    run_crash_epoch,
    simulate_db,
    state_db,
)

pytestmark = pytest.mark.slow


def memo_env(sandbox: Sandbox, directory: Path, **more: str) -> dict[str, str]:
    settings = {"ANCHOR_STATE": "true", "JUPITER_SWAP_API": "v2", "MIN_BUYBACK_SOL": "0"}
    return flywheel_env(sandbox, directory, **(settings | more))


def live_epoch(sandbox: Sandbox, directory: Path, trades: int = 3) -> None:
    sandbox.traders.step(trades)
    result = run_cli(["epoch"], directory)
    assert result.returncode == 0, describe(result)


def delete_db(env: dict[str, str]) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{state_db(env)}{suffix}").unlink(missing_ok=True)


def rehearsal(env: dict[str, str], directory: Path) -> EpochState:
    """What the next live epoch would do on this database (`flywheel simulate`)."""
    simulate_db(env).unlink(missing_ok=True)
    result = run_cli(["simulate"], directory)
    assert result.returncode == 0, describe(result)
    [simulated] = epochs_in(env, EpochMode.SIMULATE)
    return simulated


def allocation(epoch: EpochState) -> tuple[int, int, int, int, int]:
    return (
        epoch.input_lamports,
        epoch.ads_reserve_in_executor_lamports,
        epoch.buyback_planned_lamports,
        epoch.ads_planned_lamports,
        epoch.tokens_carried_in,
    )


@pytest.mark.parametrize("ads_treasury", [False, True], ids=["anchored", "memos-only"])
def test_a_deleted_database_is_rebuilt_to_the_allocation_the_original_would_give(
    sandbox: Sandbox, tmp_path: Path, ads_treasury: bool
) -> None:
    # With an ads treasury each epoch's last transaction (the ads transfer) states where the
    # epoch ended, so no epoch signs an anchor: the memos alone must rebuild the state.
    more = {"ADS_TREASURY_PUBKEY": str(Keypair().pubkey())} if ads_treasury else {}
    env = memo_env(sandbox, tmp_path, **more)
    for trades in (3, 4, 2):
        live_epoch(sandbox, tmp_path, trades)
    anchors = [e.anchor_signature for e in finished_epochs(env)]
    assert all(a is None for a in anchors) if ads_treasury else all(anchors)
    sandbox.traders.step(3)  # fees waiting for the next epoch: carried, never spent
    original = rehearsal(env, tmp_path)
    spent = {s for e in finished_epochs(env) for s in e.receipt_signatures}
    delete_db(env)

    rebuilt = run_cli(["state", "rebuild"], tmp_path)
    assert rebuilt.returncode == 0, describe(rebuilt)
    assert allocation(rehearsal(env, tmp_path)) == allocation(original)
    view = ChainView(sandbox)
    tokens_before = view.token_amount()
    result = run_cli(["epoch"], tmp_path)
    assert result.returncode == 0, describe(result)
    after = finished_epochs(env)[-1]
    assert allocation(after) == allocation(original)
    assert not spent & set(after.receipt_signatures), "no fee spent twice"
    assert after.tokens_carried_in == tokens_before, "the unsettled tokens are the chain's"
    assert view.token_amount() == after.tokens_carried_out
    check_identity(finished_epochs(env)[-2:])


def test_a_crash_after_the_swap_landed_before_the_anchor_is_rebuilt_from_the_chain(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    env = memo_env(sandbox, tmp_path)
    live_epoch(sandbox, tmp_path, 3)
    backup = tmp_path / "backups" / "flywheel.sqlite"
    assert run_cli(["state", "backup", str(backup)], tmp_path).returncode == 0
    sandbox.traders.step(4)
    view = ChainView(sandbox)
    bookmark = view.next_seq()
    crashed = run_crash_epoch(tmp_path, after_step="buyback.send")
    assert crashed.returncode == -signal.SIGKILL, describe(crashed)
    with SqliteStore.open(state_db(env)) as store:
        lost = store.unfinished_epoch(EpochMode.LIVE)
    assert lost is not None and lost.buyback_spent_lamports > 0
    assert [t.kind for t in view.executor_txs(bookmark)] == ["swap"], "no anchor yet"

    # The backup knows no transaction of the crashed epoch: its swap's memo stops the bot.
    shutil.copyfile(backup, state_db(env))
    for suffix in ("-wal", "-shm"):
        Path(f"{state_db(env)}{suffix}").unlink(missing_ok=True)
    sol, supply = view.sol(), view.supply()
    refused = run_cli(["epoch"], tmp_path)
    assert refused.returncode == 1, describe(refused)
    message = refused.stderr.replace("\n", "")
    assert f"(swap) anchors epoch {lost.id}" in message
    assert "flywheel state rebuild --replace" in message
    assert (view.sol(), view.supply()) == (sol, supply), "nothing was spent"

    rebuilt = run_cli(["state", "rebuild", "--replace"], tmp_path)
    assert rebuilt.returncode == 0, describe(rebuilt)
    assert f"Epoch {lost.id} has no closing anchor" in rebuilt.stdout.replace("\n", "")
    tokens_held = view.token_amount()
    bookmark = view.next_seq()
    live_epoch(sandbox, tmp_path, 2)
    after = finished_epochs(env)[-1]
    # What the lost epoch did not spend is carried; what its swap bought is settled, once.
    assert after.carried_in_lamports == lost.input_lamports - lost.buyback_spent_lamports
    # The swap burnt its guaranteed minimum in its own transaction; the rest waits on chain.
    assert after.tokens_carried_in == tokens_held
    assert tokens_held == lost.tokens_to_settle - lost.tokens_settled_in_swap > 0
    assert not set(lost.receipt_signatures) & set(after.receipt_signatures)
    assert [t.kind for t in view.executor_txs(bookmark)].count("swap") <= 1
    assert view.token_amount() == after.tokens_carried_out
    check_identity(finished_epochs(env)[-2:])
    verified = run_cli(["state", "verify"], tmp_path)
    assert verified.returncode == 0, describe(verified)


def test_quarantined_receipts_come_back_one_by_one_and_can_be_released(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    env = memo_env(sandbox, tmp_path, MAX_SINGLE_FEE_SOL="0.5")
    big = str(sandbox.chain.airdrop(sandbox.fee_collector, 10**9))  # 1 SOL: held for review
    live_epoch(sandbox, tmp_path, 3)
    [first] = finished_epochs(env)
    assert first.quarantined_signatures == [big] and first.buyback_spent_lamports > 0
    delete_db(env)

    rebuilt = run_cli(["state", "rebuild"], tmp_path)
    assert rebuilt.returncode == 0, describe(rebuilt)
    assert "1 quarantined receipt(s)" in rebuilt.stdout.replace("\n", "")
    fetched = run_cli(["fetch-fees"], tmp_path)
    assert f"quarantined {big}: 1.000000000 SOL" in fetched.stdout.replace("\n", "")
    released = run_cli(["fees", "release", big], tmp_path)
    assert released.returncode == 0, describe(released)
    result = run_cli(["epoch"], tmp_path)
    assert result.returncode == 0, describe(result)
    after = finished_epochs(env)[-1]
    assert big in after.receipt_signatures and after.fees_in_lamports >= 10**9
    claims = [e.id for e in finished_epochs(env) if big in e.receipt_signatures]
    assert claims == [after.id], "the released fee is spent once"


def test_a_crash_after_a_v1_swap_is_not_guessed_at(sandbox: Sandbox, tmp_path: Path) -> None:
    """A v1 swap is Jupiter's as built and carries no memo: a crash after it landed, before the
    anchor, leaves the chain unable to say what the epoch spent. Rebuild refuses, not guesses."""
    env = memo_env(sandbox, tmp_path, JUPITER_SWAP_API="v1")
    live_epoch(sandbox, tmp_path, 3)
    sandbox.traders.step(3)
    crashed = run_crash_epoch(tmp_path, after_step="buyback.send")
    assert crashed.returncode == -signal.SIGKILL, describe(crashed)
    delete_db(env)
    refused = run_cli(["state", "rebuild"], tmp_path)
    assert refused.returncode == 1, describe(refused)
    message = refused.stderr.replace("\n", "")
    assert "without a state memo" in message and "Restore the newest backup" in message
    assert not state_db(env).exists(), "nothing half-rebuilt is left behind"


def test_a_fee_released_and_spent_after_the_anchor_does_not_come_back_quarantined(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    # The newest anchor lists two quarantined fees; one is released and spent by an epoch
    # interrupted before its anchor. Its swap's memo says the quarantine changed: the list is
    # not restored (the released fee would be released, and spent, again), the total is named.
    env = memo_env(sandbox, tmp_path, MAX_SINGLE_FEE_SOL="0.5")
    big = str(sandbox.chain.airdrop(sandbox.fee_collector, 10**9))
    held = str(sandbox.chain.airdrop(sandbox.fee_collector, 2 * 10**9))  # stays quarantined
    live_epoch(sandbox, tmp_path, 3)
    [first] = finished_epochs(env)
    assert sorted(first.quarantined_signatures) == sorted([big, held])
    assert first.anchor_signature is not None
    assert run_cli(["fees", "release", big], tmp_path).returncode == 0
    sandbox.traders.step(2)
    crashed = run_crash_epoch(tmp_path, after_step="buyback.send")
    assert crashed.returncode == -signal.SIGKILL, describe(crashed)
    with SqliteStore.open(state_db(env)) as store:
        lost = store.unfinished_epoch(EpochMode.LIVE)
    assert lost is not None and big in lost.receipt_signatures
    delete_db(env)

    rebuilt = run_cli(["state", "rebuild"], tmp_path)
    assert rebuilt.returncode == 0, describe(rebuilt)
    out = rebuilt.stdout.replace("\n", " ")
    assert "0 quarantined receipt(s)" in out
    assert "2.000000000 SOL of quarantined fees are not listed" in out, out
    again = run_cli(["fees", "release", big], tmp_path)
    assert again.returncode == 1 and "is not a quarantined fee" in again.stderr
    live_epoch(sandbox, tmp_path, 2)
    # Spent by the lost database's epoch (its swap landed); no epoch since counts it again.
    assert not [e.id for e in finished_epochs(env) if big in e.receipt_signatures]
