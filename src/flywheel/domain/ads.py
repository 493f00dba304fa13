"""The ads side of an epoch: a budget, a campaign spec, and what the engine did with it."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

# Shown as a JSON number (the runbook's `"budget_usd": 500`); exact money is budget_micro_usd.
UsdDisplay = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]


class Targeting(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    locations: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)
    interests: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)


class CampaignSpec(BaseModel):
    """What the operator (manual) or the X Ads API (api) turns into a campaign."""

    model_config = ConfigDict(frozen=True)

    budget_usd: UsdDisplay = Field(
        description="Budget in USD, whole cents (budget_micro_usd is exact)"
    )
    budget_micro_usd: int
    duration_hours: int
    targeting: Targeting
    post_id: str | None
    objective: str = "ENGAGEMENTS"


def usd_display(micro_usd: int) -> Decimal:
    """Whole cents, rounded down: a displayed budget never exceeds the exact one."""
    return (Decimal(micro_usd) / 1_000_000).quantize(Decimal("0.01"), rounding=ROUND_DOWN)


class AdsStatus(StrEnum):
    SKIPPED = "skipped"  # no ads allocation this epoch
    ACCRUED = "accrued"  # below the minimum: carried in the ads ledger to a later epoch
    PLANNED = "planned"  # dry-run: the spec only
    PENDING_OPERATOR = "pending-operator"  # manual: waiting for a person to create it
    LAUNCHED = "launched"  # api: created and active


class AdsLedgerKind(StrEnum):
    """The kind of an ads ledger entry (the ads_ledger table accepts exactly these)."""

    ACCRUED = "accrued"
    COMMITTED = "committed"
    SPENT = "spent"
    RELEASED = "released"


class AdsOutcome(BaseModel):
    status: AdsStatus
    spec: CampaignSpec | None = None
    campaign_id: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)
