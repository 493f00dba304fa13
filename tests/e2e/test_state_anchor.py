"""Issue 11, item 4: every epoch is anchored on chain; a state older than the chain is refused
before it spends; `flywheel state rebuild` recovers from the chain alone. By subprocess against
the sandbox, checked against the chain (supply, balances, the anchors' memos)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flywheel.domain.anchor import parse_anchor
from flywheel.domain.epoch_state import EpochState
from flywheel.persistence.store import SqliteStore
from flywheel.sandbox.runner import Sandbox
from tests.e2e.harness import (
    ChainView,
    check_identity,
    describe,
    epoch_reports,
    finished_epochs,
    flywheel_env,
    run_cli,
    state_db,
)

pytestmark = pytest.mark.slow


def anchored_env(sandbox: Sandbox, directory: Path) -> dict[str, str]:
    return flywheel_env(sandbox, directory, ANCHOR_STATE="true")


def epoch_with_fees(sandbox: Sandbox, directory: Path, trades: int = 3) -> None:
    sandbox.traders.step(trades)
    result = run_cli(["epoch"], directory)
    assert result.returncode == 0, describe(result)


def ledger_of(env: dict[str, str]) -> tuple[int, int]:
    with SqliteStore.open(state_db(env)) as store:
        return store.ads_available_micro_usd(), store.ads_reserve_in_executor_lamports()


def test_each_epoch_ends_with_an_anchor_memo_the_executor_signed(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    env = anchored_env(sandbox, tmp_path)
    epoch_with_fees(sandbox, tmp_path)
    [epoch] = finished_epochs(env)
    assert epoch.anchor_signature is not None
    view = ChainView(sandbox)
    [record] = [r for r in view.history() if str(r.signature) == epoch.anchor_signature]
    anchor = parse_anchor(record.memo)
    assert anchor is not None and anchor.epoch_id == epoch.id
    assert anchor.carried_lamports == epoch.carried_out_lamports
    assert anchor.unsettled_tokens == epoch.tokens_carried_out
    assert (anchor.ads_available_micro_usd, anchor.ads_reserve_lamports) == ledger_of(env)
    with SqliteStore.open(state_db(env)) as store:
        assert anchor.cursor == store.fee_cursor()
    verified = run_cli(["state", "verify"], tmp_path)
    assert verified.returncode == 0, describe(verified)


def test_a_lost_database_is_refused_then_rebuilt_and_nothing_is_spent_twice(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    env = anchored_env(sandbox, tmp_path)
    for _ in range(3):
        epoch_with_fees(sandbox, tmp_path)
    original = finished_epochs(env)
    last = original[-1]
    ledger = ledger_of(env)
    spent_before = {s for e in original for s in e.receipt_signatures}
    for suffix in ("", "-wal", "-shm"):
        Path(f"{state_db(env)}{suffix}").unlink(missing_ok=True)
    view = ChainView(sandbox)
    sol, supply = view.sol(), view.supply()

    # FEE_START=all on a new database would re-detect every fee ever spent: refused first.
    refused = run_cli(["epoch"], tmp_path)
    assert refused.returncode == 1, describe(refused)
    assert "flywheel state rebuild" in refused.stderr.replace("\n", "")
    assert (view.sol(), view.supply()) == (sol, supply), "nothing was spent"

    rebuilt = run_cli(["state", "rebuild", "--replace"], tmp_path)
    assert rebuilt.returncode == 0, describe(rebuilt)
    assert ledger_of(env) == ledger
    before_new = len(sandbox.traders.fees)
    epoch_with_fees(sandbox, tmp_path, trades=2)
    new_fees = sandbox.traders.fees[before_new:]
    after = finished_epochs(env)[-1]
    assert after.carried_in_lamports == last.carried_out_lamports, "nothing carried forgotten"
    assert after.fees_in_lamports == sum(f.lamports for f in new_fees)
    assert not spent_before & set(after.receipt_signatures), "no fee spent twice"
    # What the original database would have given the allocation: the same input and reserve.
    assert after.input_lamports == last.carried_out_lamports + after.fees_in_lamports
    assert after.ads_reserve_in_executor_lamports == ledger[1]
    # From the rebuilt state on, every lamport is accounted for (the rebuilt epochs hold only
    # what their anchors say, so the identity starts at the newest of them).
    check_identity(finished_epochs(env)[-2:])


def test_a_backup_one_epoch_old_is_refused_and_after_rebuild_the_bot_runs_on(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    env = anchored_env(sandbox, tmp_path)
    epoch_with_fees(sandbox, tmp_path)
    backup = tmp_path / "backups" / "flywheel.sqlite"
    made = run_cli(["state", "backup", str(backup)], tmp_path)
    assert made.returncode == 0, describe(made)
    epoch_with_fees(sandbox, tmp_path)
    lost: EpochState = finished_epochs(env)[-1]
    shutil.copyfile(backup, state_db(env))  # the runbook's restore, one epoch too old
    for suffix in ("-wal", "-shm"):
        Path(f"{state_db(env)}{suffix}").unlink(missing_ok=True)
    view = ChainView(sandbox)
    supply = view.supply()

    refused = run_cli(["epoch"], tmp_path)
    assert refused.returncode == 1, describe(refused)
    message = refused.stderr.replace("\n", "")
    assert f"anchors epoch {lost.id}" in message
    assert "flywheel state rebuild --replace" in message
    assert view.supply() == supply
    assert run_cli(["state", "verify"], tmp_path).returncode == 1

    rebuilt = run_cli(["state", "rebuild", "--replace"], tmp_path)
    assert rebuilt.returncode == 0, describe(rebuilt)
    assert list(state_db(env).parent.glob("*.replaced-*")), "the stale database was kept aside"
    epoch_with_fees(sandbox, tmp_path)
    signatures = [s for r in epoch_reports(env) for s in r["fees"]["receipt_signatures"]]
    assert len(signatures) == len(set(signatures)), "two reports list the same fee"


def test_rebuild_without_any_anchor_says_what_to_do(sandbox: Sandbox, tmp_path: Path) -> None:
    anchored_env(sandbox, tmp_path)
    result = run_cli(["state", "rebuild"], tmp_path)
    assert result.returncode == 1
    assert "nothing to rebuild from" in result.stderr.replace("\n", "")
    assert "Traceback" not in result.stderr
