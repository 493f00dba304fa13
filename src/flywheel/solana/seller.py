"""`GuardedSeller`: the `TokenSeller` port on the chain, for token2022's ads share.

The DEX builds the sale (token -> SOL); `SellGuard` simulates it and checks its effect on the
executor against our limits; only then is it signed. The keypair is never shown.
"""

from __future__ import annotations

from typing import Protocol

from solders.keypair import Keypair
from solders.transaction import VersionedTransaction

from flywheel.domain.sale import SellQuote
from flywheel.domain.trade import PreparedTx, TxKind
from flywheel.errors import GuardRefused
from flywheel.solana.guard_sell import SellGuard, SellReport
from flywheel.solana.rpc import RpcClient
from flywheel.solana.sender import prepared_tx, sign_versioned
from flywheel.solana.wallet import UNKNOWN_BLOCKHASH_MARGIN


class SaleBuilder(Protocol):
    """Quotes and builds token -> SOL swaps (`flywheel.jupiter.sell.JupiterSeller`)."""

    async def quote(self, in_tokens: int) -> SellQuote: ...

    async def transaction(self, quote: SellQuote, memo: str | None = None) -> bytes: ...


class GuardedSeller:
    def __init__(
        self, rpc: RpcClient, keypair: Keypair, builder: SaleBuilder, guard: SellGuard
    ) -> None:
        self._rpc = rpc
        self.__keypair = keypair
        self.builder = builder
        self.guard = guard
        self.last_report: SellReport | None = None

    def __repr__(self) -> str:
        return f"GuardedSeller(executor={self.__keypair.pubkey()}, builder={self.builder!r})"

    async def quote_sell(self, in_tokens: int) -> SellQuote:
        return await self.builder.quote(in_tokens)

    async def prepare_sell(
        self, quote: SellQuote, memo: str | None = None
    ) -> tuple[PreparedTx, int]:
        unsigned = await self.builder.transaction(quote, memo)
        try:
            tx = VersionedTransaction.from_bytes(unsigned)
        except Exception:
            raise GuardRefused("the sale is not a valid versioned transaction") from None
        report = await self.guard.inspect_sell(tx, quote)
        self.last_report = report
        # Read before signing: no transaction signed after it can land in it or earlier.
        min_slot = await self._rpc.finalized_slot()
        signed = sign_versioned(tx, self.__keypair)
        blockhash, last_valid = await self._rpc.get_latest_blockhash()
        if signed.message.recent_blockhash != blockhash:
            # The API's node may be ahead of ours: expiry must never be declared early.
            last_valid += UNKNOWN_BLOCKHASH_MARGIN
        sol_change = report.sol_in - report.network_fee - report.priority_fee
        return prepared_tx(TxKind.SELL, signed, last_valid, min_slot), sol_change
