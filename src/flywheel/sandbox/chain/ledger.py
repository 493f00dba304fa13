"""The sandbox's transaction history: records, and an address index paged without scanning."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Literal

from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from solders.transaction_status import TransactionErrorType

TxVersion = Literal["legacy"] | int


@dataclass(frozen=True)
class TokenBalance:
    """One token account's balance before or after a transaction (the RPC's token balance)."""

    account_index: int
    account: Pubkey
    mint: Pubkey
    owner: Pubkey
    program_id: Pubkey
    amount: int
    decimals: int


@dataclass(frozen=True)
class TxRecord:
    """A transaction that landed (succeeded or failed and paid its fee)."""

    seq: int
    signature: Signature
    slot: int
    block_time: int
    version: TxVersion
    tx: VersionedTransaction
    account_keys: list[Pubkey]  # static keys, then loaded writable, then loaded readonly
    loaded_writable: list[Pubkey]
    loaded_readonly: list[Pubkey]
    err: TransactionErrorType | None
    fee: int
    logs: list[str]
    pre_balances: list[int]
    post_balances: list[int]
    pre_token_balances: list[TokenBalance]
    post_token_balances: list[TokenBalance]
    compute_units: int
    memo: str | None
    compute_unit_price: int  # micro-lamports per CU, for getRecentPrioritizationFees
    writable_keys: frozenset[Pubkey]

    @property
    def ok(self) -> bool:
        return self.err is None


class Ledger:
    """Append-only history; not thread-safe on its own (SandboxChain.lock guards it)."""

    def __init__(self) -> None:
        self._records: list[TxRecord] = []
        self._by_sig: dict[Signature, TxRecord] = {}
        self._by_address: dict[Pubkey, list[int]] = {}

    def __len__(self) -> int:
        return len(self._records)

    def next_seq(self) -> int:
        return len(self._records)

    def add(self, record: TxRecord) -> None:
        if record.seq != len(self._records):
            raise ValueError("records must be added in sequence")
        self._records.append(record)
        self._by_sig[record.signature] = record
        for key in dict.fromkeys(record.account_keys):
            self._by_address.setdefault(key, []).append(record.seq)

    def get(self, signature: Signature) -> TxRecord | None:
        return self._by_sig.get(signature)

    def for_address(
        self,
        address: Pubkey,
        *,
        before: Signature | None = None,
        until: Signature | None = None,
        limit: int = 1000,
    ) -> list[TxRecord]:
        """Newest first; `before` and `until` are exclusive, as in getSignaturesForAddress."""
        seqs = self._by_address.get(address, [])
        hi = len(seqs)
        lo = 0
        if before is not None:
            anchor = self._by_sig.get(before)
            if anchor is None:
                return []
            hi = bisect_left(seqs, anchor.seq)
        if until is not None:
            stop = self._by_sig.get(until)
            if stop is not None:
                lo = bisect_right(seqs, stop.seq)
        start = max(lo, hi - max(limit, 0))
        return [self._records[s] for s in reversed(seqs[start:hi])]

    def since_slot(self, slot: int) -> list[TxRecord]:
        """Records at or after `slot`, oldest first (the tail of history only)."""
        out: list[TxRecord] = []
        for record in reversed(self._records):
            if record.slot < slot:
                break
            out.append(record)
        out.reverse()
        return out

    def lowest_prices(self, first_slot: int, wanted: set[Pubkey]) -> dict[int, int]:
        """Per slot since `first_slot`, the lowest compute-unit price that landed writing any of
        `wanted` (any transaction when empty)."""
        lowest: dict[int, int] = {}
        for record in self.since_slot(first_slot):
            if wanted and not (wanted & record.writable_keys):
                continue
            price = record.compute_unit_price
            lowest[record.slot] = min(price, lowest.get(record.slot, price))
        return lowest
