"""The `Wallet` of `flywheel simulate`: everything real up to the send, then a simulation.

Quotes, swap transactions, the guard's simulation and signing are the live ones; `land` returns
what the guard's simulation said the swap would do, and nothing is ever sent. Settlement cannot
be simulated (the tokens were never bought), so it is planned: reported, not executed.
"""

from __future__ import annotations

import hashlib

from flywheel.domain.trade import Destination, Landing, LandingStatus, PreparedTx, Quote, TxKind
from flywheel.solana.guard import GuardReport
from flywheel.solana.wallet import SolanaWallet


class SimulatedWallet:
    def __init__(self, live: SolanaWallet) -> None:
        self.live = live
        self._effects: dict[str, GuardReport] = {}
        self._burns: dict[str, int] = {}

    async def balance_lamports(self) -> int:
        return await self.live.balance_lamports()

    async def prepare_swap(
        self, unsigned_tx: bytes, quote: Quote, *, burn_amount: int = 0
    ) -> PreparedTx:
        prepared = await self.live.prepare_swap(unsigned_tx, quote, burn_amount=burn_amount)
        report = self.live.last_guard_report
        assert report is not None, "prepare_swap always runs the guard"
        self._effects[prepared.signature] = report
        self._burns[prepared.signature] = burn_amount
        return prepared

    async def prepare_settle(
        self, token_amount: int, destination: Destination, memo: str | None = None
    ) -> PreparedTx:
        kind = TxKind.BURN if destination is Destination.BURN else TxKind.TRANSFER
        digest = hashlib.sha256(f"{kind.value}:{token_amount}".encode()).hexdigest()[:32]
        return PreparedTx(
            kind=kind,
            signature=f"simulated-{kind.value}-{digest}",
            raw=b"",
            last_valid_block_height=0,
        )

    async def prepare_sol_transfer(
        self, lamports: int, to: str, memo: str | None = None
    ) -> PreparedTx:
        digest = hashlib.sha256(f"ads:{lamports}:{to}".encode()).hexdigest()[:32]
        return PreparedTx(
            kind=TxKind.ADS_TRANSFER,
            signature=f"simulated-ads-{digest}",
            raw=b"",
            last_valid_block_height=0,
        )

    async def land(self, tx: PreparedTx) -> Landing:
        if tx.kind is not TxKind.SWAP:
            return Landing(
                signature=tx.signature,
                status=LandingStatus.CONFIRMED,
                error="simulated: planned, not executed",
            )
        effect = self._effects.get(tx.signature)
        if effect is None:
            # A simulated swap left by an interrupted rehearsal: it was never sent.
            return Landing(signature=tx.signature, status=LandingStatus.EXPIRED)
        return Landing(
            signature=tx.signature,
            status=LandingStatus.CONFIRMED,
            error="simulated: not sent",
            fee_lamports=effect.network_fee + effect.priority_fee,
            sol_delta=-effect.sol_out,
            # As on chain: the executor's net change, after our burn in the same transaction.
            token_delta=effect.token_in - self._burns.get(tx.signature, 0),
        )
