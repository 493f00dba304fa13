"""`flywheel simulate`, `fetch-fees`, `snapshot` and `fees release` as subprocesses.

simulate and fetch-fees must change nothing: no transaction on chain, no byte of the live state
database, not the fee cursor; simulate must predict what the next live epoch then does. snapshot
must write the balances the chain holds. A quarantined fee is spent only once released.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from solders.pubkey import Pubkey

from flywheel.domain.epoch_state import EpochMode, EpochState, EpochStatus
from flywheel.domain.money import format_sol
from flywheel.sandbox.runner import Sandbox
from tests.e2e.harness import (
    ChainView,
    check_identity,
    describe,
    epoch_reports,
    epochs_in,
    finished_epochs,
    flywheel_env,
    run_cli,
    state_db,
)
from tests.sandbox.harness import start_sandbox

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    sandbox = start_sandbox(tmp_path_factory.mktemp("sandbox"))
    try:
        yield sandbox
    finally:
        sandbox.stop()


def chain_facts(box: Sandbox) -> dict[str, int]:
    """Every balance the flywheel could move, and the length of the chain's history."""
    view = ChainView(box)
    pool = box.pool
    return {
        "records": view.next_seq(),
        "executor_sol": view.sol(),
        "executor_tokens": view.token_amount(),
        "pool_sol": view.sol(pool.address),
        "pool_tokens": view.token_amount(pool.authority.pubkey()),
        "supply": view.supply(),
    }


def state_files(env: dict[str, str]) -> dict[str, bytes]:
    """The live state database's files, byte for byte (WAL and shared memory included)."""
    db = state_db(env)
    found = {}
    for suffix in ("", "-wal", "-shm"):
        path = Path(f"{db}{suffix}")
        if path.exists():
            found[path.name] = path.read_bytes()
    return found


def state_content(env: dict[str, str]) -> dict[str, Any]:
    """The live state's meaning: cursor, receipts, epochs, intents.

    A query-only connection, not `mode=ro`: a read-only connection would leave -wal and -shm
    files behind and so change the very files `state_files` compares."""
    conn = sqlite3.connect(state_db(env))
    try:
        conn.execute("PRAGMA query_only = ON")
        tables = ("meta", "fee_receipts", "epochs", "intents", "epoch_steps")
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()  # noqa: S608
            for table in tables
        }
    finally:
        conn.close()


def live_epoch(env_dir: Path) -> None:
    result = run_cli(["epoch"], env_dir)
    assert result.returncode == 0, describe(result)


def test_simulate_changes_nothing_and_predicts_the_next_live_epoch(
    box: Sandbox, tmp_path: Path
) -> None:
    # FEE_START=now: the first live epoch only sets the cursor, the rehearsal sees new fees.
    env = flywheel_env(box, tmp_path, FEE_START="now")
    # Before any live epoch there is no live state, and a rehearsal must not create one.
    first = run_cli(["simulate"], tmp_path)
    assert first.returncode == 0, describe(first)
    assert not state_db(env).exists()
    live_epoch(tmp_path)
    new_fees = box.traders.step(4)
    chain_before = chain_facts(box)
    files_before, content_before = state_files(env), state_content(env)
    reports_before = epoch_reports(env)

    simulated_run = run_cli(["simulate"], tmp_path)
    assert simulated_run.returncode == 0, describe(simulated_run)
    assert "nothing was sent" in simulated_run.stdout

    assert chain_facts(box) == chain_before  # not one transaction, not one balance
    assert state_files(env) == files_before
    assert state_content(env) == content_before
    assert epoch_reports(env) == reports_before  # the live reports folder is untouched
    [simulated] = epochs_in(env, EpochMode.SIMULATE)  # each rehearsal starts a fresh copy
    reports = {r["epoch_id"]: r for r in epoch_reports(env, "simulate")}
    assert len(reports) == 2
    simulated_report = reports[simulated.id]
    assert simulated_report["mode"] == "simulate" and simulated_report["errors"] == []
    assert simulated.status is EpochStatus.SUCCEEDED
    assert sorted(simulated.receipt_signatures) == sorted(map(str, new_fees))
    assert simulated.tokens_bought > 0

    # The live epoch that follows does exactly what the rehearsal said it would.
    live_epoch(tmp_path)
    live = finished_epochs(env)[-1]
    assert live.receipt_signatures == simulated.receipt_signatures
    assert live.carried_in_lamports == simulated.carried_in_lamports
    assert live.fees_in_lamports == simulated.fees_in_lamports
    assert live.buyback_planned_lamports == simulated.buyback_planned_lamports
    assert live.ads_planned_lamports == simulated.ads_planned_lamports
    assert live.quote is not None and simulated.quote is not None
    assert live.quote.out_amount == simulated.quote.out_amount
    assert live.buyback_spent_lamports == simulated.buyback_spent_lamports
    assert live.tokens_bought == simulated.tokens_bought  # the guard's simulation was exact
    assert live.tokens_settled == live.tokens_bought
    assert chain_facts(box)["supply"] == chain_before["supply"] - live.tokens_settled
    check_identity(finished_epochs(env))


