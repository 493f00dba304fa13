"""XAdsEngine in process against the Sandbox's X Ads API, with a clock the test moves: daily
budgets over several days, targeting left out when empty, and spend that becomes final once
X's billing has settled (three days after the campaign ended)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from flywheel.ads.x_ads.client import XAdsClient
from flywheel.ads.x_ads.engine import XAdsEngine, campaign_name, daily_budget_micro
from flywheel.compose import x_ads_client
from flywheel.config.settings import Settings
from flywheel.domain.ads import AdsStatus, CampaignSpec, Targeting
from flywheel.domain.epoch_state import EpochMode, EpochState
from flywheel.errors import XAdsFundingError, XAdsUnavailable
from flywheel.persistence.store import SqliteStore
from flywheel.sandbox.runner import SANDBOX_POST_ID, Sandbox
from tests.ads_e2e.harness import launched

START = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def engine(box: Sandbox, tmp_path: Path) -> AsyncIterator[XAdsEngine]:
    settings = Settings.from_mapping(box.env(tmp_path / "bot"))
    client = x_ads_client(settings)
    try:
        yield XAdsEngine(client, clock=Clock())
    finally:
        await client.aclose()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    with SqliteStore.open(tmp_path / "state.sqlite") as opened:
        yield opened


def spec(budget_micro: int, hours: int, targeting: Targeting | None = None) -> CampaignSpec:
    return CampaignSpec(
        budget_usd=Decimal(budget_micro) / 10**6,
        budget_micro_usd=budget_micro,
        duration_hours=hours,
        targeting=targeting or Targeting(),
        post_id=SANDBOX_POST_ID,
    )


def commit(store: SqliteStore, epoch_id: str, micro: int, campaign_id: str | None) -> None:
    """What the epoch's ads step records once the engine returned."""
    with store.transaction():
        store.save_epoch(EpochState(id=epoch_id, mode=EpochMode.LIVE, started_at=START))
        store.add_ads_entry(epoch_id, "committed", micro, 0, campaign_id, note="api: launched")


@pytest.mark.parametrize(
    ("hours", "total", "daily"),
    [(1, 5_000_000, 5_000_000), (24, 5_000_000, 5_000_000), (25, 5_000_001, 2_500_001)],
)
def test_daily_budget_spreads_the_total_over_whole_days(hours: int, total: int, daily: int) -> None:
    assert daily_budget_micro(total, hours) == daily


async def test_a_three_day_campaign_without_targeting_gets_a_third_a_day_and_no_criteria(
    box: Sandbox, engine: XAdsEngine
) -> None:
    outcome = await engine.run("e-3days", spec(9_000_000, 72))
    assert outcome.status is AdsStatus.LAUNCHED
    found = launched(box, "e-3days")
    assert found.campaign.name == campaign_name("e-3days") == "flywheel e-3days"
    assert found.campaign.total_budget_amount_local_micro == 9_000_000
    assert found.campaign.daily_budget_amount_local_micro == 3_000_000
    assert found.criteria == []
    [item] = found.line_items
    assert (item.start_time, item.end_time) == ("2026-03-01T12:30:00Z", "2026-03-04T12:30:00Z")
    # Run again (a restart after the launch): the same campaign, nothing written.
    writes = len(box.x_ads.request_log)
    again = await engine.run("e-3days", spec(9_000_000, 72))
    assert again.campaign_id == outcome.campaign_id and again.detail["resumed"] is True
    assert all(r.method == "GET" for r in list(box.x_ads.request_log)[writes:])


async def test_credit_below_the_budget_is_refused_before_anything_is_created(
    box: Sandbox, engine: XAdsEngine
) -> None:
    limit = box.x_ads.credit_limit_local_micro
    assert limit is not None
    with pytest.raises(XAdsFundingError, match="micros of credit left"):
        await engine.run("e-big", spec(limit + 1, 24))
    assert not box.x_ads.store.campaigns


