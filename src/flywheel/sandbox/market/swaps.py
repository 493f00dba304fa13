"""What the market's accounts share: trades priced on hypothetical reserves, and real swaps.

Pricing goes through the pool's own arithmetic (`SandboxPool._out`, transfer fee included), so
a plan made here is exactly what the pool's execution check will compute when the trade lands.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from solders.keypair import Keypair
from solders.signature import Signature
from solders.token.state import TokenAccount
from spl.token.instructions import create_idempotent_associated_token_account

from flywheel.sandbox.chain.runtime import SandboxChain
from flywheel.sandbox.jupiter.dex import SOL_MINT, Quote, SandboxPool, build_v0, sign_as
from flywheel.sandbox.jupiter.pool import Reserves, net_of

# Comfortably above what the pool's legs and the memo consume; the market pays no priority.
COMPUTE_UNIT_LIMIT = 200_000
SIGNATURE_FEE = 5_000
SWAP_FEE = 2 * SIGNATURE_FEE  # a pool swap is signed by the trader and by the pool's vault


@dataclass(frozen=True)
class Fill:
    """One trade priced on `before`: what the trader gets and the reserves it leaves."""

    out: int
    after: Reserves


def buy(pool: SandboxPool, before: Reserves, lamports: int) -> Fill:
    """`lamports` of SOL in, tokens out; the whole input (fee included) stays in the vault."""
    user_out, pool_out, _ = pool._out(before, lamports, buy=True)
    return Fill(user_out, Reserves(sol=before.sol + lamports, token=before.token - pool_out))


def sell(pool: SandboxPool, before: Reserves, tokens: int) -> Fill:
    """`tokens` in (less any transfer fee on the way to the vault), SOL out."""
    sol_out, _, _ = pool._out(before, tokens, buy=False)
    arrived = net_of(pool.transfer_fee, tokens)
    return Fill(sol_out, Reserves(sol=before.sol - sol_out, token=before.token + arrived))


def mid(reserves: Reserves) -> Decimal:
    """The pool's marginal price, lamports per token base unit (fee excluded)."""
    return Decimal(reserves.sol) / Decimal(reserves.token) if reserves.token > 0 else Decimal(0)


def token_balance(chain: SandboxChain, pool: SandboxPool, trader: Keypair) -> int:
    account = chain.get_account(pool.ata(trader.pubkey()))
    if account is None:
        return 0
    return TokenAccount.from_bytes(bytes(account.data[:165])).amount


def open_token_account(chain: SandboxChain, pool: SandboxPool, trader: Keypair) -> None:
    """Create the trader's token account up front, so no trade of its pays the rent."""
    ix = create_idempotent_associated_token_account(
        trader.pubkey(), trader.pubkey(), pool.mint, token_program_id=pool.token_program
    )
    blockhash, _ = chain.latest_blockhash()
    chain.send(build_v0(trader.pubkey(), [ix], blockhash, [trader]))


def swap(
    chain: SandboxChain, pool: SandboxPool, trader: Keypair, *, sell_tokens: bool, amount: int
) -> tuple[Quote, Signature]:
    """Swap through the pool like anyone, with no slippage room (the quote is the minimum):
    the caller holds the chain lock, so nothing moves between the quote and the trade."""
    input_mint, output_mint = (pool.mint, SOL_MINT) if sell_tokens else (SOL_MINT, pool.mint)
    quote = pool.quote(chain, input_mint, output_mint, amount, 0)
    tx, _ = pool.build_swap(
        chain,
        trader.pubkey(),
        quote,
        compute_unit_limit=COMPUTE_UNIT_LIMIT,
        compute_unit_price=0,
    )
    return quote, chain.send(sign_as(tx, trader))
