"""Swaps through a Jito block engine (the sandbox's Jito-compatible one) with a tip inside them.

The guard allows exactly JITO_TIP_LAMPORTS to Jito's published tip accounts and nothing else:
a larger tip, a tip to another account, or a tip without a block engine is refused.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM_PROGRAM_ID

from flywheel.config.settings import Settings
from flywheel.domain.trade import LandingStatus
from flywheel.errors import ConfigError, GuardRefused, OperationalError
from flywheel.jupiter.build import JupiterBuildClient
from flywheel.sandbox.runner import Sandbox
from flywheel.solana.compose_swap import SwapComposer
from flywheel.solana.guard_checks import SwapEffect, SwapLimits, check_swap
from flywheel.solana.jito import JITO_TIP_ACCOUNTS, JitoClient
from flywheel.solana.rpc import RpcClient
from flywheel.solana.tokens import TokenSnapshot
from flywheel.solana.wallet import SolanaWallet

TIP = 10_000
BUY = 100_000_000


def _client(sandbox: Sandbox, rpc: RpcClient, jito: JitoClient, tip: int) -> JupiterBuildClient:
    composer = SwapComposer(
        rpc, sandbox.executor.pubkey(), sandbox.token_mint, 1_000_000, jito=jito, tip_lamports=tip
    )
    return JupiterBuildClient(
        sandbox.jupiter_url,
        str(sandbox.token_mint),
        str(sandbox.executor.pubkey()),
        300,
        composer=composer,
    )


@pytest.fixture
async def rpc(sandbox: Sandbox) -> AsyncIterator[RpcClient]:
    async with RpcClient(sandbox.rpc_url) as client:
        yield client


@pytest.fixture
async def jito(sandbox: Sandbox) -> AsyncIterator[JitoClient]:
    client = JitoClient(f"{sandbox.jupiter_url}/jito")
    try:
        yield client
    finally:
        await client.aclose()


def _wallet(sandbox: Sandbox, rpc: RpcClient, jito: JitoClient | None) -> SolanaWallet:
    return SolanaWallet(
        rpc,
        sandbox.executor,
        sandbox.token_mint,
        resend_interval=0.02,
        jito=jito,
        jito_tip_lamports=TIP,
    )


async def test_a_tipped_swap_lands_through_the_block_engine(
    sandbox: Sandbox, rpc: RpcClient, jito: JitoClient
) -> None:
    async with _client(sandbox, rpc, jito, TIP) as client:
        wallet = _wallet(sandbox, rpc, jito)
        quote = await client.quote(BUY)
        prepared = await wallet.prepare_swap(await client.swap_transaction(quote), quote)
        tips_before = {k: sandbox.chain.balance(k) for k in JITO_TIP_ACCOUNTS}
        landing = await wallet.land(prepared)
        assert landing.status is LandingStatus.CONFIRMED
        engine = sandbox.jupiter.jito
        assert engine is not None and engine.sent == [prepared.signature]  # not through the RPC
        gains = {k: sandbox.chain.balance(k) - tips_before[k] for k in JITO_TIP_ACCOUNTS}
        assert sorted(gains.values()) == [0] * 7 + [TIP]  # exactly the tip, to one tip account


async def test_a_tip_above_jito_tip_lamports_is_refused(
    sandbox: Sandbox, rpc: RpcClient, jito: JitoClient
) -> None:
    async with _client(sandbox, rpc, jito, TIP + 1) as client:
        quote = await client.quote(BUY)
        with pytest.raises(GuardRefused, match="more than the JITO_TIP_LAMPORTS 10000"):
            await _wallet(sandbox, rpc, jito).prepare_swap(
                await client.swap_transaction(quote), quote
            )


async def test_a_tip_without_a_block_engine_is_refused(
    sandbox: Sandbox, rpc: RpcClient, jito: JitoClient
) -> None:
    async with _client(sandbox, rpc, jito, TIP) as client:
        quote = await client.quote(BUY)
        with pytest.raises(GuardRefused, match="no block engine is configured"):
            await _wallet(sandbox, rpc, None).prepare_swap(
                await client.swap_transaction(quote), quote
            )


async def test_an_engine_naming_other_tip_accounts_is_refused(
    sandbox: Sandbox, jito: JitoClient
) -> None:
    await jito.tip_account()  # creates the engine's state
    engine = sandbox.jupiter.jito
    assert engine is not None
    engine.tip_accounts = (Keypair().pubkey(),)
    with pytest.raises(OperationalError, match="not one of Jito's published tip accounts"):
        await jito.tip_account()


async def test_a_dead_block_engine_is_a_temporary_error() -> None:
    from flywheel.errors import TemporaryError

    client = JitoClient("http://127.0.0.1:9", timeout=1.0)
    with pytest.raises(TemporaryError, match="Jito"):
        await client.send_transaction(b"x")
    await client.aclose()


# -- the guard's pure check ------------------------------------------------------------------


EXECUTOR = Pubkey.new_unique()
MINT = Pubkey.new_unique()
ATA = Pubkey.new_unique()
TIP_ACCOUNT = sorted(JITO_TIP_ACCOUNTS, key=str)[0]


def _effect(receiver: Pubkey, tip: int) -> SwapEffect:
    bought = TokenSnapshot(
        mint=MINT,
        owner=EXECUTOR,
        amount=600,
        lamports=2_039_280,
        delegate=None,
        close_authority=None,
        native_reserve=None,
    )
    spent = 1_000_000 + 5_000 + 2_039_280 + tip
    return SwapEffect(
        sol_before=10_000_000_000,
        sol_after=10_000_000_000 - spent,
        executor_owner_after=SYSTEM_PROGRAM_ID,
        tokens_before={ATA: None},
        tokens_after={ATA: bought},
        others_before={receiver: 1_000_000},
        others_after={receiver: 1_000_000 + tip},
    )


LIMITS = SwapLimits(
    in_lamports=1_000_000,
    min_out=500,
    network_fee=5_000,
    priority_fee=0,
    max_tip=TIP,
    tip_accounts=JITO_TIP_ACCOUNTS,
)


def test_the_guard_allows_exactly_the_tip_to_a_tip_account() -> None:
    report = check_swap(_effect(TIP_ACCOUNT, TIP), LIMITS, executor=EXECUTOR, mint=MINT)
    assert report.sol_out == report.max_sol_out
    with pytest.raises(GuardRefused, match="tip"):
        check_swap(_effect(TIP_ACCOUNT, TIP + 1), LIMITS, executor=EXECUTOR, mint=MINT)


def test_the_guard_refuses_a_tip_to_an_account_that_is_not_a_tip_account() -> None:
    stranger = Pubkey.new_unique()
    with pytest.raises(GuardRefused, match=f"extra transfer to {stranger}|{stranger}"):
        check_swap(_effect(stranger, TIP), LIMITS, executor=EXECUTOR, mint=MINT)


# -- configuration -----------------------------------------------------------------------------


def _settings(tmp_path: Path, **values: str) -> Settings:
    keypair = tmp_path / "executor.json"
    keypair.write_text(json.dumps(list(bytes(Keypair()))))
    keypair.chmod(0o600)
    base = {
        "EXECUTOR_KEYPAIR_PATH": str(keypair),
        "FEE_COLLECTOR_PUBKEY": str(Keypair().pubkey()),
        "TOKEN_MINT": str(Keypair().pubkey()),
    }
    return Settings.from_mapping({**base, **values})


def test_jito_needs_v2_and_at_least_the_minimum_tip(tmp_path: Path) -> None:
    assert _settings(tmp_path).jito_block_engine_url is None
    url = "https://mainnet.block-engine.jito.wtf"
    assert _settings(tmp_path, JITO_BLOCK_ENGINE_URL=url).jito_tip_lamports == TIP
    with pytest.raises(ConfigError) as caught:
        _settings(tmp_path, JITO_BLOCK_ENGINE_URL=url, JUPITER_SWAP_API="v1")
    assert any("needs JUPITER_SWAP_API=v2" in p for p in caught.value.problems)
    with pytest.raises(ConfigError) as caught:
        _settings(tmp_path, JITO_BLOCK_ENGINE_URL=url, JITO_TIP_LAMPORTS="999")
    assert any("minimum tip is 1000" in p for p in caught.value.problems)
    with pytest.raises(ConfigError):
        _settings(tmp_path, JITO_BLOCK_ENGINE_URL="ftp://nope")


def test_jupiter_swap_api_is_v2_by_default_and_only_v1_or_v2(tmp_path: Path) -> None:
    assert _settings(tmp_path).jupiter_swap_api == "v2"
    assert _settings(tmp_path, JUPITER_SWAP_API="v1").jupiter_swap_api == "v1"
    with pytest.raises(ConfigError) as caught:
        _settings(tmp_path, JUPITER_SWAP_API="v3")
    assert any(p.startswith("JUPITER_SWAP_API:") for p in caught.value.problems)
