"""A create whose answer is lost (X made it, we saw a 5xx): looked up, never made twice.

The proxy below forwards every request to the X Ads sandbox and then, for the first POST to one
endpoint, throws X's answer away and answers 503: the write happened, the client cannot know.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from flywheel.ads.x_ads.engine import XAdsEngine
from flywheel.domain.ads import AdsStatus, CampaignSpec, Targeting

POST_ID = "1790000000000000001"
BUDGET_MICRO = 50_000_000


class LosesOneAnswer(httpx.AsyncBaseTransport):
    def __init__(self, path_suffix: str) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._suffix = path_suffix
        self.lost = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if request.method == "POST" and request.url.path.endswith(self._suffix) and not self.lost:
            await response.aread()
            await response.aclose()
            self.lost += 1
            return httpx.Response(503, json={"errors": [{"message": "lost"}]})
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def _spec() -> CampaignSpec:
    return CampaignSpec(
        budget_usd=Decimal(BUDGET_MICRO) / 10**6,
        budget_micro_usd=BUDGET_MICRO,
        duration_hours=24,
        targeting=Targeting(languages=["en"], keywords=["solana"]),
        post_id=POST_ID,
    )


@pytest.mark.parametrize(
    "endpoint", ["/campaigns", "/line_items", "/targeting_criteria", "/promoted_tweets"]
)
async def test_a_lost_answer_to_a_create_is_looked_up_not_sent_again(
    make_x_ads_client: Any, x_ads_sandbox: Any, endpoint: str
) -> None:
    proxy = LosesOneAnswer(endpoint)
    client = make_x_ads_client(transport=proxy)
    engine = XAdsEngine(client, clock=lambda: datetime(2026, 3, 1, tzinfo=UTC))

    outcome = await engine.run("20260301T000000Z-abc123", _spec())

    store = x_ads_sandbox.state.store
    assert proxy.lost == 1
    assert outcome.status is AdsStatus.LAUNCHED
    assert len(store.campaigns) == 1
    assert len(store.line_items) == 1
    assert sorted((c.targeting_type, c.targeting_value) for c in store.criteria.values()) == [
        ("BROAD_KEYWORD", "solana"),
        ("LANGUAGE", "en"),
    ]
    assert [p.tweet_id for p in store.promoted.values()] == [POST_ID]
    assert store.campaigns[outcome.campaign_id].entity_status == "ACTIVE"
