"""The sandbox's in-memory ad account: entities, X's business rules, and spend that accrues.

Thread-safe: the HTTP server runs in its own thread while tests and the control endpoint read
and change the same store. Every public method takes the lock; rules that X enforces on writes
(funding, budgets, the active-campaign cap) are checked here so every route gets them.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, TypeVar

from flywheel.sandbox.x_ads import spend as x_ads_spend
from flywheel.sandbox.x_ads.entities import (
    Account,
    Campaign,
    Entity,
    FundingInstrument,
    LineItem,
    PromotedTweet,
    TargetingCriterion,
)
from flywheel.sandbox.x_ads.params import (
    BID_STRATEGIES,
    ENTITY_STATUSES,
    MAX_NAME_LENGTH,
    OBJECTIVES,
    PLACEMENTS,
    PRODUCT_TYPES,
    TARGETING_TYPES,
    ApiError,
    Params,
    format_time,
    invalid,
    not_found,
)

E = TypeVar("E", bound=Entity)

MAX_TWEET_IDS = 50
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(number: int) -> str:
    digits = []
    while number:
        number, rest = divmod(number, 36)
        digits.append(_BASE36[rest])
    return "".join(reversed(digits)) or "0"


def funding_error(instrument_id: str) -> ApiError:
    return ApiError(
        400,
        "FUNDING_INSTRUMENT_NOT_ABLE_TO_FUND",
        f"Funding instrument {instrument_id} is not able to fund campaigns "
        "(see reasons_not_able_to_fund)",
        "funding_instrument_id",
    )


class XAdsStore:
    def __init__(
        self,
        *,
        account_id: str,
        currency: str,
        credit_limit_local_micro: int | None,
        funding_blocked: Callable[[], bool],
        max_active_campaigns: Callable[[], int],
    ) -> None:
        self.lock = threading.RLock()
        self._ids = itertools.count(36**4 + 7919)
        self._funding_blocked = funding_blocked
        self._max_active = max_active_campaigns
        self.accounts: dict[str, Account] = {}
        self.instruments: dict[str, FundingInstrument] = {}
        self.campaigns: dict[str, Campaign] = {}
        self.line_items: dict[str, LineItem] = {}
        self.criteria: dict[str, TargetingCriterion] = {}
        self.promoted: dict[str, PromotedTweet] = {}
        now = self._now()
        self.accounts[account_id] = Account(account_id, account_id, now, now, currency=currency)
        self.add_instrument(account_id, currency=currency, credit_limit=credit_limit_local_micro)

    @staticmethod
    def _now() -> str:
        return format_time(datetime.now(UTC))

    def _new_id(self) -> str:
        return _base36(next(self._ids))

    def add_instrument(
        self,
        account_id: str,
        *,
        currency: str = "USD",
        credit_limit: int | None = None,
        able_to_fund: bool = True,
        kind: str = "CREDIT_LINE",
    ) -> FundingInstrument:
        with self.lock:
            now = self._now()
            instrument = FundingInstrument(
                self._new_id(),
                account_id,
                now,
                now,
                type=kind,
                currency=currency,
                able_to_fund=able_to_fund,
                credit_limit_local_micro=credit_limit,
            )
            self.instruments[instrument.id] = instrument
            return instrument

    # -- reads ---------------------------------------------------------------------------------

    def account(self, account_id: str) -> Account:
        with self.lock:
            account = self.accounts.get(account_id)
            if account is None or account.deleted:
                raise not_found("account_id", account_id)
            return account

    def instrument_json(self, account_id: str, with_deleted: bool) -> list[dict[str, Any]]:
        with self.lock:
            blocked = self._funding_blocked()
            return [
                fi.to_api(blocked=blocked)
                for fi in self.instruments.values()
                if fi.account_id == account_id and (with_deleted or not fi.deleted)
            ]

    def find(self, table: dict[str, E], account_id: str, entity_id: str, name: str) -> E:
        with self.lock:
            entity = table.get(entity_id)
            if entity is None or entity.account_id != account_id or entity.deleted:
                raise not_found(name, entity_id)
            return entity

    def select(
        self,
        table: dict[str, E],
        account_id: str,
        params: Params,
        filters: dict[str, Callable[[E], str]],
        name_of: Callable[[E], str | None] | None = None,
    ) -> list[E]:
        """Entities of the account matching X's list filters (`*_ids`, `q`, `with_deleted`)."""
        with_deleted = params.flag("with_deleted")
        wanted = {key: set(params.csv(key)) for key in filters if params.csv(key)}
        query = (params.text("q") or "").lower()
        with self.lock:
            found = []
            for entity in table.values():
                if entity.account_id != account_id or (entity.deleted and not with_deleted):
                    continue
                if any(filters[key](entity) not in ids for key, ids in wanted.items()):
                    continue
                # X's `q` is a case-insensitive prefix match on the name.
                name = (name_of(entity) or "") if name_of is not None else ""
                if query and name_of is not None and not name.lower().startswith(query):
                    continue
                found.append(entity)
            return found

    # -- campaigns -----------------------------------------------------------------------------

    def _check_funding(self, instrument: FundingInstrument, total: int | None, daily: int) -> None:
        if not instrument.able_to_fund or self._funding_blocked():
            raise funding_error(instrument.id)
        remaining = instrument.credit_remaining_local_micro
        needed = total if total is not None else daily
        if remaining is not None and needed > remaining:
            raise ApiError(
                400,
                "BUDGET_EXCEEDS_FUNDING_INSTRUMENT_CREDIT",
                f"Budget of {needed} micros exceeds the {remaining} micros of credit remaining "
                f"on funding instrument {instrument.id}",
                "total_budget_amount_local_micro"
                if total is not None
                else "daily_budget_amount_local_micro",
            )

    def _check_active_cap(self, account_id: str) -> None:
        active = sum(
            1
            for c in self.campaigns.values()
            if c.account_id == account_id and c.entity_status == "ACTIVE" and not c.deleted
        )
        cap = self._max_active()
        if active >= cap:
            raise ApiError(
                400,
                "MAX_ACTIVE_CAMPAIGNS_REACHED",
                f"The account already has {active} active campaigns; the limit is {cap}",
                "entity_status",
            )

    def create_campaign(self, account_id: str, params: Params) -> Campaign:
        instrument_id = params.required_text("funding_instrument_id")
        name = params.required_text("name", max_length=MAX_NAME_LENGTH)
        daily = params.micro("daily_budget_amount_local_micro", required=True)
        assert daily is not None
        total = params.micro("total_budget_amount_local_micro")
        status = params.enum("entity_status", ENTITY_STATUSES, default="ACTIVE")
        if total is not None and daily > total:
            raise invalid(
                "daily_budget_amount_local_micro",
                "The daily budget must not exceed the total budget",
            )
        with self.lock:
            instrument = self.find(
                self.instruments, account_id, instrument_id, "funding_instrument_id"
            )
            self._check_funding(instrument, total, daily)
            if status == "ACTIVE":
                self._check_active_cap(account_id)
            now = self._now()
            campaign = Campaign(
                self._new_id(),
                account_id,
                now,
                now,
                name=name,
                funding_instrument_id=instrument.id,
                daily_budget_amount_local_micro=daily,
                total_budget_amount_local_micro=total,
                entity_status=status,
                currency=instrument.currency,
            )
            self.campaigns[campaign.id] = campaign
            return campaign

    def update_campaign(self, account_id: str, campaign_id: str, params: Params) -> Campaign:
        with self.lock:
            campaign = self.find(self.campaigns, account_id, campaign_id, "campaign_id")
            status = params.enum("entity_status", ENTITY_STATUSES, default=campaign.entity_status)
            name = params.text("name", max_length=MAX_NAME_LENGTH) or campaign.name
            daily = params.micro("daily_budget_amount_local_micro")
            daily = daily or campaign.daily_budget_amount_local_micro
            total = params.micro("total_budget_amount_local_micro")
            total = total or campaign.total_budget_amount_local_micro
            if total is not None and daily > total:
                raise invalid(
                    "daily_budget_amount_local_micro",
                    "The daily budget must not exceed the total budget",
                )
            if status == "ACTIVE":
                instrument = self.instruments[campaign.funding_instrument_id]
                if not instrument.able_to_fund or self._funding_blocked():
                    raise funding_error(instrument.id)
                if campaign.entity_status != "ACTIVE":
                    self._check_active_cap(account_id)
            campaign.entity_status = status
            campaign.name = name
            campaign.daily_budget_amount_local_micro = daily
            campaign.total_budget_amount_local_micro = total
            campaign.updated_at = self._now()
            return campaign

    # -- line items ----------------------------------------------------------------------------

    def create_line_item(self, account_id: str, params: Params) -> LineItem:
        campaign_id = params.required_text("campaign_id")
        objective = params.enum("objective", OBJECTIVES)
        placements = params.enum_list("placements", PLACEMENTS, required=True)
        product_type = params.enum("product_type", PRODUCT_TYPES)
        bid_strategy = params.enum("bid_strategy", BID_STRATEGIES, default="AUTO")
        bid = params.micro("bid_amount_local_micro", required=bid_strategy != "AUTO")
        start = params.time("start_time")
        end = params.time("end_time")
        status = params.enum("entity_status", ENTITY_STATUSES, default="ACTIVE")
        name = params.text("name", max_length=MAX_NAME_LENGTH)
        if start is not None and end is not None and end <= start:
            raise invalid("end_time", "end_time must be after start_time")
        with self.lock:
            campaign = self.find(self.campaigns, account_id, campaign_id, "campaign_id")
            now = self._now()
            line_item = LineItem(
                self._new_id(),
                account_id,
                now,
                now,
                campaign_id=campaign.id,
                name=name,
                objective=objective,
                placements=placements,
                product_type=product_type,
                bid_strategy=bid_strategy,
                bid_amount_local_micro=bid,
                start_time=format_time(start) if start else None,
                end_time=format_time(end) if end else None,
                entity_status=status,
                currency=campaign.currency,
            )
            self.line_items[line_item.id] = line_item
            return line_item

    def update_line_item(self, account_id: str, line_item_id: str, params: Params) -> LineItem:
        with self.lock:
            item = self.find(self.line_items, account_id, line_item_id, "line_item_id")
            item.entity_status = params.enum(
                "entity_status", ENTITY_STATUSES, default=item.entity_status
            )
            item.name = params.text("name", max_length=MAX_NAME_LENGTH) or item.name
            end = params.time("end_time")
            if end is not None:
                item.end_time = format_time(end)
            item.updated_at = self._now()
            return item

    # -- targeting and promoted posts ----------------------------------------------------------

    def create_criterion(self, account_id: str, params: Params) -> TargetingCriterion:
        line_item_id = params.required_text("line_item_id")
        targeting_type = params.enum("targeting_type", TARGETING_TYPES)
        value = params.required_text("targeting_value")
        operator = params.enum("operator_type", ("EQ", "NE", "GTE", "LT"), default="EQ")
        with self.lock:
            item = self.find(self.line_items, account_id, line_item_id, "line_item_id")
            now = self._now()
            criterion = TargetingCriterion(
                self._new_id(),
                account_id,
                now,
                now,
                line_item_id=item.id,
                targeting_type=targeting_type,
                targeting_value=value,
                operator_type=operator,
            )
            self.criteria[criterion.id] = criterion
            return criterion

    def create_promoted(self, account_id: str, params: Params) -> list[PromotedTweet]:
        line_item_id = params.required_text("line_item_id")
        tweet_ids = params.csv("tweet_ids", required=True, max_items=MAX_TWEET_IDS)
        for tweet_id in tweet_ids:
            if not tweet_id.isdigit():
                raise invalid("tweet_ids", f"Post ids are numeric; got {tweet_id!r}")
        with self.lock:
            item = self.find(self.line_items, account_id, line_item_id, "line_item_id")
            created = []
            for tweet_id in tweet_ids:
                now = self._now()
                promoted = PromotedTweet(
                    self._new_id(), account_id, now, now, line_item_id=item.id, tweet_id=tweet_id
                )
                self.promoted[promoted.id] = promoted
                created.append(promoted)
            return created

    def delete(self, table: dict[str, E], account_id: str, entity_id: str, name: str) -> E:
        with self.lock:
            entity = self.find(table, account_id, entity_id, name)
            entity.deleted = True
            entity.updated_at = self._now()
            return entity

    # -- spend (rules in x_ads_spend) ----------------------------------------------------------

    def accrue(self, micro_per_line_item: int) -> None:
        x_ads_spend.accrue(self, micro_per_line_item)

    def add_spend(self, line_item_id: str, micro: int) -> int:
        """Test hook: bill a line item directly (still capped by budget and credit)."""
        return x_ads_spend.add_spend(self, line_item_id, micro)

    def billed(self, account_id: str, entity: str, ids: list[str]) -> dict[str, int]:
        return x_ads_spend.billed(self, account_id, entity, ids)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            blocked = self._funding_blocked()
            return {
                "accounts": [asdict(a) for a in self.accounts.values()],
                "funding_instruments": [
                    fi.to_api(blocked=blocked) for fi in self.instruments.values()
                ],
                "campaigns": [asdict(c) for c in self.campaigns.values()],
                "line_items": [asdict(li) for li in self.line_items.values()],
                "targeting_criteria": [asdict(t) for t in self.criteria.values()],
                "promoted_tweets": [asdict(p) for p in self.promoted.values()],
            }
