"""Issue 11, items 1-2: the flywheel's own money is never a fee; the state is bound to its wallets.

The runbook's key rotation (scenario 1) with the fee collector equal to the executor, run as an
operator would, by subprocess against the sandbox: the sweep lands at the new wallet, which is
now the collector too, and not one lamport of it is detected as a fee.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from flywheel.domain.money import format_sol
from flywheel.sandbox.runner import Sandbox
from flywheel.solana.keypair import read_keypair_file
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

pytestmark = pytest.mark.slow


def set_env(directory: Path, **values: str) -> None:
    """Change lines of `directory/.env` as an operator edits it."""
    path = directory / ".env"
    lines = [line for line in path.read_text().splitlines() if line.split("=")[0] not in values]
    lines += [f"{key}={value}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n")


def rotate(sandbox: Sandbox, directory: Path) -> str:
    """Runbook scenario 1, steps 2-4: a new wallet, the sweep, the new configuration."""
    new_path = directory / "secure" / "new-executor.json"
    made = run_cli(["wallet", "new", "--out", str(new_path)], directory)
    assert made.returncode == 0, describe(made)
    new = str(read_keypair_file(new_path).pubkey())
    swept = run_cli(["wallet", "sweep", "--to", new, "--yes"], directory)
    assert swept.returncode == 0, describe(swept)
    assert f"FEE_COLLECTOR_PUBKEY={new}" in swept.stdout.replace("\n", "")
    return new


def test_key_rotation_with_the_collector_as_executor_detects_no_fee_from_the_sweep(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    assert sandbox.fee_collector == sandbox.executor.pubkey()
    env = flywheel_env(sandbox, tmp_path)
    sandbox.traders.step(4)
    first = run_cli(["epoch"], tmp_path)
    assert first.returncode == 0, describe(first)
    before_sweep = len(sandbox.traders.fees)
    sandbox.traders.step(2)  # fees at the old wallet that no detection has seen yet
    late_fees = sum(f.lamports for f in sandbox.traders.fees[before_sweep:])

    new = rotate(sandbox, tmp_path)
    swept_in = ChainView(sandbox).sol(Pubkey.from_string(new))  # all of it the sweep's
    set_env(
        tmp_path,
        EXECUTOR_KEYPAIR_PATH=str(tmp_path / "secure" / "new-executor.json"),
        FEE_COLLECTOR_PUBKEY=new,
    )
    fetched = run_cli(["fetch-fees"], tmp_path)
    assert fetched.returncode == 0, describe(fetched)
    assert "internal transfers" in fetched.stdout
    assert "(own wallet)" in fetched.stdout

    sandbox.traders.fee_collector = Pubkey.from_string(new)
    after_rotation = len(sandbox.traders.fees)
    sandbox.traders.step(3)
    new_fees = sum(f.lamports for f in sandbox.traders.fees[after_rotation:])
    second = run_cli(["epoch"], tmp_path)
    assert second.returncode == 0, describe(second)

    epochs = finished_epochs(env)
    assert len(epochs) == 2
    report = report_of(epochs[1])
    # Exactly the traders' fees count, the late ones at the old wallet included; the sweep is
    # shown as the internal transfer it is.
    assert report["fees"]["detected_lamports"] == late_fees + new_fees
    assert report["fees"]["internal_transfer_lamports"] == swept_in
    [sweep] = report["fees"]["internal_transfer_signatures"]
    [record] = [r for r in ChainView(sandbox).history() if str(r.signature) == sweep]
    assert record.memo is not None and '"k":"sweep"' in record.memo  # signed, and says why
    check_identity(epochs)


def test_a_sweep_without_the_new_collector_is_refused_with_what_to_set(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    flywheel_env(sandbox, tmp_path)
    sandbox.traders.step(2)
    assert run_cli(["epoch"], tmp_path).returncode == 0
    new = rotate(sandbox, tmp_path)
    set_env(tmp_path, EXECUTOR_KEYPAIR_PATH=str(tmp_path / "secure" / "new-executor.json"))

    refused = run_cli(["epoch"], tmp_path)

    assert refused.returncode == 2, describe(refused)
    assert f"belongs to fee collector {new}" in refused.stderr.replace("\n", "")
    assert "flywheel fees rebase --from now" in refused.stderr.replace("\n", "")
    assert "Traceback" not in refused.stderr


def test_a_changed_collector_is_refused_and_rebase_from_now_counts_nothing_older(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    env = flywheel_env(sandbox, tmp_path)
    sandbox.traders.step(2)
    assert run_cli(["epoch"], tmp_path).returncode == 0
    other = Keypair().pubkey()
    sandbox.traders.fee_collector = other
    sandbox.traders.step(3)  # the new collector's history before the change: not ours to count
    # Someone else's wallet: its key is not ours, so the executor pays the buybacks.
    set_env(tmp_path, FEE_COLLECTOR_PUBKEY=str(other), FEE_FUNDING="executor")

    refused = run_cli(["epoch"], tmp_path)
    assert refused.returncode == 2, describe(refused)
    assert "flywheel fees rebase --from now" in refused.stderr.replace("\n", "")
    assert len(finished_epochs(env)) == 1, "nothing ran"

    rebased = run_cli(["fees", "rebase", "--from", "now", "--yes"], tmp_path)
    assert rebased.returncode == 0, describe(rebased)
    assert "3 earlier transaction(s) are not counted" in rebased.stdout.replace("\n", "")
    later = len(sandbox.traders.fees)
    sandbox.traders.step(2)
    counted = run_cli(["epoch"], tmp_path)
    assert counted.returncode == 0, describe(counted)
    epochs = finished_epochs(env)
    fees_after = sum(f.lamports for f in sandbox.traders.fees[later:])
    assert report_of(epochs[-1])["fees"]["detected_lamports"] == fees_after
    check_identity(epochs)


def test_rebase_refuses_a_bad_from(sandbox: Sandbox, tmp_path: Path) -> None:
    flywheel_env(sandbox, tmp_path)
    result = run_cli(["fees", "rebase", "--from", "yesterday", "--yes"], tmp_path)
    assert result.returncode == 2
    assert "--from must be now or all" in result.stderr
    assert "Traceback" not in result.stderr


def test_snapshot_counts_a_wallet_once_when_two_roles_share_it(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    env = flywheel_env(sandbox, tmp_path)
    assert sandbox.fee_collector == sandbox.executor.pubkey()
    taken = run_cli(["snapshot"], tmp_path)
    assert taken.returncode == 0, describe(taken)
    [path] = (Path(env["REPORTS_DIR"])).glob("snapshot-*.json")
    report = json.loads(path.read_text())
    assert {w["role"] for w in report["wallets"]} >= {"executor", "fee_collector"}
    assert report["totals"]["sol_lamports"] == ChainView(sandbox).sol()


def test_fetch_fees_shows_the_fees_an_interrupted_epoch_holds(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    env = flywheel_env(sandbox, tmp_path)
    sandbox.traders.step(3)
    fees = sum(f.lamports for f in sandbox.traders.fees)
    crashed = run_crash_epoch(tmp_path, after_step="allocate")
    assert crashed.returncode != 0, describe(crashed)
    [running] = epochs_in(env)
    shown = run_cli(["fetch-fees"], tmp_path)
    assert shown.returncode == 0, describe(shown)
    assert f"held by interrupted epoch {running.id}" in shown.stdout
    assert format_sol(fees) in shown.stdout
