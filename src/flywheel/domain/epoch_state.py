"""An epoch's journal: the steps, in order, and everything each one decided.

The runner saves this after every step, in the same database transaction as the step's other
effects, so a crash at any point resumes from the last completed step with all its decisions.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from flywheel.domain.ads import AdsOutcome
from flywheel.domain.fees import RejectedFee
from flywheel.domain.sale import SellQuote
from flywheel.domain.slices import SliceRecord, SliceStatus
from flywheel.domain.trade import Quote

STEPS: tuple[str, ...] = (
    "reconcile",
    "claim",
    "detect",
    "collect",
    "allocate",
    "buyback.quote",
    "buyback.guard",
    "buyback.send",
    "buyback.settle",
    "ads.sell",
    "ads",
    "anchor",
    "report",
)


class EpochMode(StrEnum):
    LIVE = "live"
    SIMULATE = "simulate"


class EpochStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    # Only the ads step failed (X refused, bad credentials...): the buyback's results stand. It
    # is not a failure for the circuit breaker; the ads failures have their own count and alert.
    ADS_FAILED = "ads-failed"

    @property
    def buyback_succeeded(self) -> bool:
        """Succeeded, or failed only at the ads step: the buyback side did its work."""
        return self in (EpochStatus.SUCCEEDED, EpochStatus.ADS_FAILED)


def final_status(errors: list[EpochError]) -> EpochStatus:
    """What an epoch that ran to its end is: succeeded, failed, or failed only at ads."""
    if not errors:
        return EpochStatus.SUCCEEDED
    if all(e.step == "ads" for e in errors):
        return EpochStatus.ADS_FAILED
    return EpochStatus.FAILED


class IntentStatus(StrEnum):
    """A journaled transaction: pending until it is known to have landed (LandingStatus)."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    EXPIRED = "expired"


class StepStatus(StrEnum):
    """An epoch step's record in the steps table."""

    STARTED = "started"
    DONE = "done"
    INTERRUPTED = "interrupted"  # a transaction of the step is still in flight


class IntentRecord(BaseModel):
    kind: str
    signature: str
    last_valid_block_height: int
    min_slot: int | None = None  # see PreparedTx.min_slot
    # An IntentStatus value; typed str so that a Landing's status (the same strings) fits too.
    status: str = IntentStatus.PENDING
    error: str = ""
    fee_lamports: int = 0
    sol_delta: int = 0
    token_delta: int = 0
    slot: int | None = None  # where it executed (confirmed or failed): the balance check's clock


class EpochError(BaseModel):
    step: str
    kind: str  # the error class, for metrics and the breaker
    message: str


