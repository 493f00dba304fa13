"""X Ads API v12 client: the steps of a campaign that promotes an existing post.

The flow, as X documents it: pick a funding instrument that can pay, create the campaign and its
line item PAUSED, add targeting criteria and the promoted post, then switch the line item and
the campaign to ACTIVE. The `*_of` readers and `find_campaign_by_name` let a caller resume a
half-done launch instead of creating a second campaign. Money is int micros throughout.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from flywheel.ads.x_ads.models import (
    Account,
    Campaign,
    FundingInstrument,
    LineItem,
    PromotedTweet,
    TargetingCriterion,
)
from flywheel.ads.x_ads.transport import OAuth1Signer, XAdsTransport
from flywheel.config.secrets import redact_url
from flywheel.errors import XAdsFundingError, XAdsRequestError
from flywheel.retry import RetryPolicy

__all__ = [
    "Account",
    "Campaign",
    "FundingInstrument",
    "LineItem",
    "PromotedTweet",
    "TargetingCriterion",
    "XAdsClient",
]

M = TypeVar("M", bound=BaseModel)

API_VERSION = "12"
PAGE_SIZE = 1000  # X's largest page
MAX_PAGES = 50  # 50,000 entities: far beyond one account's 200 active campaigns
STATS_IDS_PER_REQUEST = 20  # X's cap on entity_ids for synchronous stats
STATS_WINDOW = timedelta(days=7)  # X's longest synchronous stats window


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("times sent to X must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _positive_micro(name: str, value: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int of micros, got {value!r}")
    return str(value)


class XAdsClient:
    def __init__(
        self,
        *,
        base_url: str,
        account_id: str,
        consumer_key: str,
        consumer_secret: str,
        access_token: str,
        access_token_secret: str,
        timeout: float = 30,
        max_rate_limit_wait_seconds: float = 900,
        server_error_retries: int = 3,
        retry_backoff_seconds: float = 0.5,
        deadline_seconds: float = 60,
        page_size: int = PAGE_SIZE,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        if not 1 <= page_size <= PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {PAGE_SIZE}")
        self._page_size = page_size
        root = base_url.rstrip("/")
        if root.endswith(f"/{API_VERSION}"):
            root = root[: -len(API_VERSION) - 1]
        self.base_url = root
        self.account_id = account_id
        self._transport = XAdsTransport(
            base_url=root,
            account_id=account_id,
            signer=OAuth1Signer(consumer_key, consumer_secret, access_token, access_token_secret),
            timeout=timeout,
            max_rate_limit_wait_seconds=max_rate_limit_wait_seconds,
            server_error_retries=server_error_retries,
            retry_backoff_seconds=retry_backoff_seconds,
            deadline_seconds=deadline_seconds,
            transport=transport,
            retry=retry,
        )
        self._account = f"/{API_VERSION}/accounts/{account_id}"

    def __repr__(self) -> str:
        shown = redact_url(self.base_url)
        return f"XAdsClient(base_url={shown!r}, account_id={self.account_id!r})"

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def __aenter__(self) -> XAdsClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- plumbing ------------------------------------------------------------------------------

    async def _call(
        self, method: str, path: str, params: dict[str, str] | None = None
    ) -> dict[str, Any]:
        return await self._transport.request(method, path, params)

    def _parse(self, model: type[M], data: Any, method: str, path: str) -> M:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise XAdsRequestError(
                method=method,
                path=path,
                status=200,
                code="INVALID_RESPONSE",
                api_message=f"unexpected {model.__name__}: {exc.error_count()} field error(s)",
            ) from exc

    async def _one(
        self, model: type[M], method: str, path: str, params: dict[str, str] | None = None
    ) -> M:
        body = await self._call(method, path, params)
        return self._parse(model, body.get("data"), method, path)

    async def _list(self, model: type[M], path: str, params: dict[str, str]) -> list[M]:
        """Every page of a list endpoint, following `next_cursor`."""
        found: list[M] = []
        query = {**params, "count": str(self._page_size)}
        for _ in range(MAX_PAGES):
            body = await self._call("GET", path, query)
            data = body.get("data")
            if not isinstance(data, list):
                data = [data] if isinstance(data, dict) else []
            found.extend(self._parse(model, item, "GET", path) for item in data)
            cursor = body.get("next_cursor")
            if not cursor:
                return found
            query["cursor"] = str(cursor)
        raise XAdsRequestError(
            method="GET",
            path=path,
            status=200,
            code="TOO_MANY_PAGES",
            api_message=f"more than {MAX_PAGES} pages; narrow the query",
        )

    # -- account and funding -------------------------------------------------------------------

    async def accounts(self) -> list[Account]:
        return await self._list(Account, f"/{API_VERSION}/accounts", {})

    async def funding_instruments(self) -> list[FundingInstrument]:
        return await self._list(FundingInstrument, f"{self._account}/funding_instruments", {})

    async def funding_instrument_for(
        self, budget_micro: int, currency: str = "USD"
    ) -> FundingInstrument:
        """The first instrument able to fund `budget_micro` in `currency`; else say why not."""
        _positive_micro("budget_micro", budget_micro)
        instruments = [fi for fi in await self.funding_instruments() if not fi.deleted]
        reasons = []
        for fi in instruments:
            label = f"{fi.id} ({fi.type or 'instrument'}, {fi.currency})"
            if not fi.able_to_fund:
                why = ", ".join(fi.reasons_not_able_to_fund) or "no reason given"
                reasons.append(f"{label}: not able to fund ({why})")
            elif fi.currency != currency:
                reasons.append(f"{label}: currency is not {currency}")
            elif fi.credit_remaining_local_micro is not None and (
                fi.credit_remaining_local_micro < budget_micro
            ):
                reasons.append(
                    f"{label}: {fi.credit_remaining_local_micro} micros of credit left, "
                    f"{budget_micro} needed"
                )
            else:
                return fi
        detail = "; ".join(reasons) if reasons else "the account has no funding instrument"
        raise XAdsFundingError(
            f"No funding instrument of ads account {self.account_id} can fund "
            f"{budget_micro} micros {currency}: {detail}. Add or fix one in X Ads Manager.",
            reasons=reasons,
        )

    # -- campaigns -----------------------------------------------------------------------------

    async def find_campaign_by_name(self, name: str) -> Campaign | None:
        """The campaign named exactly `name` (an ACTIVE one first), or None."""
        found = await self._list(
            Campaign, f"{self._account}/campaigns", {"q": name, "with_draft": "true"}
        )
        matches = [c for c in found if c.name == name and not c.deleted]
        matches.sort(key=lambda c: (c.entity_status != "ACTIVE", c.created_at or ""))
        return matches[0] if matches else None

    async def get_campaign(self, campaign_id: str) -> Campaign:
        return await self._one(Campaign, "GET", f"{self._account}/campaigns/{campaign_id}")

    async def create_campaign(
        self,
        *,
        name: str,
        funding_instrument_id: str,
        total_budget_micro: int,
        daily_budget_micro: int | None = None,
    ) -> Campaign:
        """A PAUSED campaign; the daily budget defaults to the whole total budget."""
        total = _positive_micro("total_budget_micro", total_budget_micro)
        daily = _positive_micro("daily_budget_micro", daily_budget_micro or total_budget_micro)
        params = {
            "funding_instrument_id": funding_instrument_id,
            "name": name,
            "daily_budget_amount_local_micro": daily,
            "total_budget_amount_local_micro": total,
            "entity_status": "PAUSED",
        }
        return await self._one(Campaign, "POST", f"{self._account}/campaigns", params)

    async def pause(self, campaign_id: str) -> Campaign:
        return await self._one(
            Campaign,
            "PUT",
            f"{self._account}/campaigns/{campaign_id}",
            {"entity_status": "PAUSED"},
        )

    # -- line items, targeting, promoted posts -------------------------------------------------

    async def create_line_item(
        self,
        *,
        campaign_id: str,
        start_time: datetime,
        end_time: datetime,
        objective: str = "ENGAGEMENTS",
        placements: Sequence[str] = ("ALL_ON_TWITTER",),
        product_type: str = "PROMOTED_TWEETS",
        bid_strategy: str = "AUTO",
        name: str | None = None,
    ) -> LineItem:
        """A PAUSED line item of `campaign_id` running from `start_time` to `end_time`."""
        if end_time <= start_time:
            raise ValueError("end_time must be after start_time")
        params = {
            "campaign_id": campaign_id,
            "objective": objective,
            "placements": ",".join(placements),
            "product_type": product_type,
            "bid_strategy": bid_strategy,
            "start_time": _iso(start_time),
            "end_time": _iso(end_time),
            "entity_status": "PAUSED",
        }
        if name:
            params["name"] = name
        return await self._one(LineItem, "POST", f"{self._account}/line_items", params)

    async def create_targeting(
        self, line_item_id: str, criteria: Iterable[tuple[str, str]]
    ) -> list[TargetingCriterion]:
        """One criterion per (targeting_type, targeting_value), e.g. ("LOCATION", "<id>")."""
        created = []
        for targeting_type, targeting_value in criteria:
            params = {
                "line_item_id": line_item_id,
                "targeting_type": targeting_type,
                "targeting_value": targeting_value,
            }
            created.append(
                await self._one(
                    TargetingCriterion, "POST", f"{self._account}/targeting_criteria", params
                )
            )
        return created

    async def promote_post(self, line_item_id: str, post_id: str) -> PromotedTweet:
        path = f"{self._account}/promoted_tweets"
        body = await self._call("POST", path, {"line_item_id": line_item_id, "tweet_ids": post_id})
        data = body.get("data")
        items = data if isinstance(data, list) else [data]
        promoted = [self._parse(PromotedTweet, item, "POST", path) for item in items]
        for item in promoted:
            if item.tweet_id == post_id:
                return item
        raise XAdsRequestError(
            method="POST",
            path=path,
            status=200,
            code="INVALID_RESPONSE",
            api_message=f"the answer does not list post {post_id}",
        )

    async def activate(self, campaign_id: str, line_item_id: str) -> None:
        """Line item first, then the campaign: it starts spending only once all is in place."""
        active = {"entity_status": "ACTIVE"}
        await self._call("PUT", f"{self._account}/line_items/{line_item_id}", active)
        await self._call("PUT", f"{self._account}/campaigns/{campaign_id}", active)

    async def line_items_of(self, campaign_id: str) -> list[LineItem]:
        path = f"{self._account}/line_items"
        return await self._list(LineItem, path, {"campaign_ids": campaign_id})

    async def targeting_of(self, line_item_id: str) -> list[TargetingCriterion]:
        path = f"{self._account}/targeting_criteria"
        return await self._list(TargetingCriterion, path, {"line_item_ids": line_item_id})

    async def promoted_of(self, line_item_id: str) -> list[PromotedTweet]:
        path = f"{self._account}/promoted_tweets"
        return await self._list(PromotedTweet, path, {"line_item_ids": line_item_id})

    # -- spend ---------------------------------------------------------------------------------

    async def billed_micro(
        self,
        line_item_ids: Sequence[str],
        *,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
    ) -> int:
        """What X has billed these line items, in micros (an estimate for up to 3 days).

        The window defaults to the 7 days (X's longest) ending at the next whole hour.
        """
        if end_time is None:
            now = datetime.now(UTC)
            end_time = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        if start_time is None:
            start_time = end_time - STATS_WINDOW
        path = f"/{API_VERSION}/stats/accounts/{self.account_id}"
        ids = list(dict.fromkeys(line_item_ids))
        total = 0
        for first in range(0, len(ids), STATS_IDS_PER_REQUEST):
            chunk = ids[first : first + STATS_IDS_PER_REQUEST]
            params = {
                "entity": "LINE_ITEM",
                "entity_ids": ",".join(chunk),
                "metric_groups": "BILLING",
                "granularity": "TOTAL",
                "placement": "ALL_ON_TWITTER",
                "start_time": _iso(start_time),
                "end_time": _iso(end_time),
            }
            body = await self._call("GET", path, params)
            total += _sum_billed(body.get("data"))
        return total


def _sum_billed(data: Any) -> int:
    """Add up `billed_charge_local_micro` over entities, segments and time buckets."""
    total = 0
    for entity in data if isinstance(data, list) else []:
        for segment in entity.get("id_data") or [] if isinstance(entity, dict) else []:
            metrics = segment.get("metrics") if isinstance(segment, dict) else None
            values = (metrics or {}).get("billed_charge_local_micro") or []
            total += sum(int(v) for v in values if isinstance(v, int) and not isinstance(v, bool))
    return total
