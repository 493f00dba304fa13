"""The `Collector` port for a separate fee collector whose keypair the flywheel holds.

The transfer is paid by the executor (fee payer, first signer) and signed by the collector too,
so the collector gives exactly the lamports asked and keeps its rent-exempt minimum.
"""

from __future__ import annotations

from solders.keypair import Keypair
from solders.message import MessageV0
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from flywheel.domain.trade import PreparedTx, TxKind
from flywheel.solana.memo import memo_instruction
from flywheel.solana.rpc import RpcClient
from flywheel.solana.sender import prepared_tx

SYSTEM_ACCOUNT_BYTES = 0


class FeeCollectorWallet:
    def __init__(self, rpc: RpcClient, executor: Keypair, collector: Keypair) -> None:
        self.rpc = rpc
        self.executor = executor
        self.collector = collector

    async def collectable_lamports(self) -> int:
        balance = await self.rpc.get_balance(self.collector.pubkey())
        rent = await self.rpc.get_minimum_balance_for_rent_exemption(SYSTEM_ACCOUNT_BYTES)
        return max(0, balance - rent)

    async def prepare_collect(self, lamports: int, memo: str) -> PreparedTx:
        if lamports <= 0:
            raise ValueError(f"a collect moves a positive amount, not {lamports}")
        min_slot = await self.rpc.finalized_slot()
        blockhash, last_valid = await self.rpc.get_latest_blockhash()
        ix = transfer(
            TransferParams(
                from_pubkey=self.collector.pubkey(),
                to_pubkey=self.executor.pubkey(),
                lamports=lamports,
            )
        )
        ixs = [ix, memo_instruction(memo, self.executor.pubkey())]
        message = MessageV0.try_compile(self.executor.pubkey(), ixs, [], blockhash)
        tx = VersionedTransaction(message, [self.executor, self.collector])
        return prepared_tx(TxKind.COLLECT, tx, last_valid, min_slot)
