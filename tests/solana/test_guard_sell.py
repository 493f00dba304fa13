"""The guard of a sale (token -> SOL): pure checks on plain numbers, then a real sale built by
the sandbox's Jupiter and simulated by its chain."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
import pytest
from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM_PROGRAM_ID
from solders.transaction import VersionedTransaction

from flywheel.domain.trade import our_min_out
from flywheel.errors import GuardRefused
from flywheel.jupiter.client import JupiterClient
from flywheel.jupiter.sell import JupiterSeller
from flywheel.sandbox.jupiter.dex import SOL_MINT
from flywheel.sandbox.runner import Sandbox
from flywheel.solana.guard_checks import SwapEffect
from flywheel.solana.guard_sell import SellGuard, SellLimits, SellReport, check_sell
from flywheel.solana.rpc import RpcClient
from flywheel.solana.tokens import TokenSnapshot
from tests.fee_sources.harness import claim_all
from tests.sandbox.harness import SandboxFactory

EXECUTOR = Pubkey.new_unique()
MINT = Pubkey.new_unique()
OTHER_MINT = Pubkey.new_unique()
ATA = Pubkey.new_unique()
OTHER_ATA = Pubkey.new_unique()
STRANGER = Pubkey.new_unique()
RENT = 2_039_280
SOL = 10_000_000_000
LIMITS = SellLimits(
    in_tokens=1_000, min_sol_in=970_000, network_fee=5_000, priority_fee=1_200, rent_by_size={}
)


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


def sale(
    sol_change: int,
    *,
    tokens_after: int = 0,
    after: Mapping[Pubkey, TokenSnapshot | None] | None = None,
    others_after: Mapping[Pubkey, int] | None = None,
    error: str | None = None,
) -> SwapEffect:
    """A sale of the executor's 1,000 tokens whose SOL changes by `sol_change` (fees paid)."""
    return SwapEffect(
        sol_before=SOL,
        sol_after=SOL + sol_change,
        executor_owner_after=SYSTEM_PROGRAM_ID,
        tokens_before={ATA: holding(MINT, 1_000), OTHER_ATA: holding(OTHER_MINT, 50)},
        tokens_after=after
        if after is not None
        else {ATA: holding(MINT, tokens_after), OTHER_ATA: holding(OTHER_MINT, 50)},
        error=error,
        others_before={STRANGER: 0},
        others_after=others_after if others_after is not None else {STRANGER: 0},
    )


def check(effect: SwapEffect, limits: SellLimits = LIMITS) -> SellReport:
    return check_sell(effect, limits, executor=EXECUTOR, mint=MINT)


def test_an_honest_sale_passes_with_its_figures() -> None:
    report = check(sale(1_000_000 - 6_200))
    assert report.tokens_out == 1_000 and report.sol_in == 1_000_000
    assert report.min_sol_in == 970_000


def test_one_lamport_short_of_our_minimum_is_refused() -> None:
    check(sale(970_000 - 6_200))
    with pytest.raises(GuardRefused, match="short payment"):
        check(sale(970_000 - 6_200 - 1))


def test_one_token_more_than_sold_is_refused() -> None:
    before = sale(0).tokens_before
    more = {**before, ATA: holding(MINT, 2_000)}
    effect = SwapEffect(
        sol_before=SOL,
        sol_after=SOL + 1_000_000,
        executor_owner_after=SYSTEM_PROGRAM_ID,
        tokens_before=more,
        tokens_after={**more, ATA: holding(MINT, 999)},
    )
    with pytest.raises(GuardRefused, match=r"token overdraw.*1001 base units"):
        check(effect)


def test_selling_fewer_tokens_is_allowed() -> None:
    assert check(sale(1_000_000, tokens_after=400)).tokens_out == 600


def test_sol_paid_to_anyone_else_is_refused_even_above_the_minimum() -> None:
    with pytest.raises(GuardRefused, match=f"extra transfer.*{STRANGER} \\+20000"):
        check(sale(2_000_000, others_after={STRANGER: 20_000}))


