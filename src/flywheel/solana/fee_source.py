"""WalletWatcherFeeSource (the runbook's name): fees are SOL inflows to the fee collector.

From a persisted cursor (the newest signature already examined) it pages
`getSignaturesForAddress(until=cursor)` back to the cursor, then reads the new transactions in
JSON-RPC batches and keeps, per signature, the collector's positive SOL delta. Failed
transactions are skipped; a transaction signed by one of the flywheel's own addresses (the
executor, a past executor, the collector, a treasury: `own_addresses`) is the flywheel moving
its own money, never a fee: an inflow it brings is reported as an internal transfer.
The cost of one detection grows with the number of new transactions, never with the history.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import structlog
from solders.pubkey import Pubkey
from solders.rpc.responses import RpcConfirmedTransactionStatusWithSignature
from solders.signature import Signature
from solders.transaction_status import EncodedConfirmedTransactionWithStatusMeta, UiTransaction

from flywheel.domain.fees import FeeBatch, FeeReceipt
from flywheel.solana.rpc import RpcClient

log = structlog.get_logger("flywheel.fees")

FeeStart = Literal["now", "all"]
Progress = Callable[[int, int], None]  # (transactions read, transactions to read)

SIGNATURE_PAGE = 1000  # the RPC maximum for getSignaturesForAddress
TRANSACTION_BATCH = 50
# The cursor a first start with FEE_START=now stores when the collector has no history yet:
# "everything from the beginning of history is new". Without it the cursor would stay None, so
# every later detection would be a first start again and skip every fee that had arrived.
START_OF_HISTORY = "start-of-history"


class WalletWatcherFeeSource:
    def __init__(
        self,
        rpc: RpcClient,
        *,
        fee_collector: Pubkey,
        executor: Pubkey,
        start: FeeStart = "now",
        own_addresses: frozenset[str] = frozenset(),
        page_size: int = SIGNATURE_PAGE,
        batch_size: int = TRANSACTION_BATCH,
        progress: Progress | None = None,
    ) -> None:
        self.rpc = rpc
        self.fee_collector = fee_collector
        self.executor = executor
        self.start = start
        self.own_addresses = own_addresses | {str(executor), str(fee_collector)}
        self.page_size = page_size
        self.batch_size = batch_size
        self.progress = progress

    async def fetch_new(self, cursor: str | None) -> FeeBatch:
        requests_before = self._requests()
        entries = await self._signatures_since(cursor)
        if cursor is None and self.start == "now":
            # First start without backfill: remember where history ends, count nothing before.
            new_cursor = str(entries[0].signature) if entries else START_OF_HISTORY
            log.info("fees.start_now", cursor=new_cursor, skipped=len(entries))
            return FeeBatch(new_cursor=new_cursor, requests=self._requests() - requests_before)
        ordered = list(reversed(entries))  # oldest first
        wanted = [e.signature for e in ordered if e.err is None]
        fetched: dict[str, EncodedConfirmedTransactionWithStatusMeta | None] = {}
        for offset in range(0, len(wanted), self.batch_size):
            chunk = wanted[offset : offset + self.batch_size]
            answers = await self.rpc.get_transactions(chunk)
            fetched.update(zip((str(s) for s in chunk), answers, strict=True))
            if self.progress is not None:
                self.progress(offset + len(chunk), len(wanted))
        receipts: list[FeeReceipt] = []
        internal: list[FeeReceipt] = []
        done = cursor
        for entry in ordered:
            signature = str(entry.signature)
            if entry.err is None:
                tx = fetched[signature]
                if tx is None:
                    # Listed but not yet readable: stop here so the cursor does not pass it;
                    # the next detection starts from the last transaction fully examined.
                    log.warning("fees.transaction_unavailable", signature=signature)
                    break
                found = self._receipt(entry.signature, tx)
                if found is not None:
                    receipt, own = found
                    (internal if own else receipts).append(receipt)
            done = signature
        return FeeBatch(
            receipts=receipts,
            internal=internal,
            new_cursor=done,
            requests=self._requests() - requests_before,
        )

    async def pending_signatures(self, cursor: str | None) -> int:
        """How many transactions touched the collector since `cursor` (for fetch-fees)."""
        return len(await self._signatures_since(cursor))

    async def _signatures_since(
        self, cursor: str | None
    ) -> list[RpcConfirmedTransactionStatusWithSignature]:
        until = None if cursor in (None, START_OF_HISTORY) else Signature.from_string(cursor)
        found: list[RpcConfirmedTransactionStatusWithSignature] = []
        before: Signature | None = None
        while True:
            page = await self.rpc.get_signatures_for_address(
                self.fee_collector, before=before, until=until, limit=self.page_size
            )
            found.extend(page)
            if len(page) < self.page_size:
                return found
            before = page[-1].signature

    def _receipt(
        self, signature: Signature, tx: EncodedConfirmedTransactionWithStatusMeta
    ) -> tuple[FeeReceipt, bool] | None:
        """The collector's inflow in `tx`, and whether one of our own addresses signed it."""
        meta = tx.transaction.meta
        inner = tx.transaction.transaction
        if meta is None or meta.err is not None or not isinstance(inner, UiTransaction):
            return None
        keys = _account_keys(inner, meta.loaded_addresses)
        signers = keys[: _num_signers(inner)]
        collector = str(self.fee_collector)
        if collector not in keys:
            return None
        index = keys.index(collector)
        delta = meta.post_balances[index] - meta.pre_balances[index]
        if delta <= 0:
            return None
        own = [s for s in signers if s in self.own_addresses]
        receipt = FeeReceipt(
            signature=str(signature),
            lamports=delta,
            slot=tx.slot,
            block_time=tx.block_time,
            source=(own or signers or [""])[0],
        )
        return receipt, bool(own)

    def _requests(self) -> int:
        return self.rpc.stats.total()


def _account_keys(inner: UiTransaction, loaded: object) -> list[str]:
    message = inner.message
    keys = [str(k) for k in getattr(message, "account_keys", [])]
    if loaded is not None:
        keys += [str(k) for k in getattr(loaded, "writable", [])]
        keys += [str(k) for k in getattr(loaded, "readonly", [])]
    return keys


def _num_signers(inner: UiTransaction) -> int:
    header = getattr(inner.message, "header", None)
    return int(getattr(header, "num_required_signatures", 0)) if header is not None else 0
