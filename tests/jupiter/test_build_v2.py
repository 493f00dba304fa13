"""Swap API v2 /build against the sandbox: the answer's shape, our composition, the guard, landing.

The client and the composer are the real adapters; the sandbox serves /swap/v2/build over its
pool on loopback and runs the composed transaction on its LiteSVM chain.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from solders.compute_budget import ID as COMPUTE_BUDGET_PROGRAM_ID
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from flywheel.domain.trade import LandingStatus
from flywheel.errors import GuardRefused, OperationalError
from flywheel.jupiter.build import JupiterBuildClient, parse_build
from flywheel.jupiter.models import SOL_MINT
from flywheel.sandbox.jupiter.build_v2 import lookup_table_account
from flywheel.sandbox.runner import Sandbox
from flywheel.solana.compose_swap import (
    JITO_DONTFRONT,
    SwapComposer,
    percentile,
    unit_limit_for,
    unit_price_for,
)
from flywheel.solana.guard_checks import check_mev_marker, compute_budget
from flywheel.solana.rpc import RpcClient
from flywheel.solana.wallet import SolanaWallet

SLIPPAGE_BPS = 300
MAX_PRIORITY_FEE = 1_000_000
BUY = 100_000_000


@dataclass
class V2:
    client: JupiterBuildClient
    wallet: SolanaWallet
    rpc: RpcClient


@pytest.fixture
async def v2(sandbox: Sandbox) -> AsyncIterator[V2]:
    async with RpcClient(sandbox.rpc_url) as rpc:
        composer = SwapComposer(
            rpc, sandbox.executor.pubkey(), sandbox.token_mint, MAX_PRIORITY_FEE
        )
        client = JupiterBuildClient(
            sandbox.jupiter_url,
            str(sandbox.token_mint),
            str(sandbox.executor.pubkey()),
            SLIPPAGE_BPS,
            composer=composer,
        )
        wallet = SolanaWallet(rpc, sandbox.executor, sandbox.token_mint, resend_interval=0.02)
        async with client:
            yield V2(client, wallet, rpc)


# -- the sandbox's answer is the documented shape -------------------------------------------


async def test_build_answers_in_the_documented_shape(sandbox: Sandbox) -> None:
    params = {
        "inputMint": str(SOL_MINT),
        "outputMint": str(sandbox.token_mint),
        "amount": str(BUY),
        "slippageBps": "100",
        "taker": str(sandbox.executor.pubkey()),
    }
    async with httpx.AsyncClient(base_url=sandbox.jupiter_url) as http:
        body = (await http.get("/swap/v2/build", params=params)).raise_for_status().json()
    for name in (
        "inputMint",
        "outputMint",
        "inAmount",
        "outAmount",
        "otherAmountThreshold",
        "swapMode",
        "slippageBps",
        "priceImpactPct",
        "routePlan",
        "computeBudgetInstructions",
        "setupInstructions",
        "swapInstruction",
        "cleanupInstruction",
        "otherInstructions",
        "addressesByLookupTableAddress",
        "blockhashWithMetadata",
    ):
        assert name in body, name
    parsed = parse_build(body)
    # Only the taker signs: the composed transaction needs no other signature.
    signers = {m.pubkey for ix in parsed.swap_instructions() for m in ix.accounts if m.is_signer}
    assert signers == {sandbox.executor.pubkey()}
    assert all(ix.program_id == COMPUTE_BUDGET_PROGRAM_ID for ix in parsed.compute_budget)


async def test_build_refuses_a_sell_with_no_route_and_a_missing_taker(sandbox: Sandbox) -> None:
    # Sales are served (tests/solana/test_guard_sell.py); 1000 base units buy no lamport.
    async with httpx.AsyncClient(base_url=sandbox.jupiter_url) as http:
        sell = await http.get(
            "/swap/v2/build",
            params={
                "inputMint": str(sandbox.token_mint),
                "outputMint": str(SOL_MINT),
                "amount": "1000",
                "taker": str(sandbox.executor.pubkey()),
            },
        )
        no_taker = await http.get(
            "/swap/v2/build",
            params={
                "inputMint": str(SOL_MINT),
                "outputMint": str(sandbox.token_mint),
                "amount": "1",
            },
        )
    assert sell.status_code == 400 and sell.json()["errorCode"] == "COULD_NOT_FIND_ANY_ROUTE"
    assert no_taker.status_code == 400 and "taker" in no_taker.json()["error"]


# -- composition: our fees, our limit, the marker, the guard -----------------------------------


async def test_a_composed_swap_passes_the_guard_and_lands(sandbox: Sandbox, v2: V2) -> None:
    quote = await v2.client.quote(BUY)
    raw = await v2.client.swap_transaction(quote)
    message = VersionedTransaction.from_bytes(raw).message
    assert isinstance(message, MessageV0)
    keys = list(message.account_keys)
    assert JITO_DONTFRONT in keys
    assert not message.is_maybe_writable(keys.index(JITO_DONTFRONT))
    assert message.header.num_required_signatures == 1
    assert check_mev_marker(message)
    budget = compute_budget(message)
    assert budget.unit_limit < 1_400_000  # sized from the simulation, not the maximum
    assert budget.priority_fee_lamports <= MAX_PRIORITY_FEE
    prepared = await v2.wallet.prepare_swap(raw, quote)
    report = v2.wallet.last_guard_report
    assert report is not None and report.network_fee == 5_000  # one signature: ours
    before = sandbox.chain.balance(sandbox.executor.pubkey())
    landing = await v2.wallet.land(prepared)
    assert landing.status is LandingStatus.CONFIRMED
    assert landing.token_delta >= quote.min_out_amount
    assert before - sandbox.chain.balance(sandbox.executor.pubkey()) == report.sol_out


async def test_a_swap_and_burn_in_one_transaction_burns_exactly_the_minimum(
    sandbox: Sandbox, v2: V2
) -> None:
    supply_before = await v2.rpc.get_token_supply(sandbox.token_mint)
    quote = await v2.client.quote(BUY)
    raw = await v2.client.swap_and_burn_transaction(quote, quote.min_out_amount)
    prepared = await v2.wallet.prepare_swap(raw, quote, burn_amount=quote.min_out_amount)
    landing = await v2.wallet.land(prepared)
    assert landing.status is LandingStatus.CONFIRMED
    assert supply_before - await v2.rpc.get_token_supply(sandbox.token_mint) == (
        quote.min_out_amount
    )
    # What the swap gave above the minimum stays in the executor, for the next transaction.
    assert landing.token_delta == quote.out_amount - quote.min_out_amount


async def test_the_guard_refuses_a_burn_it_was_not_told_of(sandbox: Sandbox, v2: V2) -> None:
    quote = await v2.client.quote(BUY)
    raw = await v2.client.swap_and_burn_transaction(quote, quote.min_out_amount)
    with pytest.raises(GuardRefused, match="short delivery"):
        await v2.wallet.prepare_swap(raw, quote)


# -- a hostile /build: what composition drops, what the guard refuses ----------------------------


async def test_an_inflated_compute_budget_is_simply_not_used(sandbox: Sandbox, v2: V2) -> None:
    sandbox.faults.update(inflated_compute_budget=True)
    quote = await v2.client.quote(BUY)
    raw = await v2.client.swap_transaction(quote)
    message = VersionedTransaction.from_bytes(raw).message
    assert isinstance(message, MessageV0)
    assert compute_budget(message).priority_fee_lamports <= MAX_PRIORITY_FEE
    await v2.wallet.prepare_swap(raw, quote)


async def test_a_malicious_extra_transfer_is_refused_by_the_guard(sandbox: Sandbox, v2: V2) -> None:
    sandbox.faults.update(malicious_swap=True)
    quote = await v2.client.quote(BUY)
    raw = await v2.client.swap_transaction(quote)
    with pytest.raises(GuardRefused, match="extra transfer"):
        await v2.wallet.prepare_swap(raw, quote)


async def test_a_delegate_grab_is_refused_by_the_guard(sandbox: Sandbox, v2: V2) -> None:
    sandbox.faults.update(swap_delegate=True)
    quote = await v2.client.quote(BUY)
    with pytest.raises(GuardRefused, match="delegate"):
        await v2.wallet.prepare_swap(await v2.client.swap_transaction(quote), quote)


async def test_a_loose_threshold_is_refused_before_composition(sandbox: Sandbox, v2: V2) -> None:
    from flywheel.domain.trade import check_quote

    sandbox.faults.update(loose_threshold=True)
    quote = await v2.client.quote(BUY)
    with pytest.raises(GuardRefused, match="otherAmountThreshold"):
        check_quote(quote, asked_lamports=BUY, max_slippage_bps=SLIPPAGE_BPS)


async def test_a_malformed_answer_is_a_clear_error(sandbox: Sandbox, v2: V2) -> None:
    quote = await v2.client.quote(BUY)
    broken = dict(quote.raw)
    broken["swapInstruction"] = {"programId": "nope", "accounts": [], "data": ""}
    with pytest.raises(OperationalError, match=r"swapInstruction\.programId"):
        parse_build(broken)
    broken["swapInstruction"] = None
    with pytest.raises(OperationalError, match="no swapInstruction"):
        parse_build(broken)
    signer = dict(quote.raw)
    other = dict(signer["swapInstruction"])
    other["accounts"] = [
        *other["accounts"],
        {"pubkey": str(Keypair().pubkey()), "isSigner": True, "isWritable": False},
    ]
    signer["swapInstruction"] = other
    with pytest.raises(GuardRefused, match="needs a signature"):
        await v2.client.composer.compose(parse_build(signer))


# -- the pure figures ----------------------------------------------------------------------------


def test_the_fee_percentile_ignores_zeros_and_the_cap_wins() -> None:
    assert percentile([0, 0, 0], 75) == 0
    assert percentile([0, 10, 20, 30, 40], 75) == 30
    assert unit_price_for([10**8], 200_000, 1_000_000) == 1_000_000 * 1_000_000 // 200_000
    assert unit_price_for([7], 200_000, 1_000_000) == 7
    assert unit_limit_for(None) == 1_400_000
    assert unit_limit_for(40_000) == 50_000
    assert unit_limit_for(100_000) == 120_000


# -- our fee settings come from the chain and the operator, never from the API -----------------


async def test_the_unit_price_is_the_chains_recent_fees(sandbox: Sandbox, v2: V2) -> None:
    sandbox.chain.priority_fee_floor = 5_000  # a busy chain: every recent slot paid 5,000
    quote = await v2.client.quote(BUY)
    message = VersionedTransaction.from_bytes(await v2.client.swap_transaction(quote)).message
    assert isinstance(message, MessageV0)
    assert compute_budget(message).unit_price_micro_lamports == 5_000


async def test_the_unit_price_is_capped_by_max_priority_fee(sandbox: Sandbox, v2: V2) -> None:
    sandbox.chain.priority_fee_floor = 10**12  # a fee spike far above what the operator pays
    quote = await v2.client.quote(BUY)
    raw = await v2.client.swap_transaction(quote)
    message = VersionedTransaction.from_bytes(raw).message
    assert isinstance(message, MessageV0)
    budget = compute_budget(message)
    assert MAX_PRIORITY_FEE - 1 <= budget.priority_fee_lamports <= MAX_PRIORITY_FEE
    await v2.wallet.prepare_swap(raw, quote)  # and the guard agrees


# -- the MEV marker: exactly ours, read-only --------------------------------------------------


def _with_account(meta: AccountMeta) -> MessageV0:
    payer = Keypair().pubkey()
    ix = Instruction(COMPUTE_BUDGET_PROGRAM_ID, bytes([3]) + bytes(8), [meta])
    return MessageV0.try_compile(payer, [ix], [], Hash.default())


def test_the_guard_accepts_exactly_our_marker_read_only() -> None:
    assert check_mev_marker(_with_account(AccountMeta(JITO_DONTFRONT, False, False)))
    assert not check_mev_marker(_with_account(AccountMeta(Keypair().pubkey(), False, False)))
    with pytest.raises(GuardRefused, match="read-only"):
        check_mev_marker(_with_account(AccountMeta(JITO_DONTFRONT, False, True)))
    other = Pubkey.from_string("jitodontfront111111111111111111111111111112")
    with pytest.raises(GuardRefused, match="only jitodontfront1111"):
        check_mev_marker(_with_account(AccountMeta(other, False, False)))


# -- lookup tables: read from the chain, never taken from the answer --------------------------


def _pool_table(sandbox: Sandbox) -> tuple[Pubkey, list[Pubkey]]:
    pool = sandbox.pool
    table = Keypair().pubkey()
    addresses = [pool.address, pool.token_vault, pool.mint]
    lookup_table_account(sandbox.chain, table, addresses)
    sandbox.chain.advance()  # a table is usable from the slot after its last extension
    return table, addresses


async def test_a_swap_through_a_lookup_table_lands(sandbox: Sandbox, v2: V2) -> None:
    table, addresses = _pool_table(sandbox)
    sandbox.jupiter.lookup_tables = {table: addresses}
    quote = await v2.client.quote(BUY)
    raw = await v2.client.swap_transaction(quote)
    message = VersionedTransaction.from_bytes(raw).message
    assert isinstance(message, MessageV0)
    assert [lookup.account_key for lookup in message.address_table_lookups] == [table]
    assert sandbox.pool.address not in list(message.account_keys)  # loaded from the table
    landing = await v2.wallet.land(await v2.wallet.prepare_swap(raw, quote))
    assert landing.status is LandingStatus.CONFIRMED
    assert landing.token_delta >= quote.min_out_amount


async def test_a_lookup_table_the_answer_lies_about_is_refused(sandbox: Sandbox, v2: V2) -> None:
    table, addresses = _pool_table(sandbox)
    sandbox.jupiter.lookup_tables = {table: [*addresses, Keypair().pubkey()]}
    quote = await v2.client.quote(BUY)
    with pytest.raises(GuardRefused, match=f"lookup table {table} does not hold"):
        await v2.client.swap_transaction(quote)
    missing = Keypair().pubkey()
    sandbox.jupiter.lookup_tables = {missing: addresses}
    quote = await v2.client.quote(BUY)
    with pytest.raises(OperationalError, match=f"{missing} does not exist"):
        await v2.client.swap_transaction(quote)


async def test_an_overspending_build_is_refused_by_the_guard(sandbox: Sandbox, v2: V2) -> None:
    sandbox.faults.update(overspend_lamports=1_000_000)
    quote = await v2.client.quote(BUY)
    with pytest.raises(GuardRefused, match="overspend"):
        await v2.wallet.prepare_swap(await v2.client.swap_transaction(quote), quote)


async def test_a_short_delivery_cannot_hide_behind_our_burn(sandbox: Sandbox, v2: V2) -> None:
    # The swap delivers 5% less than quoted: below our minimum, and the burn of the guaranteed
    # minimum then fails in simulation; either way nothing is signed.
    sandbox.faults.update(short_delivery_bps=500)
    quote = await v2.client.quote(BUY)
    raw = await v2.client.swap_and_burn_transaction(quote, quote.min_out_amount)
    with pytest.raises(GuardRefused):
        await v2.wallet.prepare_swap(raw, quote, burn_amount=quote.min_out_amount)
    with pytest.raises(GuardRefused, match="short delivery"):
        await v2.wallet.prepare_swap(await v2.client.swap_transaction(quote), quote)
