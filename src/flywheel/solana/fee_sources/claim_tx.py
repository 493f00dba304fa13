"""The claim transaction every `FeeClaimer` signs: its instructions, the epoch's state memo
last, our compute budget, and the finalized slot read before signing (the expiry proof's
lower bound: nothing signed after it can have landed earlier)."""

from __future__ import annotations

from solders.instruction import Instruction
from solders.keypair import Keypair

from flywheel.domain.trade import PreparedTx, TxKind
from flywheel.errors import OperationalError
from flywheel.solana.memo import memo_instruction
from flywheel.solana.rpc import RpcClient
from flywheel.solana.sender import prepared_tx
from flywheel.solana.settle import signed_transaction

CLAIM_COMPUTE_UNIT_LIMIT = 200_000


async def signed_claim(
    rpc: RpcClient,
    keypair: Keypair,
    instructions: list[Instruction],
    *,
    memo: str | None,
    compute_unit_price: int | None,
) -> PreparedTx:
    if memo is not None:  # the epoch's state memo, last (docs/state.md)
        instructions = [*instructions, memo_instruction(memo, keypair.pubkey())]
    min_slot = await rpc.finalized_slot()
    blockhash, last_valid = await rpc.get_latest_blockhash()
    tx = signed_transaction(
        keypair,
        instructions,
        blockhash,
        compute_unit_price=compute_unit_price,
        compute_unit_limit=CLAIM_COMPUTE_UNIT_LIMIT,
    )
    if not tx.signatures:
        raise OperationalError("the claim transaction could not be signed")
    return prepared_tx(TxKind.CLAIM, tx, last_valid, min_slot)
