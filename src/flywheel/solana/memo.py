"""Memos on chain: the anchor transaction that ends every live epoch (see domain/anchor.py).

The anchor is a memo-only transaction signed by the executor: the executor is the memo's one
signer, so nobody else can write an anchor that passes for ours (readers check the signer).
"""

from __future__ import annotations

from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from flywheel.domain.trade import PreparedTx, TxKind
from flywheel.solana.rpc import RpcClient
from flywheel.solana.sender import prepared_tx
from flywheel.solana.settle import signed_transaction

MEMO_PROGRAM_ID = Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")


def memo_instruction(text: str, signer: Pubkey) -> Instruction:
    return Instruction(
        MEMO_PROGRAM_ID, text.encode(), [AccountMeta(signer, is_signer=True, is_writable=False)]
    )


class MemoAnchorer:
    """The `Anchorer` port: a signed memo transaction of the executor, ready to journal."""

    def __init__(self, rpc: RpcClient, keypair: Keypair) -> None:
        self.rpc = rpc
        self.keypair = keypair

    async def prepare_anchor(self, memo: str) -> PreparedTx:
        min_slot = await self.rpc.finalized_slot()
        blockhash, last_valid = await self.rpc.get_latest_blockhash()
        ixs = [memo_instruction(memo, self.keypair.pubkey())]
        tx = signed_transaction(self.keypair, ixs, blockhash)
        return prepared_tx(TxKind.ANCHOR, tx, last_valid, min_slot)
