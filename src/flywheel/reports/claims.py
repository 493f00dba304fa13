"""The report's claims section: fees a claim moved out of a vault, and for fees in the token
(token2022) the sale of their ads share for SOL.

The accounting identity in tokens: tokens in (claimed, plus the ads tokens carried in) =
tokens settled (their buyback share) + tokens sold + tokens carried (the ads share not sold).
"""

from __future__ import annotations

from pydantic import Field

from flywheel.domain.epoch_state import EpochState
from flywheel.reports.common import ReportSection, TransactionSection


class SaleSection(ReportSection):
    """The ads share of the fee tokens sold for SOL (ads.sell), which became ads budget."""

    signature: str | None = Field(None, description="The confirmed sale, null when none")
    transactions: list[TransactionSection] = Field(
        default_factory=list, description="Every sale transaction sent, with its outcome"
    )
    tokens_offered: int = Field(0, description="Ads tokens in the executor before the sale")
    tokens_sold: int = Field(0, description="Tokens out of the executor (the sale's balances)")
    quoted_lamports: int | None = Field(None, description="The quote's outAmount")
    min_lamports: int = Field(
        0, description="Our own minimum: outAmount less min(MAX_SLIPPAGE_BPS, SLIPPAGE_MARGIN_BPS)"
    )
    lamports_received: int = Field(
        0, description="SOL in, net of the sale's fee (its own balances): booked as ads budget"
    )
    notes: list[str] = Field(default_factory=list, description="Why the tokens were not sold")


class ClaimsSection(ReportSection):
    """What the claim step moved out of vaults (FEE_SOURCES other than wallet)."""

    transactions: list[TransactionSection] = Field(
        default_factory=list, description="Every claim transaction sent, with its outcome"
    )
    signatures: list[str] = Field(
        default_factory=list, description="The confirmed claims counted as fees (once each)"
    )
    notes: list[str] = Field(default_factory=list, description="Why a source did not claim")
    lamports_in: int = Field(0, description="SOL the confirmed claims brought in (in fees)")
    tokens_in: int = Field(0, description="Fee tokens the confirmed claims brought in")
    tokens_to_settle: int = Field(
        0, description="Their BUYBACK_PERCENT share, settled with the bought tokens (no swap)"
    )
    tokens_for_ads: int = Field(0, description="Their ADS_PERCENT share, kept in the executor")
    ads_tokens_carried_in: int = Field(0, description="Ads-share tokens earlier epochs kept")
    ads_tokens_carried_out: int = Field(
        0, description="Ads-share tokens still in the executor, not yet sold for SOL"
    )
    sale: SaleSection = Field(default_factory=SaleSection)


def claims_section(state: EpochState) -> ClaimsSection:
    return ClaimsSection(
        transactions=[TransactionSection.from_intent(i) for i in state.claim_intents],
        signatures=list(state.claim_counted),
        notes=list(state.claim_notes),
        lamports_in=state.claim_lamports_in,
        tokens_in=state.fee_tokens_in,
        tokens_to_settle=state.fee_tokens_to_settle,
        tokens_for_ads=state.fee_tokens_for_ads,
        ads_tokens_carried_in=state.ads_tokens_carried_in,
        ads_tokens_carried_out=state.ads_tokens_carried_out,
        sale=SaleSection(
            signature=state.sale_signature,
            transactions=[TransactionSection.from_intent(i) for i in state.sell_intents],
            tokens_offered=state.ads_tokens_for_sale,
            tokens_sold=state.ads_tokens_sold,
            quoted_lamports=None if state.sell_quote is None else state.sell_quote.out_lamports,
            min_lamports=state.sell_min_lamports,
            lamports_received=state.ads_sale_lamports,
            notes=list(state.sell_notes),
        ),
    )
