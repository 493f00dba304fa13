"""What the epoch core needs from the world, as Protocols.

The core (domain, epoch) depends only on these; adapters (solana/, jupiter.py, ads/, store.py,
service/) implement them, and `flywheel.compose` picks the adapters from the configuration.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from decimal import Decimal
from typing import Protocol, runtime_checkable

from flywheel.domain.ads import AdsOutcome, CampaignSpec
from flywheel.domain.balances import BalanceReading
from flywheel.domain.epoch_state import EpochMode, EpochState, IntentRecord
from flywheel.domain.fees import FeeBatch, FeeReceipt, ReceiptStatus, RejectedFee
from flywheel.domain.sale import SellQuote
from flywheel.domain.trade import Destination, Landing, PreparedTx, Quote


class FeeSource(Protocol):
    """Finds fee inflows to the fee collector that arrived after `cursor`."""

    async def fetch_new(self, cursor: str | None) -> FeeBatch: ...


class FeeClaimer(Protocol):
    """A fee source whose fees wait in a vault until a claim transaction of ours moves them.

    `unit` is what the claim brings: "lamports" (SOL) or "tokens" (base units of TOKEN_MINT).
    What counts as fees is what the confirmed claim's own balances show arrived in the
    executor, never `claimable()`, which only decides whether a claim is worth its fee.
    """

    name: str
    unit: str

    async def claimable(self) -> int:
        """What a claim would move now, in `unit` (an estimate: it only decides whether)."""
        ...

    async def prepare_claim(self, memo: str | None = None) -> PreparedTx:
        """The signed claim transaction (kind CLAIM), not yet sent, with `memo` (the epoch's
        state memo) as a Memo instruction when given."""
        ...


class PriceFeed(Protocol):
    async def sol_usd(self) -> Decimal | None:
        """USD per SOL, or None when no reliable price is available."""
        ...


class Dex(Protocol):
    """Quotes and builds SOL -> token swaps (Jupiter in production)."""

    async def quote(self, in_lamports: int) -> Quote: ...

    async def swap_transaction(self, quote: Quote) -> bytes:
        """The unsigned transaction the API built for `quote` (serialized VersionedTransaction)."""
        ...


@runtime_checkable
class SwapAndBurnDex(Dex, Protocol):
    """A Dex whose swap can carry our burn in the same transaction (Jupiter v2 /build)."""

    async def swap_and_burn_transaction(
        self, quote: Quote, burn_amount: int, memo: str | None = None
    ) -> bytes:
        """The unsigned swap with a burn of `burn_amount` base units after it (none for 0),
        and `memo` as a Memo instruction signed by the executor when given."""
        ...


class TokenSeller(Protocol):
    """Sells TOKEN_MINT for SOL through the DEX, guarded (token2022's ads share)."""

    async def quote_sell(self, in_tokens: int) -> SellQuote: ...

    async def prepare_sell(
        self, quote: SellQuote, memo: str | None = None
    ) -> tuple[PreparedTx, int]:
        """Build the sale (with our state `memo` where we compose it), guard it (GuardRefused
        unless it sells at most `quote.in_tokens`, pays at least our minimum and moves nothing
        else), sign it: the transaction (kind SELL, not yet sent) and the SOL change the guard's
        simulation showed, fees included.
        """
        ...


class Wallet(Protocol):
    """The executor on the chain: balances, guarded signing, exactly-once landing."""

    async def balance_lamports(self) -> int: ...

    async def prepare_swap(
        self, unsigned_tx: bytes, quote: Quote, *, burn_amount: int = 0
    ) -> PreparedTx:
        """Guard (simulate and check the effect on the executor), then sign.

        Raises `GuardRefused` when the transaction does anything but the swap we asked for
        (and, with `burn_amount`, our burn of exactly that many tokens after it).
        """
        ...

    async def prepare_settle(
        self, token_amount: int, destination: Destination, memo: str | None = None
    ) -> PreparedTx:
        """A signed burn (or transfer to the treasury) of `token_amount` base units."""
        ...

    async def prepare_sol_transfer(
        self, lamports: int, to: str, memo: str | None = None
    ) -> PreparedTx:
        """A signed transfer of `lamports` SOL from the executor to the address `to`."""
        ...

    async def land(self, tx: PreparedTx) -> Landing:
        """Send the same bytes until confirmed, failed on-chain, or provably expired.

        Safe to call again after a crash with the same `tx`: a landed signature is found, not
        re-executed.
        """
        ...


class ExecutorBalances(Protocol):
    """The executor's balances as the chain shows them, for checking the journal."""

    async def executor_balances(self) -> BalanceReading:
        """SOL and the token mint's units (all the executor's accounts of it), at one slot."""


class Anchorer(Protocol):
    """Signs the memo transaction that anchors an epoch's state on chain."""

    async def prepare_anchor(self, memo: str) -> PreparedTx: ...


class Collector(Protocol):
    """A separate fee collector whose key the flywheel holds: moves fees to the executor."""

    async def collectable_lamports(self) -> int:
        """What the collector can give without falling below its rent-exempt minimum."""
        ...

    async def prepare_collect(self, lamports: int, memo: str) -> PreparedTx:
        """A signed transfer of `lamports` from the collector to the executor, with `memo`."""
        ...


class AdsEngine(Protocol):
    mode: str

    async def run(self, epoch_id: str, spec: CampaignSpec) -> AdsOutcome: ...


class Notifier(Protocol):
    async def notify(self, title: str, body: str, *, level: str = "info") -> None: ...


class Store(Protocol):
    """Durable state. Writes inside `transaction()` commit together or not at all."""

    def transaction(self) -> AbstractContextManager[None]: ...

    # fee receipts and the fee source's cursor
    def fee_cursor(self) -> str | None: ...
    def add_receipts(
        self, receipts: list[FeeReceipt], status: ReceiptStatus, new_cursor: str | None
    ) -> int: ...
    def claim_available_receipts(self, epoch_id: str) -> list[FeeReceipt]: ...
    def receipts(self, status: ReceiptStatus | None = None) -> list[FeeReceipt]: ...
    def release_receipt(self, signature: str) -> bool: ...
    def report_rejected_receipts(self, epoch_id: str) -> list[RejectedFee]: ...
    # the flywheel moving its own money into the collector: shown, never a fee
    def add_internal_transfers(self, transfers: list[FeeReceipt], epoch_id: str | None) -> int: ...

    # epochs and their steps
    def unfinished_epoch(self, mode: EpochMode) -> EpochState | None: ...
    def epoch(self, epoch_id: str) -> EpochState | None: ...
    def save_epoch(self, state: EpochState) -> None: ...
    def last_finished_epoch(self, mode: EpochMode) -> EpochState | None: ...
    def carried_lamports(self, mode: EpochMode) -> int: ...
    def record_step(self, epoch_id: str, step: str, status: str, detail: str = "") -> None: ...
    def epochs(self, limit: int = 20) -> Iterator[EpochState]: ...

    # the ads ledger (micro-USD): accrued per epoch, committed to campaigns
    def add_ads_entry(
        self,
        epoch_id: str,
        kind: str,
        micro_usd: int,
        lamports: int,
        campaign_id: str | None = None,
        note: str = "",
    ) -> int: ...
    def ads_available_micro_usd(self) -> int: ...
    def ads_reserve_in_executor_lamports(self) -> int: ...
    def has_ads_entry(self, epoch_id: str, kind: str) -> bool: ...

    # small named values (the balance checkpoint)
    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...

    # transaction intents: the exactly-once journal
    def add_intent(self, epoch_id: str, tx: PreparedTx) -> None: ...
    def update_intent(self, signature: str, record: IntentRecord) -> None: ...

    def intent_records(self, epoch_id: str) -> list[IntentRecord]:
        """Every transaction journaled for the epoch, as its record says it landed."""
        ...

    def pending_intents(self) -> list[tuple[str, PreparedTx]]: ...
    def intent_status(self, signature: str) -> str | None: ...

    # SOL detected at a separate collector and not yet collected into the executor
    def collect_owed_lamports(self) -> int: ...
    def set_collect_owed_lamports(self, lamports: int) -> None: ...


class ReportSink(Protocol):
    def write_epoch(self, state: EpochState) -> str:
        """Write the epoch's report; return where it went. Idempotent for one epoch."""
        ...
