"""Jupiter Swap API v2 `GET /swap/v2/build` over the sandbox pool: a quote and raw instructions.

The answer follows jup-ag/docs `openapi-spec/swap/v2/swap.yaml` (`/build`): the quote fields,
`computeBudgetInstructions` (a compute-unit price only), `setupInstructions`, `swapInstruction`,
`cleanupInstruction`, `otherInstructions`, `tipInstruction`, `addressesByLookupTableAddress`
and `blockhashWithMetadata`. The client composes, signs and sends the transaction itself.

The taker must be the only signer, as with Jupiter's program (the pool signs through a PDA). The
sandbox has no AMM program, so the pool's authority approves the taker as delegate of its token
vault for exactly the quoted output before answering (a transaction of its own, sent at once):
the swap instruction is then a transfer the taker signs. The swap's memo still carries the
minimum output, so the execution check fails a stale swap with 6001 as on v1. A sale (token in)
is build_v2_sell's: the pool prepays the SOL into an escrow the taker may draw from.
"""

from __future__ import annotations

import base64
import itertools
import struct
import time
from typing import TYPE_CHECKING, Any

from solders.account import Account
from solders.address_lookup_table_account import ID as ADDRESS_LOOKUP_TABLE_ID
from solders.compute_budget import set_compute_unit_price
from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey
from spl.token.instructions import approve_checked
from spl.token.models import ApproveCheckedParams
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from flywheel.sandbox.chain.runtime import SandboxChain
from flywheel.sandbox.jupiter import build_v2_sell, hostile
from flywheel.sandbox.jupiter.dex import MEMO_PROGRAM_ID, SOL_MINT, DexError, build_v0

if TYPE_CHECKING:
    from flywheel.sandbox.jupiter.api import JupiterSandbox

# The price Jupiter's computeBudgetInstructions carry when nothing else is asked ("medium").
DEFAULT_COMPUTE_UNIT_PRICE = 10_000
AUTHORITY_FEE_FLOAT = 1_000_000_000  # lamports kept in the pool authority for its approvals
DEFAULT_SLIPPAGE_BPS = 50  # the documented default of /build
_LOOKUP_TABLE_TAG = 1  # ProgramState::LookupTable
U64_MAX = 2**64 - 1  # an active table's deactivation slot
_APPROVALS = itertools.count()


def routes(jupiter: JupiterSandbox) -> list[Route]:
    """The v2 routes, registered beside v1's by `JupiterSandbox`."""

    async def build_endpoint(request: Request) -> Response:
        return await _build_endpoint(jupiter, request)

    return [Route("/swap/v2/build", build_endpoint, methods=["GET"])]


async def _build_endpoint(jupiter: JupiterSandbox, request: Request) -> Response:
    if (limited := jupiter._rate_limited()) is not None:
        return limited
    started = time.perf_counter()
    try:
        answer = await run_in_threadpool(build, jupiter, dict(request.query_params))
    except DexError as exc:
        return JSONResponse({"error": str(exc), "errorCode": exc.code}, status_code=400)
    answer["timeTaken"] = round(time.perf_counter() - started, 6)
    return JSONResponse(answer)


def build(jupiter: JupiterSandbox, params: dict[str, str]) -> dict[str, Any]:
    """The /build answer for `params` (the query string), or DexError."""
    from flywheel.sandbox.jupiter.api import _int, _pubkey  # the v1 module's own parsers

    if params.get("swapMode", "ExactIn") != "ExactIn":
        raise DexError("swapMode ExactOut is not supported by /build", "NOT_SUPPORTED")
    taker = _pubkey(params.get("taker"), "taker")
    input_mint = _pubkey(params.get("inputMint"), "inputMint")
    output_mint = _pubkey(params.get("outputMint"), "outputMint")
    amount = _int(params.get("amount"), "amount")
    slippage = _int(params.get("slippageBps", str(DEFAULT_SLIPPAGE_BPS)), "slippageBps")
    pool, chain, faults = jupiter.pool, jupiter.chain, jupiter.faults
    if input_mint != SOL_MINT:
        return _sell(jupiter, taker, input_mint, output_mint, amount, slippage)
    with chain.lock:
        quote = pool.quote(chain, input_mint, output_mint, amount, slippage)
        real = hostile.swap_quote(quote, faults)
        _approve_taker(jupiter, taker, real.pool_out)
        blockhash, last_valid = chain.latest_blockhash()
    answer = hostile.quote_answer(jupiter.quote_json(quote, 0.0), faults)
    swap = pool.swap_instructions(taker, real)
    # The swap's vault leg is signed by the taker as the vault's delegate (see the docstring).
    setup, legs = swap[:1], swap[1:]
    legs = [_as_delegate(ix, pool.authority.pubkey(), taker) for ix in legs]
    extra = jupiter._malicious_transfer(taker) if faults.malicious_swap else []
    extra += hostile.authority_grabs(faults, pool, taker, jupiter.attacker)
    price = DEFAULT_COMPUTE_UNIT_PRICE
    if faults.inflated_compute_budget:
        price = hostile.INFLATED_COMPUTE_UNIT_PRICE
    answer.update(
        {
            "computeBudgetInstructions": [_instruction_json(set_compute_unit_price(price))],
            "setupInstructions": [_instruction_json(ix) for ix in setup],
            # One swap instruction on Jupiter; here the legs and the memo, packed in order.
            "swapInstruction": _instruction_json(legs[0]),
            "otherInstructions": [_instruction_json(ix) for ix in [*legs[1:], *extra]],
            "cleanupInstruction": None,
            "tipInstruction": None,
            "addressesByLookupTableAddress": {
                str(table): [str(a) for a in addresses]
                for table, addresses in jupiter.lookup_tables.items()
            }
            or None,
            "blockhashWithMetadata": {
                "blockhash": list(bytes(blockhash)),
                "lastValidBlockHeight": last_valid,
                "fetchedAt": {"secs_since_epoch": int(time.time()), "nanos_since_epoch": 0},
            },
        }
    )
    if faults.price_move_bps > 0:
        jupiter.move_price(faults.price_move_bps, buy=True)
        if faults.price_move_once:
            faults.update(price_move_bps=0, price_move_once=False)
    return answer


