"""The X Ads API v12 entities the flywheel reads, as pydantic models.

Extra fields are kept, not refused: X adds fields over time, and a strict model would break on
the day it does. Money is `int` micros of the account currency ($5.50 = 5_500_000).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class XAdsEntity(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    id: str
    deleted: bool = False
    created_at: str | None = None
    updated_at: str | None = None


class Account(XAdsEntity):
    name: str | None = None
    timezone: str | None = None
    approval_status: str | None = None


class FundingInstrument(XAdsEntity):
    account_id: str | None = None
    type: str | None = None
    currency: str
    able_to_fund: bool
    reasons_not_able_to_fund: list[str] = []
    entity_status: str | None = None
    # None on a credit card: X states no remaining credit for one.
    credit_remaining_local_micro: int | None = None
    credit_limit_local_micro: int | None = None
    funded_amount_local_micro: int | None = None


class Campaign(XAdsEntity):
    name: str
    funding_instrument_id: str
    entity_status: str
    daily_budget_amount_local_micro: int | None = None
    total_budget_amount_local_micro: int | None = None
    currency: str | None = None


class LineItem(XAdsEntity):
    campaign_id: str
    entity_status: str
    objective: str | None = None
    placements: list[str] = []
    product_type: str | None = None
    bid_strategy: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    name: str | None = None


class TargetingCriterion(XAdsEntity):
    line_item_id: str
    targeting_type: str
    targeting_value: str


class PromotedTweet(XAdsEntity):
    line_item_id: str
    tweet_id: str
    entity_status: str | None = None
    approval_status: str | None = None
