"""`GET /swap/v2/build` for a sale (token -> SOL) over the sandbox pool.

As with a buy, the taker must be the only signer. There is no AMM program to pay SOL out of the
pool, so before answering the pool wraps exactly the quoted SOL into an escrow wrapped-SOL
account of its authority and approves the taker as its delegate for that amount (a sandbox
transaction of its own, sent at once), the way the buy approves the token vault. The answer is
then shaped like Jupiter's for a sale: the taker's wrapped-SOL account created in setup, the
token leg (taker -> the pool's token vault, the Token-2022 transfer fee withheld there) as the
swap instruction, then the SOL leg (escrow -> taker, as delegate), the swap's memo and the
unwrap (closing the taker's wrapped-SOL account) as other instructions.

What an unlanded answer left in the escrow goes back to the pool's SOL vault on the next sale.
Simplification: the SOL leg is prepaid into the escrow, so the memo is not re-priced at
execution (a v2 sale cannot pay less than its escrow; it can only fail to land).
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from solders.account import Account
from solders.compute_budget import set_compute_unit_price
from solders.instruction import Instruction
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.token.state import TokenAccount
from spl.token.constants import TOKEN_PROGRAM_ID, WRAPPED_SOL_MINT
from spl.token.instructions import (
    approve_checked,
    close_account,
    create_idempotent_associated_token_account,
    get_associated_token_address,
    sync_native,
    transfer_checked,
)
from spl.token.models import (
    ApproveCheckedParams,
    CloseAccountParams,
    SyncNativeParams,
    TransferCheckedParams,
)

from flywheel.sandbox.jupiter import hostile
from flywheel.sandbox.jupiter.dex import MEMO_PROGRAM_ID, Quote, SwapMemo, build_v0

if TYPE_CHECKING:
    from flywheel.sandbox.chain.runtime import SandboxChain
    from flywheel.sandbox.jupiter.api import JupiterSandbox

SOL_DECIMALS = 9
DEFAULT_COMPUTE_UNIT_PRICE = 10_000  # as build_v2's ("medium")
_ESCROWS = itertools.count()
AUTHORITY_FEE_FLOAT = 1_000_000_000  # lamports kept in the pool authority for its escrows


def sale_instructions(
    jupiter: JupiterSandbox, taker: Pubkey, quote: Quote
) -> dict[str, list[Instruction]]:
    """The sale's instructions by /build's groups; the escrow is funded and approved first."""
    pool = jupiter.pool
    real = hostile.swap_quote(quote, jupiter.faults)
    escrow = _fund_escrow(jupiter, taker, real.pool_out)
    taker_wsol = get_associated_token_address(taker, WRAPPED_SOL_MINT, TOKEN_PROGRAM_ID)
    setup = create_idempotent_associated_token_account(
        taker, taker, WRAPPED_SOL_MINT, token_program_id=TOKEN_PROGRAM_ID
    )
    token_leg = transfer_checked(
        TransferCheckedParams(
            program_id=pool.token_program,
            source=pool.ata(taker),
            mint=pool.mint,
            dest=pool.token_vault,
            owner=taker,
            amount=real.in_amount,
            decimals=pool.decimals,
        )
    )
    sol_leg = _wsol_transfer(escrow, taker_wsol, taker, real.pool_out)
    memo = SwapMemo(pool=pool.address, in_amount=real.in_amount, min_out=real.min_out)
    unwrap = close_account(
        CloseAccountParams(program_id=TOKEN_PROGRAM_ID, account=taker_wsol, dest=taker, owner=taker)
    )
    extra = jupiter._malicious_transfer(taker) if jupiter.faults.malicious_swap else []
    extra += hostile.authority_grabs(jupiter.faults, pool, taker, jupiter.attacker)
    price = hostile.compute_budget(jupiter.faults, 0, DEFAULT_COMPUTE_UNIT_PRICE)[1]
    memo_ix = Instruction(MEMO_PROGRAM_ID, memo.text().encode(), [])
    return {
        "setup": [setup],
        "swap": [token_leg],
        # After the swap: the SOL leg, the memo, then the unwrap (it must follow the SOL leg).
        "other": [sol_leg, memo_ix, unwrap, *extra],
        "compute": [set_compute_unit_price(price)],
    }


def _wsol_transfer(source: Pubkey, dest: Pubkey, owner: Pubkey, amount: int) -> Instruction:
    return transfer_checked(
        TransferCheckedParams(
            program_id=TOKEN_PROGRAM_ID,
            source=source,
            mint=WRAPPED_SOL_MINT,
            dest=dest,
            owner=owner,
            amount=amount,
            decimals=SOL_DECIMALS,
        )
    )


def _fund_escrow(jupiter: JupiterSandbox, taker: Pubkey, lamports: int) -> Pubkey:
    """Wrap `lamports` of the pool's SOL into its escrow and let `taker` move exactly that."""
    pool, chain = jupiter.pool, jupiter.chain
    authority = pool.authority.pubkey()
    if chain.balance(authority) < AUTHORITY_FEE_FLOAT // 2:
        chain.airdrop(authority, AUTHORITY_FEE_FLOAT)
    _install_native_mint(chain)
    escrow = get_associated_token_address(authority, WRAPPED_SOL_MINT, TOKEN_PROGRAM_ID)
    instructions = [
        create_idempotent_associated_token_account(
            authority, authority, WRAPPED_SOL_MINT, token_program_id=TOKEN_PROGRAM_ID
        ),
        transfer(TransferParams(from_pubkey=pool.address, to_pubkey=escrow, lamports=lamports)),
        sync_native(SyncNativeParams(program_id=TOKEN_PROGRAM_ID, account=escrow)),
        approve_checked(
            ApproveCheckedParams(
                program_id=TOKEN_PROGRAM_ID,
                source=escrow,
                mint=WRAPPED_SOL_MINT,
                delegate=taker,
                owner=authority,
                amount=lamports,
                decimals=SOL_DECIMALS,
            )
        ),
    ]
    blockhash, _ = chain.latest_blockhash()
    instructions.append(_nonce())
    chain.send(build_v0(authority, instructions, blockhash, [pool.authority, pool.sol_vault]))
    return escrow