def test_fetch_fees_shows_new_fees_and_changes_nothing(box: Sandbox, tmp_path: Path) -> None:
    env = flywheel_env(box, tmp_path, FEE_START="now")
    live_epoch(tmp_path)  # sets the cursor at the end of history
    assert state_content(env)["meta"], "the first epoch stored no cursor"
    box.traders.step(3)
    new = box.traders.fees[-3:]
    chain_before = chain_facts(box)
    files_before, content_before = state_files(env), state_content(env)

    for _ in range(2):  # twice: the first look consumed nothing, the second sees the same
        result = run_cli(["fetch-fees"], tmp_path)
        assert result.returncode == 0, describe(result)
        lines = result.stdout.splitlines()
        [new_line] = [line for line in lines if "new since the last detection" in line]
        assert format_sol(sum(f.lamports for f in new)) in new_line
        assert new_line.rstrip(" │|").endswith("3")
        [unspent_line] = [line for line in lines if "unspent in total" in line]
        assert format_sol(sum(f.lamports for f in new)) in unspent_line

        assert chain_facts(box) == chain_before
        assert state_files(env) == files_before
        assert state_content(env) == content_before


def test_snapshot_writes_the_balances_the_chain_holds(box: Sandbox, tmp_path: Path) -> None:
    treasury = Pubkey.new_unique()
    ads_treasury = Pubkey.new_unique()
    box.chain.airdrop(ads_treasury, 10**9)  # an existing wallet: a new one needs rent first
    env = flywheel_env(
        box, tmp_path, BUYBACK_DESTINATION=str(treasury), ADS_TREASURY_PUBKEY=str(ads_treasury)
    )
    box.traders.step(3)
    live_epoch(tmp_path)  # sends the bought tokens to the treasury, the ads SOL to its own
    [epoch] = finished_epochs(env)
    assert epoch.destination == "treasury" and epoch.tokens_settled > 0
    view = ChainView(box)

    result = run_cli(["snapshot"], tmp_path)
    assert result.returncode == 0, describe(result)
    [path] = sorted(Path(env["REPORTS_DIR"]).glob("snapshot-*.json"))
    assert path.name in result.stdout.replace("\n", "")
    snapshot = json.loads(path.read_text())
    wallets = {w["role"]: w for w in snapshot["wallets"]}
    assert set(wallets) == {"executor", "fee_collector", "treasury", "ads_treasury"}
    price = Decimal(snapshot["sol_usd_price"])
    assert price == box.config.sol_usd
    for role, owner in (
        ("executor", box.executor.pubkey()),
        ("fee_collector", box.fee_collector),
        ("treasury", treasury),
        ("ads_treasury", ads_treasury),
    ):
        wallet = wallets[role]
        assert wallet["pubkey"] == str(owner)
        assert wallet["sol_lamports"] == view.sol(owner)
        assert wallet["token_amount"] == view.token_amount(owner)
    assert wallets["treasury"]["token_amount"] == epoch.tokens_settled
    assert epoch.ads_reserved_lamports > 0
    assert wallets["ads_treasury"]["sol_lamports"] == 10**9 + epoch.ads_reserved_lamports
    assert wallets["executor"]["token_amount"] == 0
    # No tokens: the executor's USD value is its SOL at the snapshot's price, rounded down.
    assert wallets["executor"]["usd_value_micro"] == int(
        Decimal(view.sol()) * price / 10**9 * 10**6
    )


def test_a_quarantined_fee_is_spent_only_after_release(tmp_path: Path) -> None:
    box = start_sandbox(tmp_path / "sandbox")
    try:
        _quarantine_then_release(box, tmp_path / "flywheel")
    finally:
        box.stop()


def _quarantine_then_release(box: Sandbox, directory: Path) -> None:
    env = flywheel_env(box, directory, MAX_SINGLE_FEE_SOL="0.5")
    view = ChainView(box)
    early = run_cli(["fees", "release", "1" * 88], directory)
    assert early.returncode == 1 and "is not a quarantined fee" in early.stderr
    assert not state_db(env).exists()  # a review creates no state
    big = str(box.chain.airdrop(box.fee_collector, 10**9))  # 1 SOL: not a trading fee
    live_epoch(directory)
    [first] = finished_epochs(env)
    assert first.quarantined_signatures == [big]
    assert first.receipt_signatures == [] and first.fees_in_lamports == 0
    assert first.swap_intents == [] and view.executor_txs() == []
    fetched = run_cli(["fetch-fees"], directory)
    assert fetched.returncode == 0, describe(fetched)
    assert f"quarantined {big}: 1.000000000 SOL" in fetched.stdout.replace("\n", "")

    unknown = run_cli(["fees", "release", "1" * 88], directory)
    assert unknown.returncode == 1
    assert "is not a quarantined fee" in unknown.stderr
    assert "Traceback" not in unknown.stderr

    released = run_cli(["fees", "release", big], directory)
    assert released.returncode == 0, describe(released)
    assert f"released {big}" in released.stdout.replace("\n", "")
    again = run_cli(["fees", "release", big], directory)
    assert again.returncode == 1 and "is not a quarantined fee" in again.stderr

    bookmark = view.next_seq()
    live_epoch(directory)
    second = finished_epochs(env)[-1]
    assert second.receipt_signatures == [big]
    assert second.fees_in_lamports == 10**9
    assert second.buyback_spent_lamports > 0
    assert [t.kind for t in view.executor_txs(bookmark)] == ["swap", "burn"]
    check_identity(finished_epochs(env))
    _assert_spent_once(finished_epochs(env), big)


def _assert_spent_once(epochs: list[EpochState], signature: str) -> None:
    claims = [e.id for e in epochs if signature in e.receipt_signatures]
    assert len(claims) == 1
