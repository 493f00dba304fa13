"""SolanaWallet end to end on the sandbox: guarded swap, landing, burn and treasury settlement,
for SPL Token and Token-2022 mints."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction
from spl.token.instructions import get_associated_token_address

from flywheel.domain.trade import Destination, LandingStatus, Quote, TxKind
from flywheel.errors import ConfigError, OperationalError
from flywheel.sandbox.chain.tokens import parse_mint, parse_token_account
from flywheel.sandbox.jupiter.dex import SOL_MINT
from flywheel.sandbox.runner import Sandbox
from flywheel.solana.rpc import RpcClient
from flywheel.solana.wallet import UNKNOWN_BLOCKHASH_MARGIN, SolanaWallet

SOL = 1_000_000_000


async def api_swap(
    box: Sandbox, lamports: int, slippage_bps: int = 100
) -> tuple[bytes, Quote, int]:
    """(unsigned swap, quote, the API's lastValidBlockHeight) from the sandbox's Jupiter API."""
    async with httpx.AsyncClient(base_url=box.jupiter_url) as http:
        params = {
            "inputMint": str(SOL_MINT),
            "outputMint": str(box.token_mint),
            "amount": str(lamports),
            "slippageBps": str(slippage_bps),
        }
        raw_quote = (await http.get("/swap/v1/quote", params=params)).raise_for_status().json()
        body = {"userPublicKey": str(box.executor.pubkey()), "quoteResponse": raw_quote}
        swap = (await http.post("/swap/v1/swap", json=body)).raise_for_status().json()
    quote = Quote(
        in_lamports=int(raw_quote["inAmount"]),
        out_amount=int(raw_quote["outAmount"]),
        min_out_amount=int(raw_quote["otherAmountThreshold"]),
        price_impact_bps=0,
        slippage_bps=slippage_bps,
        raw=raw_quote,
    )
    return base64.b64decode(swap["swapTransaction"]), quote, int(swap["lastValidBlockHeight"])


def token_amount(box: Sandbox, address: Pubkey) -> int | None:
    account = box.chain.get_account(address)
    holding = None if account is None else parse_token_account(address, account)
    return None if holding is None else holding.amount


def supply(box: Sandbox) -> int:
    account = box.chain.get_account(box.token_mint)
    assert account is not None
    parsed = parse_mint(account)
    assert parsed is not None
    return parsed.supply


@pytest.fixture(params=["spl", "token-2022"])
def box(request: pytest.FixtureRequest, sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_factory(token_program=request.param)


@pytest.fixture
async def wallet(box: Sandbox) -> AsyncIterator[SolanaWallet]:
    async with RpcClient(box.rpc_url) as rpc:
        yield SolanaWallet(
            rpc, box.executor, box.token_mint, Keypair().pubkey(), resend_interval=0.02
        )


async def buy(box: Sandbox, wallet: SolanaWallet, lamports: int) -> int:
    raw, quote, last_valid = await api_swap(box, lamports)
    tx = await wallet.prepare_swap(raw, quote, last_valid_block_height=last_valid)
    landing = await wallet.land(tx)
    assert landing.status == LandingStatus.CONFIRMED, landing.error
    return landing.token_delta


async def test_swap_is_guarded_signed_and_landed_once(box: Sandbox, wallet: SolanaWallet) -> None:
    raw, quote, last_valid = await api_swap(box, SOL // 10)
    tx = await wallet.prepare_swap(raw, quote, last_valid_block_height=last_valid)
    assert tx.kind == TxKind.SWAP
    assert tx.last_valid_block_height == last_valid
    assert VersionedTransaction.from_bytes(tx.raw).verify_with_results() == [True, True]
    report = wallet.last_guard_report
    assert report is not None

    landing = await wallet.land(tx)
    assert landing.status == LandingStatus.CONFIRMED
    assert landing.token_delta == quote.out_amount  # nothing moved between quote and swap
    assert landing.token_delta >= quote.min_out_amount
    assert landing.sol_delta == -report.sol_out  # the simulation foretold the real effect
    assert landing.fee_lamports == report.network_fee + report.priority_fee
    assert await wallet.token_balance() == landing.token_delta
    assert await wallet.balance_lamports() == 2 * SOL + landing.sol_delta

    again = await wallet.land(tx)
    assert again == landing
    assert await wallet.token_balance() == landing.token_delta  # not bought twice


async def test_burn_reduces_the_supply_by_exactly_n(box: Sandbox, wallet: SolanaWallet) -> None:
    bought = await buy(box, wallet, SOL // 10)
    before = supply(box)
    burn = bought // 3
    tx = await wallet.prepare_settle(burn, Destination.BURN)
    assert tx.kind == TxKind.BURN
    landing = await wallet.land(tx)
    assert landing.status == LandingStatus.CONFIRMED
    assert landing.token_delta == -burn
    assert supply(box) == before - burn
    assert await wallet.token_balance() == bought - burn


async def test_treasury_transfer_creates_its_account(box: Sandbox, wallet: SolanaWallet) -> None:
    assert wallet.treasury is not None
    bought = await buy(box, wallet, SOL // 10)
    treasury_ata = get_associated_token_address(
        wallet.treasury, box.token_mint, box.token_program_id
    )
    assert box.chain.get_account(treasury_ata) is None
    amount = bought // 2
    tx = await wallet.prepare_settle(amount, Destination.TREASURY)
    assert tx.kind == TxKind.TRANSFER
    landing = await wallet.land(tx)
    assert landing.status == LandingStatus.CONFIRMED
    assert landing.token_delta == -amount
    received = token_amount(box, treasury_ata)
    assert received is not None
    fee = box.scenario.transfer_fee
    if fee is not None:
        assert 0 < received < amount  # Token-2022 withholds its fee at the recipient
        assert received == fee.net(amount)
    else:
        assert received == amount
    # A second transfer reuses the account (create-idempotent) and lands as well.
    landing2 = await wallet.land(await wallet.prepare_settle(1, Destination.TREASURY))
    assert landing2.status == LandingStatus.CONFIRMED


async def test_settling_more_than_held_is_refused_before_signing(
    box: Sandbox, wallet: SolanaWallet
) -> None:
    with pytest.raises(OperationalError, match="holds 0"):
        await wallet.prepare_settle(1, Destination.BURN)


async def test_an_on_chain_slippage_failure_is_failed(box: Sandbox, wallet: SolanaWallet) -> None:
    raw, quote, last_valid = await api_swap(box, SOL // 10, slippage_bps=10)
    tx = await wallet.prepare_swap(raw, quote, last_valid_block_height=last_valid)
    box.jupiter.move_price(300, buy=True)  # a trader gets in first: 3% against us
    landing = await wallet.land(tx)
    assert landing.status == LandingStatus.FAILED
    assert "6001" in landing.error
    assert landing.token_delta == 0
    assert landing.sol_delta == -landing.fee_lamports


async def test_last_valid_height_without_the_api_value_is_an_upper_bound(
    box: Sandbox, wallet: SolanaWallet
) -> None:
    raw, quote, last_valid = await api_swap(box, SOL // 100)
    same_hash = await wallet.prepare_swap(raw, quote)
    assert same_hash.last_valid_block_height == last_valid
    box.chain.advance(1)  # a new blockhash: the swap's is no longer the node's latest
    older = await wallet.prepare_swap(raw, quote)
    _, latest_valid = box.chain.latest_blockhash()
    assert older.last_valid_block_height == latest_valid + UNKNOWN_BLOCKHASH_MARGIN
    assert older.last_valid_block_height >= last_valid


async def test_destination_checks(box: Sandbox) -> None:
    async with RpcClient(box.rpc_url) as rpc:
        no_treasury = SolanaWallet(rpc, box.executor, box.token_mint)
        with pytest.raises(ConfigError, match="treasury"):
            await no_treasury.prepare_settle(1, Destination.TREASURY)
        with pytest.raises(ValueError, match="nothing to sign"):
            await no_treasury.prepare_settle(1, Destination.HOLD)
        assert str(box.executor.pubkey()) in repr(no_treasury)
        assert "SigningKey" not in repr(no_treasury)