def _install_native_mint(chain: SandboxChain) -> None:
    """The wrapped-SOL mint, as every cluster has it (LiteSVM starts without it)."""
    if chain.get_account(WRAPPED_SOL_MINT) is not None:
        return
    # Mint layout: no mint authority, supply 0, 9 decimals, initialized, no freeze authority.
    data = bytes(4 + 32) + bytes(8) + bytes([SOL_DECIMALS, 1]) + bytes(4 + 32)
    rent = chain.minimum_balance_for_rent_exemption(len(data))
    chain.set_account(
        WRAPPED_SOL_MINT,
        Account(lamports=rent, data=data, owner=TOKEN_PROGRAM_ID, executable=False),
    )


def _nonce() -> Instruction:
    """A memo of its own, so two equal sandbox transactions in one slot stay distinct."""
    return Instruction(MEMO_PROGRAM_ID, f"sandbox escrow {next(_ESCROWS)}".encode(), [])


def return_escrow(jupiter: JupiterSandbox) -> None:
    """What an earlier, unlanded answer left in the escrow goes back to the SOL vault, before
    the next sale is quoted (so its quote sees the pool's whole reserve)."""
    pool, chain = jupiter.pool, jupiter.chain
    authority = pool.authority.pubkey()
    escrow = get_associated_token_address(authority, WRAPPED_SOL_MINT, TOKEN_PROGRAM_ID)
    account = chain.get_account(escrow)
    if account is None:
        return
    left = TokenAccount.from_bytes(bytes(account.data)[:165]).amount
    if left <= 0:
        return
    instructions = [
        close_account(
            CloseAccountParams(
                program_id=TOKEN_PROGRAM_ID, account=escrow, dest=authority, owner=authority
            )
        ),
        transfer(TransferParams(from_pubkey=authority, to_pubkey=pool.address, lamports=left)),
    ]
    blockhash, _ = chain.latest_blockhash()
    instructions.append(_nonce())
    chain.send(build_v0(authority, instructions, blockhash, [pool.authority]))


def answer_fields(groups: dict[str, list[Instruction]], json_of: Any) -> dict[str, Any]:
    """The /build answer's instruction fields for a sale."""
    return {
        "computeBudgetInstructions": [json_of(ix) for ix in groups["compute"]],
        "setupInstructions": [json_of(ix) for ix in groups["setup"]],
        "swapInstruction": json_of(groups["swap"][0]),
        "otherInstructions": [json_of(ix) for ix in groups["other"]],
        "cleanupInstruction": None,
        "tipInstruction": None,
    }
