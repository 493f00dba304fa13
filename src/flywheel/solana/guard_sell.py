"""The guard of a sale (token -> SOL, the token2022 ads share): what it does to the executor.

The reverse of the buyback's guard, on the same figures (`SwapEffect`, gathered the same way
by simulating the unsigned transaction). Every limit is the operator's or our own, never the
API's answer:
- tokens of the mint out of the executor <= the amount sold, and nothing else of it;
- SOL the sale pays the executor >= our minimum (the quote's outAmount less MAX_SLIPPAGE_BPS,
  computed by us), where what it pays is the executor's SOL change plus the network fee and
  the priority fee (checked against MAX_PRIORITY_FEE_LAMPORTS) plus the rent of any token
  account it leaves the executor;
- no other account the transaction names gains lamports (a sale pays only us), no Jito tip;
- no executor token account of another mint goes down, gains a delegate or a close authority,
  changes owner or closes with a balance; the executor stays a plain system account.
"""

from __future__ import annotations

from dataclasses import dataclass

from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from flywheel.domain.sale import SellQuote
from flywheel.domain.trade import our_min_out
from flywheel.errors import GuardRefused
from flywheel.solana.guard import SwapGuard
from flywheel.solana.guard_checks import (
    SwapEffect,
    SwapLimits,
    _check_executor_survives,
    _gains,
    _Tally,
    check_token_accounts,
)

# A sale may leave the executor one new token account (wrapped SOL, with wrapAndUnwrapSol off).
MAX_NEW_SELL_ACCOUNTS = 1


@dataclass(frozen=True)
class SellLimits:
    in_tokens: int  # the amount the epoch sells (the quote's inAmount, equal to it)
    min_sol_in: int  # our own minimum: outAmount less MAX_SLIPPAGE_BPS, at least 1
    network_fee: int
    priority_fee: int  # what the compute budget pays, already checked against the limit
    rent_by_size: dict[int, int]


@dataclass(frozen=True)
class SellReport:
    """The figures the guard decided on."""

    tokens_out: int
    max_tokens_out: int
    sol_in: int
    min_sol_in: int
    network_fee: int
    priority_fee: int


def _tally(effect: SwapEffect, limits: SellLimits, *, executor: Pubkey, mint: Pubkey) -> _Tally:
    """Each executor token account checked as the buyback's guard checks it (owner, delegate,
    close authority, other mints never down); the mint's net change and new accounts' rent."""
    swap_limits = SwapLimits(
        in_lamports=0,
        min_out=0,
        network_fee=limits.network_fee,
        priority_fee=limits.priority_fee,
        rent_by_size=limits.rent_by_size,
        max_new_accounts=MAX_NEW_SELL_ACCOUNTS,
    )
    return check_token_accounts(effect, swap_limits, executor=executor, mint=mint, what="sale")


def check_sell(
    effect: SwapEffect, limits: SellLimits, *, executor: Pubkey, mint: Pubkey
) -> SellReport:
    """Refuse (GuardRefused) unless the effect on the executor is the sale and nothing else."""
    _check_executor_survives(effect, executor)
    tally = _tally(effect, limits, executor=executor, mint=mint)
    tokens_out = -tally.token_in
    if tokens_out > limits.in_tokens:
        raise GuardRefused(
            f"token overdraw: the sale would take {tokens_out} base units of {mint} from the "
            f"executor, more than the {limits.in_tokens} sold"
        )
    gainers = effect.gainers()
    if gainers:
        raise GuardRefused(
            f"extra transfer: a sale pays only the executor, but {_gains(gainers)} lamports "
            "would go elsewhere"
        )
    delta = effect.sol_after - effect.sol_before
    sol_in = (
        delta
        + limits.network_fee
        + limits.priority_fee
        + tally.new_account_rent
        - tally.lost_lamports
    )
    if sol_in < limits.min_sol_in:
        raise GuardRefused(
            f"short payment: the sale would pay the executor {sol_in} lamports (SOL change "
            f"{delta} + network fee {limits.network_fee} + priority fee {limits.priority_fee} +"
            f" new account rent {tally.new_account_rent}), less than our minimum "
            f"{limits.min_sol_in}"
        )
    return SellReport(
        tokens_out=tokens_out,
        max_tokens_out=limits.in_tokens,
        sol_in=sol_in,
        min_sol_in=limits.min_sol_in,
        network_fee=limits.network_fee,
        priority_fee=limits.priority_fee,
    )


class SellGuard(SwapGuard):
    """Simulates an unsigned sale and checks its effect on the executor (see the module)."""

    async def inspect_sell(self, tx: VersionedTransaction, quote: SellQuote) -> SellReport:
        message, priority_fee = self._check_transaction(tx)
        effect = await self._observe(tx, message)
        limits = SellLimits(
            in_tokens=quote.in_tokens,
            min_sol_in=our_min_out(quote.out_lamports, self.max_slippage_bps),
            network_fee=self._lamports_per_signature * message.header.num_required_signatures,
            priority_fee=priority_fee,
            rent_by_size=await self._rent(list(effect.tokens_after.values())),
        )
        return check_sell(effect, limits, executor=self._executor, mint=self._mint)
