"""Issue 11, item 3: a separate fee collector that works. By subprocess against the sandbox,
checked against the chain: the collect step moves exactly the detected fees to the executor
before anything is spent, and the collector keeps only its rent."""

from __future__ import annotations

from pathlib import Path

import pytest

from flywheel.domain.anchor import parse_anchor
from flywheel.solana.keypair import write_keypair_file
from tests.e2e.harness import (
    ChainView,
    check_identity,
    describe,
    finished_epochs,
    flywheel_env,
    report_of,
    run_cli,
)
from tests.sandbox.harness import SandboxFactory

pytestmark = pytest.mark.slow


def test_the_collect_step_moves_exactly_the_fees_and_the_collector_keeps_its_rent(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(separate_fee_collector=True)
    key = tmp_path / "secure" / "fee-collector.json"
    write_keypair_file(key, sandbox.scenario.fee_collector_keypair)
    env = flywheel_env(sandbox, tmp_path, FEE_COLLECTOR_KEYPAIR_PATH=str(key), ANCHOR_STATE="true")
    view = ChainView(sandbox)
    collector = sandbox.fee_collector
    rent = sandbox.chain.minimum_balance_for_rent_exemption(0)
    assert view.sol(collector) == rent
    sandbox.traders.step(4)
    fees = sum(f.lamports for f in sandbox.traders.fees)
    start = view.next_seq()
    executor_before = view.sol()

    result = run_cli(["epoch"], tmp_path)

    assert result.returncode == 0, describe(result)
    [epoch] = finished_epochs(env)
    report = report_of(epoch)
    assert report["fees"]["detected_lamports"] == fees
    assert report["fees"]["funding"] == "collect"
    assert report["fees"]["collected_lamports"] == fees
    assert view.sol(collector) == rent, "the collector keeps only its rent"
    network = sum(tx.record.fee for tx in view.executor_txs(start))
    # The first swap also opened the executor's token account (its rent stays in it).
    token_account_rent = sandbox.chain.minimum_balance_for_rent_exemption(165)
    assert view.sol() - executor_before == (
        fees - epoch.buyback_spent_lamports - network - token_account_rent
    )
    check_identity([epoch])
    # The collect came before anything was spent: the first transaction the executor signed.
    first = view.executor_txs(start)[0]
    assert first.signature == epoch.collect_signature
    assert first.record.memo is not None
    memo = parse_anchor(first.record.memo)
    assert memo is not None and (memo.kind, memo.epoch_id) == ("collect", epoch.id)
    assert memo.carried_lamports == epoch.input_lamports  # counted, nothing spent yet


def test_a_separate_collector_without_its_key_is_refused_unless_funding_is_the_executor(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(separate_fee_collector=True)
    env = flywheel_env(sandbox, tmp_path)
    refused = run_cli(["config", "check"], tmp_path)
    assert refused.returncode == 2, describe(refused)
    message = refused.stderr.replace("\n", "")
    assert "FEE_COLLECTOR_KEYPAIR_PATH" in message and "FEE_FUNDING=executor" in message
    assert run_cli(["epoch"], tmp_path).returncode == 2
    assert finished_epochs(env) == []

    flywheel_env(sandbox, tmp_path, FEE_FUNDING="executor")
    assert run_cli(["config", "check"], tmp_path).returncode == 0
    sandbox.traders.step(2)
    ran = run_cli(["epoch"], tmp_path)
    assert ran.returncode == 0, describe(ran)
    [epoch] = finished_epochs(env)
    assert report_of(epoch)["fees"]["funding"] == "executor"
    assert epoch.collected_lamports == 0


def test_a_collector_key_of_another_wallet_is_refused(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    sandbox = sandbox_factory(separate_fee_collector=True)
    key = tmp_path / "secure" / "wrong.json"
    write_keypair_file(key, sandbox.executor)
    flywheel_env(sandbox, tmp_path, FEE_COLLECTOR_KEYPAIR_PATH=str(key))
    refused = run_cli(["config", "check"], tmp_path)
    assert refused.returncode == 2
    assert "not of FEE_COLLECTOR_PUBKEY" in refused.stderr.replace("\n", "")
    assert "Traceback" not in refused.stderr