def _sell(
    jupiter: JupiterSandbox,
    taker: Pubkey,
    input_mint: Pubkey,
    output_mint: Pubkey,
    amount: int,
    slippage: int,
) -> dict[str, Any]:
    """A sale (token -> SOL): build_v2_sell's instructions with the quote and blockhash."""
    with jupiter.chain.lock:
        build_v2_sell.return_escrow(jupiter)
        quote = jupiter.pool.quote(jupiter.chain, input_mint, output_mint, amount, slippage)
        groups = build_v2_sell.sale_instructions(jupiter, taker, quote)
        blockhash, last_valid = jupiter.chain.latest_blockhash()
    answer = hostile.quote_answer(jupiter.quote_json(quote, 0.0), jupiter.faults)
    answer.update(build_v2_sell.answer_fields(groups, _instruction_json))
    answer["blockhashWithMetadata"] = {
        "blockhash": list(bytes(blockhash)),
        "lastValidBlockHeight": last_valid,
        "fetchedAt": {"secs_since_epoch": int(time.time()), "nanos_since_epoch": 0},
    }
    return answer


def lookup_table_account(chain: SandboxChain, table: Pubkey, addresses: list[Pubkey]) -> None:
    """Put an active address lookup table holding `addresses` on the chain at `table`."""
    meta = (
        struct.pack("<IQQ", _LOOKUP_TABLE_TAG, U64_MAX, 0)
        + bytes([0, 0])  # last_extended_slot_start_index, no authority (frozen)
        + bytes(32)
        + bytes(2)
    )
    data = meta + b"".join(bytes(a) for a in addresses)
    rent = chain.minimum_balance_for_rent_exemption(len(data))
    chain.set_account(
        table, Account(lamports=rent, data=data, owner=ADDRESS_LOOKUP_TABLE_ID, executable=False)
    )


def _approve_taker(jupiter: JupiterSandbox, taker: Pubkey, amount: int) -> None:
    """The pool's authority lets `taker` move exactly `amount` out of the token vault."""
    pool, chain = jupiter.pool, jupiter.chain
    authority = pool.authority
    if chain.balance(authority.pubkey()) < AUTHORITY_FEE_FLOAT // 2:
        chain.airdrop(authority.pubkey(), AUTHORITY_FEE_FLOAT)
    approval = approve_checked(
        ApproveCheckedParams(
            program_id=pool.token_program,
            source=pool.token_vault,
            mint=pool.mint,
            delegate=taker,
            owner=authority.pubkey(),
            amount=amount,
            decimals=pool.decimals,
        )
    )
    # A memo of its own, so two equal approvals in one slot stay distinct transactions.
    nonce = Instruction(MEMO_PROGRAM_ID, f"sandbox approval {next(_APPROVALS)}".encode(), [])
    blockhash, _ = chain.latest_blockhash()
    chain.send(build_v0(authority.pubkey(), [approval, nonce], blockhash, [authority]))


def _as_delegate(ix: Instruction, authority: Pubkey, taker: Pubkey) -> Instruction:
    """`ix` with the vault authority's signer slot handed to the taker (its delegate)."""
    metas = list(ix.accounts)
    if not any(meta.pubkey == authority for meta in metas):
        return ix
    swapped = [
        AccountMeta(taker, is_signer=True, is_writable=meta.is_writable)
        if meta.pubkey == authority
        else meta
        for meta in metas
    ]
    return Instruction(ix.program_id, bytes(ix.data), swapped)


def _instruction_json(ix: Instruction) -> dict[str, Any]:
    return {
        "programId": str(ix.program_id),
        "accounts": [
            {"pubkey": str(m.pubkey), "isSigner": m.is_signer, "isWritable": m.is_writable}
            for m in ix.accounts
        ],
        "data": base64.b64encode(bytes(ix.data)).decode(),
    }
