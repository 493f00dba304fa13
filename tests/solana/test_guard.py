"""The transaction guard: pure checks on plain numbers, then real swaps from the sandbox API."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import AsyncIterator, Mapping

import httpx
import pytest
from solders.compute_budget import ID as COMPUTE_BUDGET_PROGRAM_ID
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import ID as SYSTEM_PROGRAM_ID
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from flywheel.domain.trade import Quote, our_min_out
from flywheel.errors import GuardRefused, SlippageExceeded, StaleTransaction
from flywheel.sandbox.jupiter.dex import SOL_MINT
from flywheel.sandbox.runner import Sandbox
from flywheel.solana.guard import (
    DEFAULT_INSTRUCTION_COMPUTE_UNIT_LIMIT,
    ComputeBudget,
    GuardReport,
    SwapEffect,
    SwapLimits,
    TokenSnapshot,
    check_priority_fee,
    check_signers,
    check_swap,
    compute_budget,
)
from flywheel.solana.rpc import RpcClient
from flywheel.solana.wallet import SolanaWallet

EXECUTOR = Pubkey.new_unique()
MINT = Pubkey.new_unique()
OTHER_MINT = Pubkey.new_unique()
ATA = Pubkey.new_unique()
OTHER_ATA = Pubkey.new_unique()
STRANGER = Pubkey.new_unique()
RENT = 2_039_280
LIMITS = SwapLimits(in_lamports=1_000_000, min_out=500, network_fee=5_000, priority_fee=1_200)


def holding(mint: Pubkey, amount: int, **changes: object) -> TokenSnapshot:
    fields: dict[str, object] = {
        "mint": mint,
        "owner": EXECUTOR,
        "amount": amount,
        "lamports": RENT,
        "delegate": None,
        "close_authority": None,
        "native_reserve": None,
    }
    fields.update(changes)
    return TokenSnapshot(**fields)  # type: ignore[arg-type]


def effect(
    sol_out: int,
    *,
    before: Mapping[Pubkey, TokenSnapshot | None] | None = None,
    after: Mapping[Pubkey, TokenSnapshot | None] | None = None,
    error: str | None = None,
    owner: Pubkey | None = SYSTEM_PROGRAM_ID,
) -> SwapEffect:
    return SwapEffect(
        sol_before=10_000_000_000,
        sol_after=10_000_000_000 - sol_out,
        executor_owner_after=owner,
        tokens_before=before if before is not None else {ATA: None},
        tokens_after=after if after is not None else {ATA: holding(MINT, 600)},
        error=error,
    )


def check(e: SwapEffect, limits: SwapLimits = LIMITS) -> GuardReport:
    return check_swap(e, limits, executor=EXECUTOR, mint=MINT)


# -- pure checks ---------------------------------------------------------------------------------


def test_an_honest_swap_passes_with_its_figures() -> None:
    allowed = 1_000_000 + 5_000 + 1_200 + RENT  # the new ATA's rent is allowed
    report = check(effect(allowed))
    assert report.sol_out == allowed
    assert report.max_sol_out == allowed
    assert report.token_in == 600
    assert report.new_account_rent == RENT


def test_one_lamport_too_many_is_refused_with_the_figures() -> None:
    allowed = 1_000_000 + 5_000 + 1_200 + RENT
    with pytest.raises(GuardRefused) as caught:
        check(effect(allowed + 1))
    message = str(caught.value)
    assert f"{allowed + 1} lamports" in message
    assert f"the {allowed} allowed" in message
    assert "swap 1000000 + network fee 5000 + priority fee 1200 + new account rent 2039280" in (
        message
    )


def test_rent_is_allowed_only_for_an_account_the_swap_creates() -> None:
    existing = {ATA: holding(MINT, 0)}
    with pytest.raises(GuardRefused, match="more than the 1006200 allowed"):
        check(effect(1_006_200 + RENT, before=existing))
    assert check(effect(1_006_200, before=existing)).new_account_rent == 0


def test_too_few_tokens_is_refused() -> None:
    with pytest.raises(GuardRefused, match=r"receive 499 base units .* minimum 500"):
        check(effect(1_000_000, after={ATA: holding(MINT, 499)}))


def test_tokens_delivered_to_someone_else_do_not_count() -> None:
    with pytest.raises(GuardRefused, match="receive 0 base units"):
        check(effect(1_000_000, after={ATA: holding(MINT, 600, owner=STRANGER)}))


def test_another_token_account_going_down_is_refused() -> None:
    before = {ATA: None, OTHER_ATA: holding(OTHER_MINT, 1_000)}
    after = {ATA: holding(MINT, 600), OTHER_ATA: holding(OTHER_MINT, 999)}
    with pytest.raises(GuardRefused, match=r"would go down from 1000 to 999"):
        check(effect(1_000_000, before=before, after=after))


def test_a_new_delegate_is_refused() -> None:
    after = {ATA: holding(MINT, 600, delegate=STRANGER)}
    with pytest.raises(GuardRefused, match=f"gain delegate {STRANGER}"):
        check(effect(1_000_000, after=after))


def test_an_owner_change_is_refused() -> None:
    before = {ATA: None, OTHER_ATA: holding(OTHER_MINT, 0)}
    after = {ATA: holding(MINT, 600), OTHER_ATA: holding(OTHER_MINT, 0, owner=STRANGER)}
    with pytest.raises(GuardRefused, match=f"change owner from the executor to {STRANGER}"):
        check(effect(1_000_000, before=before, after=after))


def test_closing_a_funded_token_account_is_refused() -> None:
    before = {ATA: None, OTHER_ATA: holding(OTHER_MINT, 7)}
    with pytest.raises(GuardRefused, match="closed holding 7"):
        check(effect(1_000_000, before=before, after={ATA: holding(MINT, 600), OTHER_ATA: None}))


def test_an_empty_account_closed_to_someone_else_costs_its_rent() -> None:
    before = {ATA: holding(MINT, 0), OTHER_ATA: holding(OTHER_MINT, 0)}
    after = {ATA: holding(MINT, 600), OTHER_ATA: None}
    # Rent back to the executor: its SOL fell by less, and the lost rent offsets that.
    assert check(effect(1_006_200 - RENT, before=before, after=after)).sol_out == 1_006_200
    # Rent sent elsewhere: the executor's SOL did not come back, so it counts as spent.
    with pytest.raises(GuardRefused, match=f"by {1_006_200 + RENT} lamports"):
        check(effect(1_006_200, before=before, after=after))


def test_a_simulation_error_is_refused() -> None:
    with pytest.raises(GuardRefused, match="simulation failed: InsufficientFunds"):
        check(effect(0, error="InsufficientFunds"))


def test_a_reassigned_executor_is_refused() -> None:
    with pytest.raises(GuardRefused, match=f"assigned to {STRANGER}"):
        check(effect(1_000_000, owner=STRANGER))


def test_a_swap_that_yields_no_tokens_is_never_a_success() -> None:
    zero = SwapLimits(in_lamports=1_000_000, min_out=0, network_fee=5_000, priority_fee=0)
    # Even a limit of 0 (a caller's mistake) never lets "nothing bought" pass.
    with pytest.raises(GuardRefused, match="no tokens"):
        check(effect(1_000_000, after={ATA: holding(MINT, 0)}), zero)


def test_rent_is_allowed_at_the_rent_exempt_minimum_only() -> None:
    # A new account funded far above its rent: the surplus is spent, not rent.
    fat = {ATA: holding(MINT, 600, lamports=RENT + 50_000_000)}
    with pytest.raises(GuardRefused, match=f"new account rent {RENT}"):
        check(effect(1_006_200 + RENT + 50_000_000, after=fat))


def test_more_new_token_accounts_than_a_swap_needs_are_refused() -> None:
    extra = [Pubkey.new_unique() for _ in range(2)]
    before: dict[Pubkey, TokenSnapshot | None] = {ATA: None, **dict.fromkeys(extra)}
    after = {ATA: holding(MINT, 600), **{a: holding(OTHER_MINT, 0) for a in extra}}
    with pytest.raises(GuardRefused, match=r"create 3 token accounts .* at most 2"):
        check(effect(1_006_200 + 3 * RENT, before=before, after=after))


def test_a_refusal_names_who_gains_what_the_executor_loses() -> None:
    pool, thief = Pubkey.new_unique(), Pubkey.new_unique()
    e = SwapEffect(
        sol_before=10_000_000_000,
        sol_after=10_000_000_000 - 1_006_200 - RENT - 5_000_000,
        executor_owner_after=SYSTEM_PROGRAM_ID,
        tokens_before={ATA: None},
        tokens_after={ATA: holding(MINT, 600)},
        others_before={pool: 10**9, thief: 0},
        others_after={pool: 10**9 + 1_000_000, thief: 5_000_000},
    )
    with pytest.raises(
        GuardRefused, match=f"^extra transfer: .* it goes to {thief} \\+5000000 lamports"
    ):
        check(e)
    # The same loss, all into the pool: the swap itself takes too much.
    into_pool = dataclasses.replace(e, others_after={pool: 10**9 + 6_000_000, thief: 0})
    with pytest.raises(GuardRefused, match=f"^overspend: .* the swap pays {pool} \\+6000000"):
        check(into_pool)


def test_an_unknown_compute_budget_instruction_is_refused() -> None:
    me = Keypair()
    # RequestUnits (tag 0, deprecated) carried its own additional fee.
    legacy = Instruction(COMPUTE_BUDGET_PROGRAM_ID, bytes([0]) + bytes(8), [])
    message = MessageV0.try_compile(me.pubkey(), [legacy], [], Hash.default())
    with pytest.raises(GuardRefused, match="unknown compute budget instruction 00"):
        compute_budget(message)


def test_the_priority_fee_limit_is_inclusive() -> None:
    budget = ComputeBudget(unit_limit=1_400_000, unit_price_micro_lamports=714_285_714)
    assert budget.priority_fee_lamports == 1_000_000_000
    assert check_priority_fee(budget, 1_000_000_000) == 1_000_000_000
    with pytest.raises(
        GuardRefused, match=r"1000000000 lamports .* MAX_PRIORITY_FEE_LAMPORTS 999999999"
    ):
        check_priority_fee(budget, 999_999_999)


def test_compute_budget_reads_limit_and_price() -> None:
    me = Keypair()
    ixs = [
        set_compute_unit_limit(120_000),
        set_compute_unit_price(83_334),
        transfer(TransferParams(from_pubkey=me.pubkey(), to_pubkey=STRANGER, lamports=1)),
    ]
    message = MessageV0.try_compile(me.pubkey(), ixs, [], Hash.default())
    budget = compute_budget(message)
    assert budget == ComputeBudget(unit_limit=120_000, unit_price_micro_lamports=83_334)
    assert budget.priority_fee_lamports == 10_001  # 10_000.08 rounds up, as the runtime does


def test_compute_budget_defaults_without_a_limit() -> None:
    me = Keypair()
    ixs = [
        set_compute_unit_price(1_000_000),
        transfer(TransferParams(from_pubkey=me.pubkey(), to_pubkey=STRANGER, lamports=1)),
        transfer(TransferParams(from_pubkey=me.pubkey(), to_pubkey=STRANGER, lamports=2)),
    ]
    budget = compute_budget(MessageV0.try_compile(me.pubkey(), ixs, [], Hash.default()))
    assert budget.unit_limit == 2 * DEFAULT_INSTRUCTION_COMPUTE_UNIT_LIMIT
    assert budget.priority_fee_lamports == 400_000


def test_signers_fee_payer_must_be_the_executor() -> None:
    me, other = Keypair(), Keypair()
    ix = transfer(TransferParams(from_pubkey=other.pubkey(), to_pubkey=STRANGER, lamports=1))
    message = MessageV0.try_compile(other.pubkey(), [ix], [], Hash.default())
    tx = VersionedTransaction.populate(message, [Signature.default()])
    with pytest.raises(GuardRefused, match=f"fee payer is {other.pubkey()}"):
        check_signers(tx, me.pubkey())


def test_signers_a_missing_co_signature_is_refused() -> None:
    me, pool = Keypair(), Keypair()
    ixs = [
        transfer(TransferParams(from_pubkey=me.pubkey(), to_pubkey=pool.pubkey(), lamports=1)),
        transfer(TransferParams(from_pubkey=pool.pubkey(), to_pubkey=me.pubkey(), lamports=1)),
    ]
    message = MessageV0.try_compile(me.pubkey(), ixs, [], Hash.default())
    unsigned = VersionedTransaction.populate(message, [Signature.default()] * 2)
    with pytest.raises(GuardRefused, match=f"co-signer {pool.pubkey()}"):
        check_signers(unsigned, me.pubkey())
    cosigned = VersionedTransaction.populate(
        message, [Signature.default(), pool.sign_message(to_bytes_versioned(message))]
    )
    check_signers(cosigned, me.pubkey())  # the executor's own slot may still be empty


# -- against the sandbox: real simulations of real API-built swaps --------------------------------


async def api_swap(box: Sandbox, lamports: int, slippage_bps: int = 100) -> tuple[bytes, Quote]:
    async with httpx.AsyncClient(base_url=box.jupiter_url) as http:
        params = {
            "inputMint": str(SOL_MINT),
            "outputMint": str(box.token_mint),
            "amount": str(lamports),
            "slippageBps": str(slippage_bps),
        }
        raw_quote = (await http.get("/swap/v1/quote", params=params)).raise_for_status().json()
        body = {
            "userPublicKey": str(box.executor.pubkey()),
            "quoteResponse": raw_quote,
            "dynamicComputeUnitLimit": True,
        }
        swap = (await http.post("/swap/v1/swap", json=body)).raise_for_status().json()
    quote = Quote(
        in_lamports=int(raw_quote["inAmount"]),
        out_amount=int(raw_quote["outAmount"]),
        min_out_amount=int(raw_quote["otherAmountThreshold"]),
        price_impact_bps=0,
        slippage_bps=slippage_bps,
        raw=raw_quote,
    )
    return base64.b64decode(swap["swapTransaction"]), quote


@pytest.fixture
async def wallet(sandbox: Sandbox) -> AsyncIterator[SolanaWallet]:
    async with RpcClient(sandbox.rpc_url) as rpc:
        yield SolanaWallet(rpc, sandbox.executor, sandbox.token_mint, resend_interval=0.02)


async def test_an_api_swap_passes_the_guard(sandbox: Sandbox, wallet: SolanaWallet) -> None:
    raw, quote = await api_swap(sandbox, 100_000_000)
    report = await wallet.check_swap(raw, quote)
    assert report.token_in >= quote.min_out_amount
    assert report.sol_out <= report.max_sol_out
    # 2 signatures (executor + pool) and the API's 10,000-lamport priority budget.
    assert report.network_fee == 10_000
    assert report.priority_fee == 10_000
    assert report.new_account_rent == sandbox.chain.minimum_balance_for_rent_exemption(165)
    assert report.sol_out == 100_000_000 + 10_000 + 10_000 + report.new_account_rent


async def test_a_malicious_swap_is_refused_and_nothing_leaves(
    sandbox: Sandbox, wallet: SolanaWallet
) -> None:
    sandbox.faults.update(malicious_swap=True)
    raw, quote = await api_swap(sandbox, 100_000_000)
    balance = await wallet.balance_lamports()
    with pytest.raises(GuardRefused, match="executor SOL would go down by") as caught:
        await wallet.prepare_swap(raw, quote)
    assert "more than the" in str(caught.value)
    assert await wallet.balance_lamports() == balance
    assert sandbox.chain.balance(sandbox.attacker) == 0
    assert sandbox.chain.signatures_for_address(sandbox.executor.pubkey()) == []


async def test_a_quote_promising_more_than_the_swap_delivers_is_refused(
    sandbox: Sandbox, wallet: SolanaWallet
) -> None:
    raw, quote = await api_swap(sandbox, 50_000_000)
    inflated = Quote(
        in_lamports=quote.in_lamports,
        out_amount=quote.out_amount * 2,
        min_out_amount=quote.out_amount * 2,
        price_impact_bps=0,
        slippage_bps=100,
    )
    # Our minimum comes from outAmount and MAX_SLIPPAGE_BPS, not from otherAmountThreshold.
    minimum = our_min_out(quote.out_amount * 2, wallet.guard.max_slippage_bps)
    with pytest.raises(GuardRefused, match=f"short delivery: .* our minimum {minimum}"):
        await wallet.check_swap(raw, inflated)


async def test_a_swap_for_less_sol_than_it_takes_is_refused(
    sandbox: Sandbox, wallet: SolanaWallet
) -> None:
    raw, quote = await api_swap(sandbox, 50_000_000)
    understated = Quote(
        in_lamports=quote.in_lamports - 1,
        out_amount=quote.out_amount,
        min_out_amount=quote.min_out_amount,
        price_impact_bps=0,
        slippage_bps=100,
    )
    with pytest.raises(GuardRefused, match="swap 49999999"):
        await wallet.check_swap(raw, understated)


async def test_garbage_bytes_are_refused(wallet: SolanaWallet) -> None:
    quote = Quote(1, 1, 1, 0, 0)
    with pytest.raises(GuardRefused, match="not a valid versioned transaction"):
        await wallet.check_swap(b"\x01\x02garbage", quote)


async def test_a_swap_whose_blockhash_expired_is_stale_not_refused(
    sandbox: Sandbox, wallet: SolanaWallet
) -> None:
    raw, quote = await api_swap(sandbox, 100_000_000)
    sandbox.chain.advance(200)  # past the 150-block lifetime of the swap's blockhash
    with pytest.raises(StaleTransaction, match="expired before signing"):
        await wallet.prepare_swap(raw, quote)


# -- hostile swaps from the sandbox API: each refused, naming what it saw ------------------------


async def refused(box: Sandbox, wallet: SolanaWallet, lamports: int = 100_000_000) -> str:
    """The guard's refusal of the API's swap; nothing signed, nothing moved."""
    raw, quote = await api_swap(box, lamports)
    balance = await wallet.balance_lamports()
    with pytest.raises(GuardRefused) as caught:
        await wallet.prepare_swap(raw, quote)
    assert await wallet.balance_lamports() == balance
    assert await wallet.token_balance() == 0
    assert box.chain.signatures_for_address(box.executor.pubkey()) == []
    return str(caught.value)


async def test_an_inflated_compute_budget_is_refused_naming_its_fee_and_the_limit(
    sandbox: Sandbox, wallet: SolanaWallet
) -> None:
    sandbox.faults.update(inflated_compute_budget=True)
    message = await refused(sandbox, wallet)
    assert message == (
        "inflated compute budget: the swap would pay a priority fee of 1000000000 lamports "
        "(1400000 compute units at 714285714 micro-lamports each), more than "
        "MAX_PRIORITY_FEE_LAMPORTS 1000000"
    )


async def test_a_short_delivery_is_refused_against_our_own_minimum(
    sandbox: Sandbox, wallet: SolanaWallet
) -> None:
    sandbox.faults.update(short_delivery_bps=5_000)
    message = await refused(sandbox, wallet)
    assert message.startswith("short delivery: executor would receive ")
    assert f"its SOL goes to {sandbox.pool.address} +100000000 lamports" in message


async def test_a_swap_that_only_moves_sol_away_is_refused_naming_the_recipient(
    sandbox: Sandbox, wallet: SolanaWallet
) -> None:
    sandbox.faults.update(sol_only_swap=True)
    message = await refused(sandbox, wallet)
    assert message.startswith("no tokens: the swap only moves SOL away: executor would receive 0 ")
    assert f"its SOL goes to {sandbox.attacker} +100000000 lamports" in message


async def test_an_overspend_is_told_from_an_extra_transfer(
    sandbox: Sandbox, wallet: SolanaWallet
) -> None:
    sandbox.faults.update(overspend_lamports=7_000_000)
    overspend = await refused(sandbox, wallet)
    assert overspend.startswith("overspend: executor SOL would go down by ")
    assert f"the swap pays {sandbox.pool.address} +107000000 lamports" in overspend
    assert "7000000 more than the quoted 100000000" in overspend
    sandbox.faults.update(overspend_lamports=0, malicious_swap=True)
    extra = await refused(sandbox, wallet)
    assert extra.startswith("extra transfer: executor SOL would go down by ")
    assert f"it goes to {sandbox.attacker} +" in extra
    assert f"(the swap pays {sandbox.pool.address} +100000000)" in extra
    assert "overspend" not in extra


async def test_a_delegate_is_told_from_a_close_authority(
    sandbox: Sandbox, wallet: SolanaWallet
) -> None:
    ata = sandbox.pool.ata(sandbox.executor.pubkey())
    sandbox.faults.update(swap_delegate=True)
    delegate = await refused(sandbox, wallet)
    assert delegate.startswith(f"delegate: token account {ata}")
    assert f"would gain delegate {sandbox.attacker} for 18446744073709551615 base units" in (
        delegate
    )
    sandbox.faults.update(swap_delegate=False, swap_close_authority=True)
    closer = await refused(sandbox, wallet)
    assert closer.startswith(f"close authority: token account {ata}")
    assert f"would gain close authority {sandbox.attacker}" in closer


async def test_a_price_moved_past_the_slippage_is_stale_not_refused(
    sandbox: Sandbox, wallet: SolanaWallet
) -> None:
    sandbox.faults.update(price_move_bps=500)  # the quote allowed 100 bps
    raw, quote = await api_swap(sandbox, 100_000_000)
    with pytest.raises(SlippageExceeded, match=r"^Slippage exceeds maximum: .*6001"):
        await wallet.prepare_swap(raw, quote)
    assert sandbox.chain.signatures_for_address(sandbox.executor.pubkey()) == []


async def test_the_priority_fee_ceiling_is_the_operators(sandbox: Sandbox) -> None:
    raw, quote = await api_swap(sandbox, 100_000_000)  # pays the API's 10,000 lamports
    async with RpcClient(sandbox.rpc_url) as rpc:
        strict = SolanaWallet(
            rpc, sandbox.executor, sandbox.token_mint, max_priority_fee_lamports=9_999
        )
        with pytest.raises(GuardRefused, match=r"10000 lamports .* MAX_PRIORITY_FEE_LAMPORTS 9999"):
            await strict.check_swap(raw, quote)
