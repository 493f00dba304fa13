"""`ADS_ENGINE_MODE=api`: the campaign is created through the X Ads API, exactly once per epoch.

Idempotent by construction, with no journal of its own: the campaign's name carries the epoch id
and is looked up before anything is created, and every later step first reads what X already
has (line items, targeting criteria, promoted posts, statuses) and only adds what is missing. A
crash between any two API calls therefore resumes where it stopped, and a restart never makes a
second campaign. The campaign stays PAUSED until everything is in place, so X never serves a
half-built one.

`sync_spend` reads spend back (x_ads_spend.py): what X billed each launched campaign becomes
`spent` entries in the ads ledger, only the increase each time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import structlog

from flywheel.ads.x_ads.client import (
    Campaign,
    LineItem,
    PromotedTweet,
    TargetingCriterion,
    XAdsClient,
)
from flywheel.ads.x_ads.spend import sync_spend
from flywheel.domain.ads import AdsOutcome, AdsStatus, CampaignSpec, Targeting
from flywheel.errors import OperationalError, XAdsError, XAdsOutcomeUnknown
from flywheel.persistence.store import SqliteStore

log = structlog.get_logger("flywheel.ads")

T = TypeVar("T")

CAMPAIGN_NAME_PREFIX = "flywheel"
HOURS_PER_DAY = 24

# Which list of ADS_TARGETING becomes which X targeting type.
TARGETING_TYPES: tuple[tuple[str, str], ...] = (
    ("locations", "LOCATION"),
    ("languages", "LANGUAGE"),
    ("interests", "INTEREST"),
    ("keywords", "BROAD_KEYWORD"),
)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def campaign_name(epoch_id: str, prefix: str = CAMPAIGN_NAME_PREFIX) -> str:
    """The campaign's name on X: the key that makes a launch idempotent across restarts."""
    return f"{prefix} {epoch_id}"