async def test_spend_is_recorded_by_increase_and_closed_once_billing_settled(
    box: Sandbox, engine: XAdsEngine, store: SqliteStore
) -> None:
    clock = engine.clock
    assert isinstance(clock, Clock)
    outcome = await engine.run("e-spend", spec(5_000_000, 24))
    commit(store, "e-spend", 5_000_000, outcome.campaign_id)
    [item] = launched(box, "e-spend").line_items

    assert await engine.sync_spend(store) == 0
    box.x_ads.store.add_spend(item.id, 1_200_000)
    clock.now = START + timedelta(hours=30)
    assert await engine.sync_spend(store) == 1_200_000
    assert await engine.sync_spend(store) == 0

    box.x_ads.store.add_spend(item.id, 300_000)
    clock.now = START + timedelta(days=4, hours=1)  # ended a day in, settled three days later
    assert await engine.sync_spend(store) == 300_000
    spent = [e for e in store.ads_entries() if e.kind == "spent"]
    assert [(e.micro_usd, e.note.startswith("final")) for e in spent] == [
        (1_200_000, False),
        (300_000, True),
    ]
    # Final: X is not asked about this campaign again, even if its figure still moved.
    box.x_ads.store.add_spend(item.id, 100_000)
    reads = len(box.x_ads.request_log)
    assert await engine.sync_spend(store) == 0
    assert len(box.x_ads.request_log) == reads
    assert store.ads_balance()["spent"] == 1_500_000


class StatsWindows(httpx.AsyncBaseTransport):
    """The real transport, noting the time window of every stats request."""

    def __init__(self) -> None:
        self.windows: list[tuple[str, str]] = []
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if "/stats/" in request.url.path:
            query = request.url.params
            self.windows.append((query["start_time"], query["end_time"]))
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_a_long_campaign_is_read_in_windows_of_at_most_seven_days(
    box: Sandbox, tmp_path: Path, store: SqliteStore
) -> None:
    recorder = StatsWindows()
    clock = Clock()
    settings = Settings.from_mapping(box.env(tmp_path / "bot"))
    async with x_ads_client(settings, transport=recorder) as client:
        engine = XAdsEngine(client, clock=clock)
        outcome = await engine.run("e-long", spec(50_000_000, 20 * 24))
        commit(store, "e-long", 50_000_000, outcome.campaign_id)
        clock.now = START + timedelta(days=15)
        await engine.sync_spend(store)
    # X answers at most 7 days synchronously: contiguous whole-hour windows up to the next hour.
    assert recorder.windows == [
        ("2026-03-01T12:00:00Z", "2026-03-08T12:00:00Z"),
        ("2026-03-08T12:00:00Z", "2026-03-15T12:00:00Z"),
        ("2026-03-15T12:00:00Z", "2026-03-16T13:00:00Z"),
    ]


class LostActivation(httpx.AsyncBaseTransport):
    """X activates the campaign, but its answer never arrives (a read timeout, every time)."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        activating = request.url.params.get("entity_status") == "ACTIVE"
        if request.method == "PUT" and "/campaigns/" in request.url.path and activating:
            await response.aclose()
            raise httpx.ReadTimeout("no answer", request=request)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_a_launch_that_fails_after_the_campaign_exists_leaves_it_paused(
    box: Sandbox,
) -> None:
    credentials = box.x_ads_credentials
    async with XAdsClient(
        base_url=box.x_ads_url,
        account_id=box.x_ads.account_id,
        consumer_key=credentials.consumer_key,
        consumer_secret=credentials.consumer_secret,
        access_token=credentials.access_token,
        access_token_secret=credentials.access_token_secret,
        retry_backoff_seconds=0.01,
        transport=LostActivation(),
    ) as client:
        with pytest.raises(XAdsUnavailable, match="PUT"):
            await XAdsEngine(client, clock=Clock()).run("e-lost", spec(5_000_000, 24))
    found = launched(box, "e-lost")
    # X did activate it; the failed epoch keeps its budget for a later campaign, so this one
    # must not serve as well.
    assert found.campaign.entity_status == "PAUSED"
    puts = [r.status for r in box.x_ads.request_log if r.method == "PUT"]
    assert puts[-1] == 200 and len(puts) >= 3
