"""A hostile Jupiter: the swaps an attacker who controls (or impersonates) the API would build.

Each is switched by a field of `Faults` and played by `JupiterSandbox`; the transaction guard
must refuse every one of them before the executor signs (docs/sandbox.md lists them):
- `inflated_compute_budget`: an honest swap whose compute budget pays about 1 SOL of fees;
- `loose_threshold` (+ `short_delivery_bps`): a quote whose minimum is 1, and a swap that
  delivers less than the quote said: a sandwich's profit, taken from the buyback;
- `sol_only_swap`: a "swap" that only sends the SOL to the attacker;
- `overspend_lamports`: the swap pays the pool more than the quoted input;
- `malicious_swap` (in api.py): an extra transfer of the executor's SOL to the attacker;
- `swap_delegate`, `swap_close_authority`: the swap hands the attacker an authority over the
  executor's token account;
- sales (token -> SOL, token2022's ads share): `sell_extra_tokens` takes more tokens than
  the quote's inAmount, `sell_short_bps` pays less SOL than its outAmount, and
  `malicious_swap` and `loose_threshold` play on sales as on buys.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.instruction import Instruction
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction
from spl.token.instructions import approve, set_authority
from spl.token.models import ApproveParams, AuthorityType, SetAuthorityParams

from flywheel.sandbox.chain.runtime import SandboxChain
from flywheel.sandbox.faults import Faults
from flywheel.sandbox.jupiter.dex import Quote, SandboxPool, build_v0

# 1,400,000 units at 714,285,714 micro-lamports: 1,000,000,000 lamports (1 SOL) of priority fee.
INFLATED_COMPUTE_UNIT_LIMIT = 1_400_000
INFLATED_COMPUTE_UNIT_PRICE = 714_285_714
LOOSE_THRESHOLD = 1
U64_MAX = 2**64 - 1
BPS = 10_000


def quote_answer(answer: dict[str, Any], faults: Faults) -> dict[str, Any]:
    """The /quote answer as the hostile API sends it."""
    if faults.loose_threshold:
        return {**answer, "otherAmountThreshold": str(LOOSE_THRESHOLD)}
    return answer


def compute_budget(faults: Faults, limit: int, price: int) -> tuple[int, int]:
    """(compute unit limit, micro-lamports per unit) the swap asks for."""
    if faults.inflated_compute_budget:
        return INFLATED_COMPUTE_UNIT_LIMIT, INFLATED_COMPUTE_UNIT_PRICE
    return limit, price


def swap_quote(quote: Quote, faults: Faults) -> Quote:
    """What the swap really does, against the quote the user handed back."""
    if not quote.is_buy:
        return _sell_quote(quote, faults)
    if faults.overspend_lamports > 0:
        quote = dataclasses.replace(quote, in_amount=quote.in_amount + faults.overspend_lamports)
    if faults.short_delivery_bps > 0:
        short = quote.pool_out * (BPS - faults.short_delivery_bps) // BPS
        quote = dataclasses.replace(quote, pool_out=short, out_amount=short)
    return quote


def _sell_quote(quote: Quote, faults: Faults) -> Quote:
    """A sale that takes more tokens than it was quoted for, or pays less SOL."""
    if faults.sell_extra_tokens > 0:
        quote = dataclasses.replace(quote, in_amount=quote.in_amount + faults.sell_extra_tokens)
    if faults.sell_short_bps > 0:
        short = quote.pool_out * (BPS - min(faults.sell_short_bps, BPS)) // BPS
        quote = dataclasses.replace(quote, pool_out=short, out_amount=short)
    return quote


def authority_grabs(
    faults: Faults, pool: SandboxPool, user: Pubkey, attacker: Pubkey
) -> list[Instruction]:
    """Instructions that hand the attacker power over the user's token account."""
    account = pool.ata(user)
    grabs: list[Instruction] = []
    if faults.swap_delegate:
        grabs.append(
            approve(
                ApproveParams(
                    program_id=pool.token_program,
                    source=account,
                    delegate=attacker,
                    owner=user,
                    amount=U64_MAX,
                )
            )
        )
    if faults.swap_close_authority:
        grabs.append(
            set_authority(
                SetAuthorityParams(
                    program_id=pool.token_program,
                    account=account,
                    authority=AuthorityType.CLOSE_ACCOUNT,
                    current_authority=user,
                    new_authority=attacker,
                )
            )
        )
    return grabs


def sol_only_swap(
    chain: SandboxChain,
    user: Pubkey,
    quote: Quote,
    attacker: Pubkey,
    *,
    compute_unit_limit: int,
    compute_unit_price: int,
) -> tuple[VersionedTransaction, int]:
    """A 'swap' that sends the quoted input to the attacker and buys nothing."""
    instructions = [
        set_compute_unit_limit(compute_unit_limit),
        set_compute_unit_price(compute_unit_price),
        transfer(TransferParams(from_pubkey=user, to_pubkey=attacker, lamports=quote.in_amount)),
    ]
    blockhash, last_valid = chain.latest_blockhash()
    return build_v0(user, instructions, blockhash, []), last_valid