def test_another_token_going_down_is_refused() -> None:
    after = {ATA: holding(MINT, 0), OTHER_ATA: holding(OTHER_MINT, 49)}
    with pytest.raises(GuardRefused, match="would go down from 50 to 49"):
        check(sale(1_000_000, after=after))


def test_a_delegate_on_the_unsold_tokens_is_refused() -> None:
    after = {ATA: holding(MINT, 0, delegate=STRANGER), OTHER_ATA: holding(OTHER_MINT, 50)}
    with pytest.raises(GuardRefused, match="delegate"):
        check(sale(1_000_000, after=after))


def test_a_simulation_error_is_refused() -> None:
    with pytest.raises(GuardRefused, match="simulation failed"):
        check(sale(1_000_000, error="InstructionError"))


def test_a_new_wrapped_sol_account_counts_its_rent_as_ours() -> None:
    wsol = Pubkey.new_unique()
    after = {
        ATA: holding(MINT, 0),
        OTHER_ATA: holding(OTHER_MINT, 50),
        wsol: holding(OTHER_MINT, 0),
    }
    report = check(sale(970_000 - 6_200 - RENT, after=after))
    assert report.sol_in == 970_000


async def test_a_real_sale_from_the_sandbox_passes_and_a_hostile_one_does_not(
    sandbox_factory: SandboxFactory,
) -> None:
    """The sandbox's Jupiter serves the reverse direction for its pool (Token-2022 mint with a
    transfer fee); the guard passes its honest sale and refuses a short one."""
    box: Sandbox = sandbox_factory(fee_source="token2022")
    box.traders.step(4)
    executor = box.executor.pubkey()
    # The executor holds tokens to sell: the claim's withdrawal, as the epoch does it.
    held = await claim_all(box)
    async with (
        RpcClient(box.rpc_url) as rpc,
        JupiterClient(
            box.jupiter_url, str(box.token_mint), str(executor), max_slippage_bps=300
        ) as jupiter,
    ):
        seller = JupiterSeller(jupiter)
        guard = SellGuard(rpc, executor, box.token_mint, max_slippage_bps=300)
        quote = await seller.quote(held)
        assert quote.in_tokens == held and quote.out_lamports > 0
        tx = VersionedTransaction.from_bytes(await seller.transaction(quote))
        report = await guard.inspect_sell(tx, quote)
        assert report.tokens_out == held
        assert report.sol_in >= our_min_out(quote.out_lamports, 300)
        box.faults.update(sell_short_bps=500)
        short = VersionedTransaction.from_bytes(await seller.transaction(quote))
        with pytest.raises(GuardRefused, match="short payment"):
            await guard.inspect_sell(short, quote)


async def test_a_v2_sale_is_served_from_an_escrow_and_an_unlanded_one_gives_it_back(
    sandbox_factory: SandboxFactory,
) -> None:
    """/swap/v2/build for token -> SOL: the pool prepays the quoted SOL into an escrow; a second
    answer first returns what the first (never sent) left there, so no SOL leaks from the pool."""
    box: Sandbox = sandbox_factory(fee_source="token2022")
    box.traders.step(4)
    executor = box.executor.pubkey()
    held = await claim_all(box)
    sol_before = box.pool.reserves(box.chain).sol
    params = {
        "taker": str(executor),
        "inputMint": str(box.token_mint),
        "outputMint": str(SOL_MINT),
        "amount": str(held),
        "slippageBps": "300",
    }
    async with httpx.AsyncClient(base_url=box.jupiter_url) as http:
        first = (await http.get("/swap/v2/build", params=params)).json()
        assert box.pool.reserves(box.chain).sol == sol_before - int(first["outAmount"])
        second = (await http.get("/swap/v2/build", params=params)).json()
    assert int(second["outAmount"]) == int(first["outAmount"])  # the reserves came back
    assert box.pool.reserves(box.chain).sol == sol_before - int(second["outAmount"])
    assert second["inputMint"] == str(box.token_mint) and second["outputMint"] == str(SOL_MINT)
