"""The scenario's world, the simulated traders and their fees, and the Sandbox composition."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solders.keypair import Keypair
from solders.token.state import Mint
from solders.transaction_status import UiRawMessage, UiTransaction
from spl.token.constants import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID

from flywheel.config.settings import Settings
from flywheel.sandbox.chain.runtime import SandboxChain
from flywheel.sandbox.runner import Sandbox
from flywheel.sandbox.scenario import Scenario, ScenarioConfig
from flywheel.solana.keypair import read_keypair_file, write_keypair_file

SOL = 1_000_000_000


def test_the_same_seed_gives_the_same_world_and_another_seed_another() -> None:
    one, again, other = (Scenario(ScenarioConfig(seed=s)) for s in (3, 3, 4))
    assert one.mint == again.mint and one.executor.pubkey() == again.executor.pubkey()
    assert one.pool.address == again.pool.address
    assert one.mint != other.mint and one.executor.pubkey() != other.executor.pubkey()
    assert one.fee_collector == one.executor.pubkey()  # by default the executor collects
    separate = Scenario(ScenarioConfig(seed=3, separate_fee_collector=True))
    assert separate.fee_collector != separate.executor.pubkey()


def test_keypair_file_is_solana_keygen_format_and_owner_only(tmp_path: Path) -> None:
    keypair = Keypair()
    path = tmp_path / "keys" / "executor.json"
    write_keypair_file(path, keypair)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    numbers = json.loads(path.read_text())
    assert len(numbers) == 64 and all(0 <= n <= 255 for n in numbers)
    assert Keypair.from_json(path.read_text()) == keypair
    assert read_keypair_file(path) == keypair  # the bot's own reader accepts it

    path.chmod(0o644)  # rewriting an existing, too-open file tightens it
    write_keypair_file(path, keypair)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("program", "program_id", "mint_size"),
    [("spl", TOKEN_PROGRAM_ID, 82), ("token-2022", TOKEN_2022_PROGRAM_ID, 278)],
)
def test_scenario_creates_mint_pool_and_wallets(
    program: Any, program_id: Any, mint_size: int
) -> None:
    chain = SandboxChain(slot_ms=0)
    scenario = Scenario(ScenarioConfig(seed=1, token_program=program))
    pool = scenario.create(chain)

    mint = chain.get_account(scenario.mint)
    assert mint is not None and mint.owner == program_id and len(mint.data) == mint_size
    parsed = Mint.from_bytes(bytes(mint.data[:82]))
    assert parsed.decimals == 6 and parsed.mint_authority == scenario.creator.pubkey()
    assert (pool.transfer_fee is not None) == (program == "token-2022")

    reserves = pool.reserves(chain)
    assert (reserves.sol, reserves.token) == (100 * SOL, 10**15)
    assert chain.balance(scenario.executor.pubkey()) == 2 * SOL
    # Funded at genesis: no transaction touches the executor (the fee collector) before fees.
    assert chain.signatures_for_address(scenario.fee_collector) == []


def test_a_separate_fee_collector_exists_and_is_rent_exempt() -> None:
    chain = SandboxChain(slot_ms=0)
    scenario = Scenario(ScenarioConfig(separate_fee_collector=True))
    scenario.create(chain)
    rent = chain.minimum_balance_for_rent_exemption(0)
    assert chain.balance(scenario.fee_collector) == rent
    assert chain.signatures_for_address(scenario.fee_collector) == []


async def test_trader_fees_show_up_through_rpc_with_their_sol_delta(sandbox: Sandbox) -> None:
    signatures = sandbox.traders.step(4)
    assert len(signatures) == 4
    paid = {fee.signature: fee for fee in sandbox.traders.fees}
    async with AsyncClient(sandbox.rpc_url, commitment=Confirmed) as rpc:
        listed = await rpc.get_signatures_for_address(sandbox.fee_collector, limit=100)
        assert [info.signature for info in listed.value] == list(reversed(signatures))
        for signature in signatures:
            got = await rpc.get_transaction(signature, max_supported_transaction_version=0)
            assert got.value is not None
            tx, meta = got.value.transaction.transaction, got.value.transaction.meta
            assert isinstance(tx, UiTransaction) and isinstance(tx.message, UiRawMessage)
            assert meta is not None and meta.err is None
            keys = list(tx.message.account_keys)
            i = keys.index(sandbox.fee_collector)
            delta = meta.post_balances[i] - meta.pre_balances[i]
            assert delta == paid[signature].lamports > 0
            # 1% of the trade's SOL volume, give or take the lamport that keeps bytes unique
            assert abs(delta - paid[signature].volume_lamports // 100) <= 1


def test_traders_are_deterministic_for_a_seed(sandbox_factory: Any) -> None:
    def fees(box: Sandbox) -> list[tuple[str, int]]:
        box.traders.step(6)
        return [(str(fee.payer), fee.lamports) for fee in box.traders.fees]

    assert fees(sandbox_factory(seed=5)) == fees(sandbox_factory(seed=5))
    assert fees(sandbox_factory(seed=5)) != fees(sandbox_factory(seed=6))


def test_traders_buy_and_sell_and_move_the_pool(sandbox: Sandbox) -> None:
    before = sandbox.pool.reserves(sandbox.chain)
    sandbox.traders.step(12)
    after = sandbox.pool.reserves(sandbox.chain)
    assert after != before
    sells = [fee for fee in sandbox.traders.fees if _was_sell(sandbox, fee.trade_signature)]
    assert sells, "with a 40% chance once holding tokens, 12 trades include a sell"
    assert len(sandbox.traders.fees) == 12


def _was_sell(box: Sandbox, signature: Any) -> bool:
    record = box.chain.get_transaction(signature)
    assert record is not None and record.ok
    vault = record.account_keys.index(box.pool.address)
    return record.post_balances[vault] < record.pre_balances[vault]


def test_traders_trade_in_the_background_until_stopped(sandbox: Sandbox) -> None:
    sandbox.traders.start(0.02)
    deadline = time.monotonic() + 5
    while len(sandbox.traders.fees) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    sandbox.traders.stop()
    count = len(sandbox.traders.fees)
    assert count >= 3
    time.sleep(0.1)
    assert len(sandbox.traders.fees) == count
    assert not sandbox.traders.running


def test_env_points_the_bot_at_the_sandbox(sandbox: Sandbox, tmp_path: Path) -> None:
    env = sandbox.env(tmp_path / "bot")
    assert env["SOLANA_RPC_URL"] == sandbox.rpc_url
    assert env["JUPITER_API_URL"] == sandbox.jupiter_url
    assert env["TOKEN_MINT"] == str(sandbox.token_mint)
    assert env["FEE_COLLECTOR_PUBKEY"] == str(sandbox.fee_collector)
    assert env["STATE_DB_PATH"] == str(tmp_path / "bot" / "data" / "flywheel.sqlite")
    assert env["REPORTS_DIR"] == str(tmp_path / "bot" / "reports")
    assert len(env["WEBHOOK_SECRET"]) == 44
    assert env["WEBHOOK_SECRET"] == sandbox.env(tmp_path / "bot")["WEBHOOK_SECRET"]
    keypair_path = Path(env["EXECUTOR_KEYPAIR_PATH"])
    assert stat.S_IMODE(keypair_path.stat().st_mode) == 0o600
    settings = Settings.from_mapping(env)  # the bot's configuration accepts it as is
    assert settings.executor_pubkey() == sandbox.executor.pubkey()
    assert settings.ads_engine_mode == "dry-run" and settings.max_slippage_bps == 300
    assert settings.fee_start == "all"  # a new chain: its first fees must count


def test_sandbox_serves_until_stopped_and_refuses_use_before_start(tmp_path: Path) -> None:
    box = Sandbox()
    with pytest.raises(RuntimeError, match="not started"):
        _ = box.rpc_url
    with box:
        assert box.executor_keypair_path.exists()
        health = httpx.post(
            box.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "getHealth"}, timeout=5
        )
        assert health.json()["result"] == "ok"
        url = box.jupiter_url
        workdir = box.executor_keypair_path.parent
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/price/v3?ids=x", timeout=2)
    assert not workdir.exists()  # its own temporary directory is removed
