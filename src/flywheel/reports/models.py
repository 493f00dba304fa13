"""The epoch report: what an operator reads with `jq` after an epoch.

These models are the files' contract. `docs/report-schema.json` is generated from them
(`python -m flywheel.reports.schema`) and `docs/reports.md` explains them. Bump `SCHEMA_VERSION`
only for a breaking change (a field removed, renamed or retyped); adding a field does not bump it,
so readers must ignore fields they do not know.

Money is int (lamports, token base units, micro-USD); prices are decimal strings (JSON numbers).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field, computed_field, model_validator

from flywheel import __version__
from flywheel.domain.ads import AdsStatus, Targeting
from flywheel.domain.epoch_state import (
    EpochMode,
    EpochState,
    EpochStatus,
    final_status,
)
from flywheel.domain.money import MICRO_USD_PER_USD
from flywheel.reports.buyback import SettlementSection, SliceSection, settlement, slice_sections
from flywheel.reports.claims import ClaimsSection, claims_section
from flywheel.reports.common import (
    SCHEMA_VERSION,
    DecimalText,
    ReportSection,
    TransactionSection,
    UtcDatetime,
    realized_price,
    slippage_bps,
)
from flywheel.reports.fees import FeesSection, fees_section

# ---------------------------------------------------------------------------------------------
# Epoch report


class AllocationSection(ReportSection):
    """How the allocate step split the input, before anything was spent."""

    sol_usd_price: DecimalText | None = Field(description="USD per SOL used for the cap")
    executor_balance_lamports: int | None
    buyback_lamports: int = Field(description="Planned for the buyback")
    ads_lamports: int = Field(description="Planned for ads")
    carried_lamports: int = Field(description="Planned to carry to the next epoch")
    note: str = Field(description="Why spending was limited; empty when it was not")


class QuoteSection(ReportSection):
    in_amount: int = Field(description="Lamports in")
    out_amount: int = Field(description="Token base units expected")
    other_amount_threshold: int = Field(description="The least the swap may deliver")
    price_impact_bps: int
    slippage_bps: int
    raw: dict[str, Any] = Field(description="The DEX API's answer, unchanged")


class BuybackSection(ReportSection):
    quote: QuoteSection | None = Field(description="The quote the swap used; null if none")
    quote_attempts: int
    price_impact_limited: bool = Field(
        description="True when the amount was reduced to respect the price-impact limit"
    )
    transactions: list[TransactionSection] = Field(
        description="Every transaction the buyback sent (swaps, then the settlement)"
    )
    spent_lamports: int
    tokens_bought: int
    realized_price_lamports_per_token: DecimalText | None = Field(
        description="Lamports per token base unit actually paid; null when nothing was bought"
    )
    slippage_vs_quote_bps: int | None = Field(
        description="How far tokens bought fell short of the quote's out_amount (negative: "
        "better than quoted); null without a quote or a fill"
    )
    settlement: SettlementSection | None
    tokens_carried_in: int = Field(
        0, description="Tokens earlier epochs bought but could not settle, settled with these"
    )
    tokens_carried_out: int = Field(
        0, description="Tokens left in the executor for the next epoch to settle"
    )
    slices: list[SliceSection] = Field(
        default_factory=list,
        description="A sliced buyback's slices (BUYBACK_SLICES > 1), in order; spent_lamports "
        "and tokens_bought are their sums. Empty for a one-shot buyback",
    )

    @model_validator(mode="after")
    def _slices_sum(self) -> BuybackSection:
        spent, bought = (
            sum(s.lamports_in for s in self.slices),
            sum(s.tokens_out for s in self.slices),
        )
        if self.slices and (spent, bought) != (self.spent_lamports, self.tokens_bought):
            raise ValueError(
                f"slices do not add up: {spent} lamports in, {bought} tokens out; the buyback "
                f"says {self.spent_lamports} and {self.tokens_bought}"
            )
        return self


class AdsSection(ReportSection):
    """The ads outcome, with the campaign spec flattened so `jq '.execution.ads'` shows it."""

    status: AdsStatus
    budget_micro_usd: int = Field(description="Exact budget in micro-USD (0 when skipped)")
    reserved_lamports: int = Field(description="Lamports reserved for this budget")
    duration_hours: int | None
    targeting: Targeting | None
    post_id: str | None
    objective: str | None
    campaign_id: str | None
    detail: dict[str, Any] = Field(default_factory=dict, description="Engine-specific detail")

    @computed_field(description="Budget in USD for display; budget_micro_usd is exact")  # type: ignore[prop-decorator]
    @property
    def budget_usd(self) -> float:
        # Derived from the exact integer, so the float shown is exactly the micro-USD figure.
        return self.budget_micro_usd / MICRO_USD_PER_USD


class ExecutionSection(ReportSection):
    buyback: BuybackSection
    ads: AdsSection


class AccountingSection(ReportSection):
    """Where every input lamport went: input = buyback spent + ads reserved + carried out."""

    input_lamports: int = Field(ge=0, description="carried_in + detected")
    buyback_spent_lamports: int = Field(ge=0)
    ads_reserved_lamports: int = Field(ge=0)
    # Not bounded below on purpose: an overspend must still be reported, not hidden by a
    # report that refuses to exist.
    carried_out_lamports: int

    @model_validator(mode="after")
    def _identity(self) -> AccountingSection:
        total = self.buyback_spent_lamports + self.ads_reserved_lamports + self.carried_out_lamports
        if self.input_lamports != total:
            raise ValueError(
                f"accounting identity broken: input {self.input_lamports} != spent "
                f"{self.buyback_spent_lamports} + reserved {self.ads_reserved_lamports} "
                f"+ carried out {self.carried_out_lamports}"
            )
        return self


class ReportError(ReportSection):
    step: str
    kind: str = Field(description="The error class")
    message: str


class EpochReport(ReportSection):
    """One epoch: `REPORTS_DIR/epoch-<UTC timestamp>-<id suffix>.json`."""

    schema_version: Literal[1] = SCHEMA_VERSION
    kind: Literal["epoch"] = "epoch"
    flywheel_version: str = __version__
    epoch_id: str
    mode: EpochMode
    status: Literal["succeeded", "failed", "ads-failed"] = Field(
        description="ads-failed: only the ads step failed; the buyback's results stand"
    )
    started_at: UtcDatetime
    finished_at: UtcDatetime
    steps_done: list[str] = Field(default_factory=list)
    fees: FeesSection
    claims: ClaimsSection = Field(default_factory=ClaimsSection)
    allocation: AllocationSection
    execution: ExecutionSection
    accounting: AccountingSection
    errors: list[ReportError] = Field(description="Empty when the epoch succeeded")

    @classmethod
    def from_state(cls, state: EpochState, *, now: datetime | None = None) -> EpochReport:
        """The report of an epoch from its journal.

        A journal still marked running (the report step runs last, before the epoch is closed)
        is reported as its errors make it (`final_status`); `now` stands in for a missing
        finish time.
        """
        known = final_status(state.errors) if state.status is EpochStatus.RUNNING else state.status
        status: Literal["succeeded", "failed", "ads-failed"] = "succeeded"
        if known is EpochStatus.FAILED:
            status = "failed"
        elif known is EpochStatus.ADS_FAILED:
            status = "ads-failed"
        finished_at = state.finished_at or now or datetime.now(UTC)
        return cls(
            epoch_id=state.id,
            mode=state.mode,
            status=status,
            started_at=state.started_at,
            finished_at=finished_at,
            steps_done=list(state.steps_done),
            fees=fees_section(state),
            claims=claims_section(state),
            allocation=_allocation(state),
            execution=ExecutionSection(buyback=_buyback(state), ads=_ads(state)),
            accounting=AccountingSection(
                input_lamports=state.input_lamports,
                buyback_spent_lamports=state.buyback_spent_lamports,
                ads_reserved_lamports=state.ads_reserved_lamports,
                carried_out_lamports=state.carried_out_lamports,
            ),
            errors=[ReportError(step=e.step, kind=e.kind, message=e.message) for e in state.errors],
        )


def _allocation(state: EpochState) -> AllocationSection:
    return AllocationSection(
        sol_usd_price=state.sol_usd_price,
        executor_balance_lamports=state.executor_balance_lamports,
        buyback_lamports=state.buyback_planned_lamports,
        ads_lamports=state.ads_planned_lamports,
        carried_lamports=(
            state.input_lamports - state.buyback_planned_lamports - state.ads_planned_lamports
        ),
        note=state.allocation_note,
    )


def _buyback(state: EpochState) -> BuybackSection:
    quote = state.quote
    transactions = [TransactionSection.from_intent(i) for i in state.swap_intents]
    if state.settle_intent is not None:
        transactions.append(TransactionSection.from_intent(state.settle_intent))
    return BuybackSection(
        quote=None
        if quote is None
        else QuoteSection(
            in_amount=quote.in_lamports,
            out_amount=quote.out_amount,
            other_amount_threshold=quote.min_out_amount,
            price_impact_bps=quote.price_impact_bps,
            slippage_bps=quote.slippage_bps,
            raw=dict(quote.raw),
        ),
        quote_attempts=state.quote_attempts,
        price_impact_limited=state.price_impact_limited,
        transactions=transactions,
        spent_lamports=state.buyback_spent_lamports,
        tokens_bought=state.tokens_bought,
        realized_price_lamports_per_token=realized_price(
            state.buyback_spent_lamports, state.tokens_bought
        ),
        slippage_vs_quote_bps=(
            None if quote is None else slippage_bps(quote.out_amount, state.tokens_bought)
        ),
        settlement=settlement(state),
        slices=slice_sections(state),
        tokens_carried_in=state.tokens_carried_in,
        tokens_carried_out=state.tokens_carried_out,
    )


def _ads(state: EpochState) -> AdsSection:
    outcome = state.ads
    if outcome is None:
        return AdsSection(
            status=AdsStatus.SKIPPED,
            budget_micro_usd=0,
            reserved_lamports=state.ads_reserved_lamports,
            duration_hours=None,
            targeting=None,
            post_id=None,
            objective=None,
            campaign_id=None,
        )
    spec = outcome.spec
    return AdsSection(
        status=outcome.status,
        budget_micro_usd=0 if spec is None else spec.budget_micro_usd,
        reserved_lamports=state.ads_reserved_lamports,
        duration_hours=None if spec is None else spec.duration_hours,
        targeting=None if spec is None else spec.targeting,
        post_id=None if spec is None else spec.post_id,
        objective=None if spec is None else spec.objective,
        campaign_id=outcome.campaign_id,
        detail=dict(outcome.detail),
    )
