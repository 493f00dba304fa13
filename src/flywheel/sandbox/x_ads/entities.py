"""The entities the X-Ads-compatible sandbox keeps in memory, and their X-shaped JSON.

Field names and values follow X Ads API v12 (money in micros of the account currency, times as
ISO 8601 UTC, ids as short base-36 strings). Only what a campaign-promoting-a-post flow touches
is modelled; unknown fields are simply absent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Entity:
    id: str
    account_id: str
    created_at: str
    updated_at: str
    deleted: bool = False

    def to_api(self) -> dict[str, Any]:
        raise NotImplementedError

    def common(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account_id": self.account_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "deleted": self.deleted,
        }


@dataclass
class Account(Entity):
    name: str = "Sandbox ads account"
    timezone: str = "UTC"
    currency: str = "USD"

    def to_api(self) -> dict[str, Any]:
        data = self.common()
        data.pop("account_id")
        data.update(
            name=self.name,
            timezone=self.timezone,
            timezone_switch_at=self.created_at,
            approval_status="ACCEPTED",
            business_id=None,
            business_name=None,
            industry_type="TECHNOLOGY",
            salt="sandbox",
        )
        return data


@dataclass
class FundingInstrument(Entity):
    type: str = "CREDIT_LINE"
    currency: str = "USD"
    description: str = "Sandbox credit line"
    able_to_fund: bool = True
    credit_limit_local_micro: int | None = None
    funded_amount_local_micro: int = 0
    entity_status: str = "ACTIVE"

    @property
    def credit_remaining_local_micro(self) -> int | None:
        if self.credit_limit_local_micro is None:
            return None  # a card has no credit line: X reports null
        return max(0, self.credit_limit_local_micro - self.funded_amount_local_micro)

    def to_api(self, *, blocked: bool = False) -> dict[str, Any]:
        able = self.able_to_fund and not blocked
        data = self.common()
        data.update(
            type=self.type,
            currency=self.currency,
            description=self.description,
            able_to_fund=able,
            reasons_not_able_to_fund=[] if able else ["PAYMENT_METHOD_DECLINED"],
            cancelled=False,
            paused=False,
            entity_status=self.entity_status,
            credit_limit_local_micro=self.credit_limit_local_micro,
            credit_remaining_local_micro=self.credit_remaining_local_micro,
            funded_amount_local_micro=self.funded_amount_local_micro,
            io_header=None,
            start_time=self.created_at,
            end_time=None,
        )
        return data


@dataclass
class Campaign(Entity):
    name: str = ""
    funding_instrument_id: str = ""
    daily_budget_amount_local_micro: int = 0
    total_budget_amount_local_micro: int | None = None
    entity_status: str = "ACTIVE"
    currency: str = "USD"

    def to_api(self) -> dict[str, Any]:
        data = self.common()
        data.update(
            name=self.name,
            funding_instrument_id=self.funding_instrument_id,
            daily_budget_amount_local_micro=self.daily_budget_amount_local_micro,
            total_budget_amount_local_micro=self.total_budget_amount_local_micro,
            entity_status=self.entity_status,
            currency=self.currency,
            budget_optimization="CAMPAIGN",
            standard_delivery=True,
            frequency_cap=None,
            duration_in_days=None,
            purchase_order_number=None,
            reasons_not_servable=[] if self.entity_status == "ACTIVE" else ["PAUSED_BY_ADVERTISER"],
            servable=self.entity_status == "ACTIVE" and not self.deleted,
        )
        return data


@dataclass
class LineItem(Entity):
    campaign_id: str = ""
    name: str | None = None
    objective: str = "ENGAGEMENTS"
    placements: list[str] = field(default_factory=list)
    product_type: str = "PROMOTED_TWEETS"
    bid_strategy: str = "AUTO"
    bid_amount_local_micro: int | None = None
    start_time: str | None = None
    end_time: str | None = None
    entity_status: str = "ACTIVE"
    currency: str = "USD"
    # Sandbox bookkeeping, not part of X's line item: what this line item has been billed.
    billed_charge_local_micro: int = 0

    def to_api(self) -> dict[str, Any]:
        data = self.common()
        data.update(
            campaign_id=self.campaign_id,
            name=self.name,
            objective=self.objective,
            placements=list(self.placements),
            product_type=self.product_type,
            bid_strategy=self.bid_strategy,
            bid_amount_local_micro=self.bid_amount_local_micro,
            start_time=self.start_time,
            end_time=self.end_time,
            entity_status=self.entity_status,
            currency=self.currency,
            pay_by="IMPRESSION",
            goal="ENGAGEMENT",
            advertiser_domain=None,
            creative_source="MANUAL",
        )
        return data


@dataclass
class TargetingCriterion(Entity):
    line_item_id: str = ""
    targeting_type: str = ""
    targeting_value: str = ""
    operator_type: str = "EQ"

    def to_api(self) -> dict[str, Any]:
        data = self.common()
        data.pop("account_id")
        data.update(
            line_item_id=self.line_item_id,
            targeting_type=self.targeting_type,
            targeting_value=self.targeting_value,
            operator_type=self.operator_type,
            name=self.targeting_value,
            localized_name=self.targeting_value,
        )
        return data


@dataclass
class PromotedTweet(Entity):
    line_item_id: str = ""
    tweet_id: str = ""
    entity_status: str = "ACTIVE"

    def to_api(self) -> dict[str, Any]:
        data = self.common()
        data.pop("account_id")
        data.update(
            line_item_id=self.line_item_id,
            tweet_id=self.tweet_id,
            entity_status=self.entity_status,
            approval_status="ACCEPTED",
        )
        return data