class EpochState(BaseModel):
    id: str
    mode: EpochMode
    started_at: datetime
    finished_at: datetime | None = None
    status: EpochStatus = EpochStatus.RUNNING
    steps_done: list[str] = Field(default_factory=list)

    # claim: fees a claim transaction of ours moved out of a vault (FEE_SOURCES other than wallet)
    claim_intents: list[IntentRecord] = Field(default_factory=list)
    claim_sources: dict[str, str] = Field(default_factory=dict)  # signature -> fee source
    claim_counted: list[str] = Field(default_factory=list)  # signatures already counted
    claim_notes: list[str] = Field(default_factory=list)  # why a source did not claim
    # Fees in the token itself (token2022): the buyback share is settled without a swap, the
    # ads share stays in the executor until ads.sell sells it for SOL (or it carries).
    fee_tokens_in: int = 0
    # SOL the confirmed claims brought (pump): also in fees_in_lamports, shown on its own
    claim_lamports_in: int = 0
    fee_tokens_to_settle: int = 0
    fee_tokens_for_ads: int = 0
    ads_tokens_carried_in: int = 0

    # detect
    carried_in_lamports: int = 0
    fees_in_lamports: int = 0
    receipt_signatures: list[str] = Field(default_factory=list)
    quarantined_signatures: list[str] = Field(default_factory=list)
    # quarantined fees the operator rejected since the last epoch: shown here once, never spent
    rejected_fees: list[RejectedFee] = Field(default_factory=list)
    # SOL our own addresses moved into the collector (a sweep, the collect step): not fees
    internal_signatures: list[str] = Field(default_factory=list)
    internal_lamports: int = 0
    detect_requests: int = 0

    # collect: where the buybacks' SOL comes from (same-wallet | collect | executor)
    fee_funding: str = "same-wallet"
    collect_target_lamports: int | None = None  # this epoch's fees plus any still owed
    collected_lamports: int = 0
    collect_signature: str | None = None

    # allocate
    sol_usd_price: str | None = None  # Decimal as text: JSON has no decimals
    executor_balance_lamports: int | None = None
    ads_reserve_in_executor_lamports: int = 0  # the ads ledger's SOL there: not spendable
    buyback_planned_lamports: int = 0
    ads_planned_lamports: int = 0
    allocation_note: str = ""

    # buyback
    quote: Quote | None = None  # the port's own type: pydantic keeps a dataclass as JSON
    quote_attempts: int = 0
    price_impact_limited: bool = False
    swap_intents: list[IntentRecord] = Field(default_factory=list)
    buyback_spent_lamports: int = 0
    tokens_bought: int = 0
    settle_intent: IntentRecord | None = None
    settle_attempts: int = 0  # settles signed, across processes: the limit holds over crashes
    # Bought by earlier epochs and not yet settled (a burn that failed): settled with this one's.
    tokens_carried_in: int = 0
    tokens_settled: int = 0
    # Swap and burn in one transaction (v2): the burn the last swap intent carries, and what of
    # it landed. The swap's tokens above that minimum are settled with the next transaction.
    swap_burn_planned: int = 0
    tokens_settled_in_swap: int = 0
    destination: str = "burn"
    # Sliced buyback (BUYBACK_SLICES > 1): the schedule, journaled before the first slice;
    # each slice's swaps are also in swap_intents. Empty for a one-shot buyback.
    slices: list[SliceRecord] = Field(default_factory=list)

    # ads.sell: the ads share of the fee tokens sold for SOL, which becomes ads budget
    sell_quote: SellQuote | None = None
    sell_min_lamports: int = 0  # our own minimum for it (outAmount less our slippage room)
    sell_intents: list[IntentRecord] = Field(default_factory=list)
    sale_signature: str | None = None  # the confirmed sale, counted once
    ads_tokens_sold: int = 0  # from the confirmed sale's own token balances
    ads_sale_lamports: int = 0  # SOL it brought, net of its fee (its own balances)
    sell_notes: list[str] = Field(default_factory=list)  # why the tokens were not sold

    # ads
    ads_reserved_lamports: int = 0
    ads_transfer_intent: IntentRecord | None = None
    ads_transfer_attempts: int = 0
    ads: AdsOutcome | None = None

    # anchor: the memo transaction that witnesses this epoch's state on chain
    anchor_signature: str | None = None
    anchor_memo: str | None = None
    # The state memo each transaction of the epoch carries, by signature (docs/state.md), and
    # the one being signed (moved under its signature when the intent is journaled).
    tx_memos: dict[str, str] = Field(default_factory=dict)
    signing_memo: str | None = None

    errors: list[EpochError] = Field(default_factory=list)
    report_path: str | None = None

    @property
    def input_lamports(self) -> int:
        return self.carried_in_lamports + self.fees_in_lamports

    @property
    def carried_out_lamports(self) -> int:
        """Whatever was not spent on the buyback or reserved for ads goes to the next epoch."""
        return self.input_lamports - self.buyback_spent_lamports - self.ads_reserved_lamports

    @property
    def tokens_to_settle(self) -> int:
        return self.tokens_carried_in + self.tokens_bought + self.fee_tokens_to_settle

    @property
    def ads_tokens_carried_out(self) -> int:
        """Fee tokens of the ads share still in the executor, not sold: never settled."""
        return self.ads_tokens_for_sale - self.ads_tokens_sold

    @property
    def ads_tokens_for_sale(self) -> int:
        """The ads share of the fee tokens in the executor: this epoch's and earlier ones'."""
        return self.ads_tokens_carried_in + self.fee_tokens_for_ads

    @property
    def tokens_carried_out(self) -> int:
        """Tokens in the executor still waiting to be burned or sent: the next epoch's job."""
        return self.tokens_to_settle - self.tokens_settled

    @property
    def window_open(self) -> bool:
        """Whether the epoch is inside its buyback window: slices scheduled and not all done."""
        scheduled = any(s.status is SliceStatus.SCHEDULED for s in self.slices)
        return scheduled and self.status is EpochStatus.RUNNING

    @property
    def failed(self) -> bool:
        return bool(self.errors)
