"""What an operator trips over, fixed: `fees release --all`, `ads cancel EPOCH`, and
`ads mark-launched --spent-usd` (manual mode records what a campaign cost), against the
sandbox, with the ledger and the state read back after each."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flywheel.domain.fees import ReceiptStatus
from flywheel.persistence.store import SqliteStore
from flywheel.sandbox.runner import Sandbox
from tests.e2e.harness import describe, finished_epochs, flywheel_env, run_cli
from tests.sandbox.harness import start_sandbox

pytestmark = pytest.mark.slow


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Sandbox]:
    sandbox = start_sandbox(tmp_path / "sandbox")
    try:
        yield sandbox
    finally:
        sandbox.stop()


def store(env: dict[str, str]) -> SqliteStore:
    return SqliteStore.open(Path(env["STATE_DB_PATH"]))


def test_release_all_cancel_and_spent_usd(box: Sandbox, tmp_path: Path) -> None:
    env = flywheel_env(
        box, tmp_path, ADS_ENGINE_MODE="manual", ADS_MIN_BUDGET_USD="0.01", MAX_SINGLE_FEE_SOL="0.5"
    )
    box.traders.step(4)
    big = {str(box.chain.airdrop(box.fee_collector, 10**9 + n)) for n in range(2)}
    assert run_cli(["epoch"], tmp_path).returncode == 0
    [first] = finished_epochs(env)
    assert set(first.quarantined_signatures) == big

    for usage in (["fees", "release"], ["fees", "release", next(iter(big)), "--all"]):
        wrong = run_cli(usage, tmp_path)
        assert wrong.returncode == 2 and "SIGNATURE" in wrong.stderr, describe(wrong)
    released = run_cli(["fees", "release", "--all"], tmp_path)
    assert released.returncode == 0, describe(released)
    assert all(f"released {s}" in released.stdout.replace("\n", "") for s in big)
    with store(env) as state:
        assert state.receipts(ReceiptStatus.QUARANTINED) == []
        assert {r.signature for r in state.receipts(ReceiptStatus.AVAILABLE)} == big
    again = run_cli(["fees", "release", "--all"], tmp_path)
    assert again.returncode == 0 and "no quarantined fee to release" in again.stdout

    launch = ["ads", "mark-launched", first.id, "--campaign-id", "c-1", "--spent-usd"]
    for bad in ("abc", "-1", "0.0000001"):
        refused = run_cli([*launch, bad], tmp_path)
        assert refused.returncode == 2 and "--spent-usd" in refused.stderr, describe(refused)
    too_much = run_cli([*launch, "100000"], tmp_path)
    assert too_much.returncode == 1 and "not within the spec's budget" in too_much.stderr
    marked = run_cli([*launch, "0.10"], tmp_path)
    assert marked.returncode == 0, describe(marked)
    with store(env) as state:
        assert state.ads_balance()["spent"] == 100_000

    assert run_cli(["epoch"], tmp_path).returncode == 0
    second = finished_epochs(env)[-1]
    assert set(second.receipt_signatures) >= big  # the released fees are spent
    with store(env) as state:
        available = state.ads_available_micro_usd()
        [spec] = [e for e in state.ads_entries(second.id) if e.kind == "committed"]
    cancelled = run_cli(["ads", "cancel", second.id], tmp_path)
    assert cancelled.returncode == 0, describe(cancelled)
    with store(env) as state:
        assert state.ads_available_micro_usd() == available + spec.micro_usd
    listed = run_cli(["ads", "list"], tmp_path)
    row = next(line for line in listed.stdout.splitlines() if second.id in line)
    assert "cancelled" in row
    for again_cmd in (["ads", "cancel", second.id], [*launch[:2], second.id, *launch[3:5]]):
        refused = run_cli(again_cmd, tmp_path)
        assert refused.returncode == 1 and "was cancelled" in refused.stderr, describe(refused)