def daily_budget_micro(total_micro: int, duration_hours: int) -> int:
    """The total spread over the campaign's days (a part day counts as a day), rounded up so
    the whole budget can be spent; a campaign shorter than a day gets the whole total."""
    days = max(1, -(-duration_hours // HOURS_PER_DAY))
    return -(-total_micro // days)


def targeting_criteria(targeting: Targeting) -> list[tuple[str, str]]:
    """(targeting_type, targeting_value) pairs, in a stable order, duplicates and blanks dropped."""
    pairs: list[tuple[str, str]] = []
    for field, targeting_type in TARGETING_TYPES:
        for value in getattr(targeting, field):
            pair = (targeting_type, value.strip())
            if pair[1] and pair not in pairs:
                pairs.append(pair)
    return pairs


class XAdsEngine:
    """The `AdsEngine` port over `XAdsClient`; the caller owns (and closes) the client."""

    mode = "api"

    def __init__(
        self,
        client: XAdsClient,
        *,
        currency: str = "USD",
        name_prefix: str = CAMPAIGN_NAME_PREFIX,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.client = client
        self.currency = currency
        self.name_prefix = name_prefix
        self.clock = clock

    async def run(self, epoch_id: str, spec: CampaignSpec) -> AdsOutcome:
        if spec.post_id is None:
            raise OperationalError(
                "ADS_POST_ID is not set: api mode promotes an existing post; set it to the number "
                "at the end of the post's URL"
            )
        post_id = spec.post_id
        name = campaign_name(epoch_id, self.name_prefix)
        bound = log.bind(epoch_id=epoch_id, campaign_name=name)
        campaign = await self.client.find_campaign_by_name(name)
        resumed = campaign is not None
        if campaign is None:
            campaign = await self._create_campaign(name, spec)
            bound.info("x_ads.campaign_created", campaign_id=campaign.id)
        else:
            bound.info(
                "x_ads.campaign_found", campaign_id=campaign.id, status=campaign.entity_status
            )
        try:
            line_item = await _looked_up(lambda: self._line_item(campaign, spec, name))
            criteria = await _looked_up(lambda: self._targeting(line_item.id, spec.targeting))
            promoted = await _looked_up(lambda: self._promoted(line_item.id, post_id))
            if line_item.entity_status != "ACTIVE" or campaign.entity_status != "ACTIVE":
                await self.client.activate(campaign.id, line_item.id)
        except XAdsError as exc:
            await self._stand_down(campaign.id, exc)
            raise
        bound.info("x_ads.launched", campaign_id=campaign.id, line_item_id=line_item.id)
        return AdsOutcome(
            status=AdsStatus.LAUNCHED,
            spec=spec,
            campaign_id=campaign.id,
            detail={
                "campaign_name": name,
                "line_item_id": line_item.id,
                "funding_instrument_id": campaign.funding_instrument_id,
                "total_budget_micro": campaign.total_budget_amount_local_micro,
                "daily_budget_micro": campaign.daily_budget_amount_local_micro,
                "currency": campaign.currency or self.currency,
                "targeting_criteria": len(criteria),
                "promoted_tweet_id": promoted.id,
                "start_time": line_item.start_time,
                "end_time": line_item.end_time,
                "resumed": resumed,
            },
        )

    async def _stand_down(self, campaign_id: str, cause: XAdsError) -> None:
        """The launch failed with the campaign made: make sure it does not serve.

        The epoch fails and keeps its budget accrued, so a later epoch launches it again under
        its own name; this one must not spend too. An activation whose answer was lost (X did
        it, we timed out) is the case that matters; otherwise the campaign is still PAUSED.
        """
        try:
            await self.client.pause(campaign_id)
        except XAdsError as exc:
            log.error(
                "x_ads.campaign_not_paused",
                campaign_id=campaign_id,
                error=str(exc),
                cause=str(cause),
                action="pause or delete it in X Ads Manager: its budget is launched again later",
            )
            return
        log.warning(
            "x_ads.campaign_paused_after_failure",
            campaign_id=campaign_id,
            cause=str(cause),
            action="delete it in X Ads Manager; the budget stays accrued for a later epoch",
        )

    async def _create_campaign(self, name: str, spec: CampaignSpec) -> Campaign:
        budget = spec.budget_micro_usd
        instrument = await self.client.funding_instrument_for(budget, self.currency)
        try:
            return await self.client.create_campaign(
                name=name,
                funding_instrument_id=instrument.id,
                total_budget_micro=budget,
                daily_budget_micro=daily_budget_micro(budget, spec.duration_hours),
            )
        except XAdsOutcomeUnknown as exc:
            # Looked up, never re-sent: a second campaign would carry a second total budget.
            found = await self.client.find_campaign_by_name(name)
            if found is None:
                raise
            log.info("x_ads.campaign_found_after_lost_answer", campaign_id=found.id, cause=str(exc))
            return found

    async def _line_item(self, campaign: Campaign, spec: CampaignSpec, name: str) -> LineItem:
        existing = [li for li in await self.client.line_items_of(campaign.id) if not li.deleted]
        if existing:
            return existing[0]
        start = self.clock()
        return await self.client.create_line_item(
            campaign_id=campaign.id,
            start_time=start,
            end_time=start + timedelta(hours=spec.duration_hours),
            objective=spec.objective,
            name=name,
        )

    async def _targeting(self, line_item_id: str, targeting: Targeting) -> list[TargetingCriterion]:
        wanted = targeting_criteria(targeting)
        if not wanted:
            return []
        have = [t for t in await self.client.targeting_of(line_item_id) if not t.deleted]
        present = {(t.targeting_type, t.targeting_value) for t in have}
        missing = [pair for pair in wanted if pair not in present]
        return have + await self.client.create_targeting(line_item_id, missing)

    async def _promoted(self, line_item_id: str, post_id: str) -> PromotedTweet:
        for promoted in await self.client.promoted_of(line_item_id):
            if promoted.tweet_id == post_id and not promoted.deleted:
                return promoted
        return await self.client.promote_post(line_item_id, post_id)

    async def sync_spend(self, ledger: SqliteStore) -> int:
        """Record what X billed the campaigns this engine launched; the micros newly recorded."""
        return await sync_spend(self.client, ledger, now=self.clock())


async def _looked_up(step: Callable[[], Awaitable[T]]) -> T:
    """A find-or-create step whose create got no clear answer runs once more: it looks first,
    so it finds what the lost answer made and creates only what X does not have. (The campaign
    caps the spend, so even a line item X showed late cannot spend twice.)"""
    try:
        return await step()
    except XAdsOutcomeUnknown as exc:
        log.info("x_ads.looking_up_after_lost_answer", cause=str(exc))
        return await step()
