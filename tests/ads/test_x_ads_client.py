"""XAdsClient against the X-Ads-compatible sandbox served over loopback HTTP."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from structlog.testing import capture_logs

from flywheel.ads.x_ads.client import XAdsClient
from flywheel.errors import (
    OperationalError,
    TemporaryError,
    XAdsAuthError,
    XAdsError,
    XAdsFundingError,
    XAdsOutcomeUnknown,
    XAdsRateLimited,
    XAdsRequestError,
    XAdsUnavailable,
)
from flywheel.sandbox.x_ads.app import XAdsSandboxState

BUDGET_MICRO = 500_000_000  # $500
POST_ID = "1790000000000000001"
NAME = "flywheel epoch 2026-01-01T00:00Z #1 & ads/40% (UTC+0)"
TARGETING = [("LOCATION", "96683cc9126741d1"), ("LANGUAGE", "en"), ("BROAD_KEYWORD", "solana")]


async def launch(client: XAdsClient, name: str = NAME) -> tuple[str, str]:
    """The whole flow the ads engine runs; returns (campaign_id, line_item_id)."""
    instrument = await client.funding_instrument_for(BUDGET_MICRO)
    campaign = await client.create_campaign(
        name=name, funding_instrument_id=instrument.id, total_budget_micro=BUDGET_MICRO
    )
    assert campaign.entity_status == "PAUSED"
    start = datetime.now(UTC) + timedelta(minutes=5)
    line_item = await client.create_line_item(
        campaign_id=campaign.id, start_time=start, end_time=start + timedelta(hours=24)
    )
    assert line_item.entity_status == "PAUSED"
    criteria = await client.create_targeting(line_item.id, TARGETING)
    assert [(c.targeting_type, c.targeting_value) for c in criteria] == TARGETING
    promoted = await client.promote_post(line_item.id, POST_ID)
    assert (promoted.line_item_id, promoted.tweet_id) == (line_item.id, POST_ID)
    await client.activate(campaign.id, line_item.id)
    return campaign.id, line_item.id


async def test_full_flow_launches_exactly_one_active_campaign(
    x_ads_client: XAdsClient, x_ads_sandbox: Any
) -> None:
    campaign_id, line_item_id = await launch(x_ads_client)

    store = x_ads_sandbox.state.store
    assert list(store.campaigns) == [campaign_id]
    campaign = store.campaigns[campaign_id]
    assert campaign.entity_status == "ACTIVE"
    assert campaign.name == NAME
    assert campaign.total_budget_amount_local_micro == BUDGET_MICRO
    assert campaign.daily_budget_amount_local_micro == BUDGET_MICRO
    assert list(store.line_items) == [line_item_id]
    item = store.line_items[line_item_id]
    assert (item.entity_status, item.objective, item.product_type, item.bid_strategy) == (
        "ACTIVE",
        "ENGAGEMENTS",
        "PROMOTED_TWEETS",
        "AUTO",
    )
    assert item.placements == ["ALL_ON_TWITTER"]
    assert sorted((t.targeting_type, t.targeting_value) for t in store.criteria.values()) == sorted(
        TARGETING
    )
    assert [(p.line_item_id, p.tweet_id) for p in store.promoted.values()] == [
        (line_item_id, POST_ID)
    ]

    found = await x_ads_client.find_campaign_by_name(NAME)
    assert found is not None
    assert (found.id, found.entity_status) == (campaign_id, "ACTIVE")
    assert (await x_ads_client.get_campaign(campaign_id)).total_budget_amount_local_micro == (
        BUDGET_MICRO
    )
    # What a resumed launch reads to skip the steps already done.
    assert [li.id for li in await x_ads_client.line_items_of(campaign_id)] == [line_item_id]
    assert len(await x_ads_client.targeting_of(line_item_id)) == len(TARGETING)
    assert [p.tweet_id for p in await x_ads_client.promoted_of(line_item_id)] == [POST_ID]


async def test_find_campaign_by_name_is_exact(x_ads_client: XAdsClient) -> None:
    instrument = await x_ads_client.funding_instrument_for(1_000_000)
    for name in ("epoch 10", "Epoch 1", "epoch 1"):
        await x_ads_client.create_campaign(
            name=name, funding_instrument_id=instrument.id, total_budget_micro=1_000_000
        )
    found = await x_ads_client.find_campaign_by_name("epoch 1")
    assert found is not None
    assert found.name == "epoch 1"
    assert await x_ads_client.find_campaign_by_name("epoch") is None
    assert await x_ads_client.find_campaign_by_name("never launched") is None


async def test_find_campaign_follows_pages(make_x_ads_client: Any, x_ads_sandbox: Any) -> None:
    client = make_x_ads_client(page_size=2)
    instrument = await client.funding_instrument_for(1_000_000)
    # X's `q` matches name prefixes: all five match, and the exact one comes last.
    for name in ("epoch 10", "epoch 11", "epoch 12", "epoch 13", "epoch 1"):
        await client.create_campaign(
            name=name, funding_instrument_id=instrument.id, total_budget_micro=1_000_000
        )
    found = await client.find_campaign_by_name("epoch 1")
    assert found is not None
    assert found.name == "epoch 1"
    gets = [r for r in x_ads_sandbox.state.request_log if r.method == "GET"]
    assert len([r for r in gets if r.path.endswith("/campaigns")]) == 3  # 5 matches, 2 a page


async def test_bad_consumer_secret_is_an_auth_error(
    make_x_ads_client: Any, x_ads_sandbox: Any
) -> None:
    client = make_x_ads_client(consumer_secret="wrong-secret-value")
    with pytest.raises(XAdsAuthError) as caught:
        await client.funding_instruments()
    message = str(caught.value)
    assert "(401)" in message
    assert "X_ADS_CONSUMER_KEY" in message
    assert x_ads_sandbox.state.account_id in message
    assert "Could not authenticate you" in message
    assert "wrong-secret-value" not in message
    assert isinstance(caught.value, OperationalError)
    assert x_ads_sandbox.state.statuses() == [401]  # not retried


async def test_unknown_consumer_key_is_an_auth_error(
    make_x_ads_client: Any, x_ads_sandbox: Any
) -> None:
    client = make_x_ads_client(consumer_key="someone-elses-app")
    with pytest.raises(XAdsAuthError):
        await client.accounts()
    assert x_ads_sandbox.state.statuses() == [401]


async def test_unfundable_instrument_is_a_funding_error(
    x_ads_client: XAdsClient, x_ads_sandbox: Any
) -> None:
    instrument = await x_ads_client.funding_instrument_for(BUDGET_MICRO)
    x_ads_sandbox.state.faults.unable_to_fund = True
    with pytest.raises(XAdsFundingError) as chosen:
        await x_ads_client.funding_instrument_for(BUDGET_MICRO)
    assert "not able to fund" in str(chosen.value)
    assert instrument.id in str(chosen.value)
    # The API refuses it too, if a caller skips the check.
    with pytest.raises(XAdsFundingError) as created:
        await x_ads_client.create_campaign(
            name="x", funding_instrument_id=instrument.id, total_budget_micro=BUDGET_MICRO
        )
    assert "FUNDING_INSTRUMENT_NOT_ABLE_TO_FUND" in str(created.value)
    assert x_ads_sandbox.state.statuses()[-1] == 400
    assert x_ads_sandbox.state.store.campaigns == {}


async def test_funding_checks_credit_and_currency(
    x_ads_client: XAdsClient, x_ads_sandbox: Any
) -> None:
    state: XAdsSandboxState = x_ads_sandbox.state
    only = next(iter(state.store.instruments.values()))
    only.credit_limit_local_micro = 100_000_000  # $100 left
    with pytest.raises(XAdsFundingError) as caught:
        await x_ads_client.funding_instrument_for(BUDGET_MICRO)
    assert "100000000 micros of credit left, 500000000 needed" in str(caught.value)
    with pytest.raises(XAdsFundingError) as currency:
        await x_ads_client.funding_instrument_for(1_000_000, currency="EUR")
    assert "currency is not EUR" in str(currency.value)
    card = state.store.add_instrument(state.account_id, credit_limit=None, kind="CREDIT_CARD")
    chosen = await x_ads_client.funding_instrument_for(BUDGET_MICRO)
    assert chosen.id == card.id  # a card states no credit limit, so X leaves it null
    with pytest.raises(ValueError, match="positive int"):
        await x_ads_client.funding_instrument_for(0)


async def test_rate_limit_is_waited_out(x_ads_client: XAdsClient, x_ads_sandbox: Any) -> None:
    reset = int(time.time()) + 2  # 1-2 s ahead
    x_ads_sandbox.state.faults.rate_limited_until = reset
    started = time.monotonic()
    accounts = await x_ads_client.accounts()
    elapsed = time.monotonic() - started
    assert [a.id for a in accounts] == [x_ads_sandbox.state.account_id]
    assert x_ads_sandbox.state.statuses() == [429, 200]
    assert time.time() >= reset
    assert 0.9 <= elapsed <= 3.5


async def test_rate_limit_beyond_allowed_wait_raises(
    make_x_ads_client: Any, x_ads_sandbox: Any
) -> None:
    client = make_x_ads_client(max_rate_limit_wait_seconds=5)
    x_ads_sandbox.state.faults.rate_limited_until = int(time.time()) + 60
    started = time.monotonic()
    with pytest.raises(XAdsRateLimited) as caught:
        await client.accounts()
    assert time.monotonic() - started < 1
    assert caught.value.retry_after is not None
    assert 55 <= caught.value.retry_after <= 61
    assert isinstance(caught.value, TemporaryError)
    assert x_ads_sandbox.state.statuses() == [429]


async def test_server_errors_are_retried(x_ads_client: XAdsClient, x_ads_sandbox: Any) -> None:
    x_ads_sandbox.state.faults.server_errors_remaining = 2
    instrument = await x_ads_client.funding_instrument_for(BUDGET_MICRO)
    campaign = await x_ads_client.create_campaign(
        name="retried", funding_instrument_id=instrument.id, total_budget_micro=BUDGET_MICRO
    )
    assert x_ads_sandbox.state.statuses() == [503, 503, 200, 200]
    line_item = await _line_item(x_ads_client, campaign.id)
    x_ads_sandbox.state.faults.server_errors_remaining = 1
    x_ads_sandbox.state.faults.server_error_status = 500
    await x_ads_client.activate(campaign.id, line_item.id)  # PUT: the same status, safe again
    assert 500 in x_ads_sandbox.state.statuses()
    assert x_ads_sandbox.state.store.campaigns[campaign.id].entity_status == "ACTIVE"
    assert len(x_ads_sandbox.state.store.campaigns) == 1


async def test_a_create_answered_5xx_is_not_sent_again(
    x_ads_client: XAdsClient, x_ads_sandbox: Any
) -> None:
    instrument = await x_ads_client.funding_instrument_for(BUDGET_MICRO)
    x_ads_sandbox.state.faults.server_errors_remaining = 3
    with pytest.raises(XAdsOutcomeUnknown, match="looked up, not sent again"):
        await x_ads_client.create_campaign(
            name="once", funding_instrument_id=instrument.id, total_budget_micro=BUDGET_MICRO
        )
    assert x_ads_sandbox.state.statuses()[-1:] == [503]  # one POST, never repeated
    assert x_ads_sandbox.state.faults.server_errors_remaining == 2


async def _line_item(client: XAdsClient, campaign_id: str) -> Any:
    start = datetime.now(UTC)
    return await client.create_line_item(
        campaign_id=campaign_id, start_time=start, end_time=start + timedelta(hours=1)
    )


async def test_server_errors_give_up_after_retries(
    x_ads_client: XAdsClient, x_ads_sandbox: Any
) -> None:
    x_ads_sandbox.state.faults.server_errors_remaining = 10
    with pytest.raises(XAdsUnavailable) as caught:
        await x_ads_client.accounts()
    assert "503" in str(caught.value)
    assert x_ads_sandbox.state.statuses() == [503] * 4  # first try and 3 retries


async def test_unreachable_api_is_unavailable(make_x_ads_client: Any) -> None:
    client = make_x_ads_client(base_url="http://127.0.0.1:9", server_error_retries=1)
    with pytest.raises(XAdsUnavailable, match="unreachable"):
        await client.accounts()


async def test_refused_request_carries_x_code_and_parameter(
    x_ads_client: XAdsClient, x_ads_sandbox: Any
) -> None:
    instrument = await x_ads_client.funding_instrument_for(1_000_000)
    campaign = await x_ads_client.create_campaign(
        name="c", funding_instrument_id=instrument.id, total_budget_micro=1_000_000
    )
    start = datetime.now(UTC)
    with pytest.raises(XAdsRequestError) as caught:
        await x_ads_client.create_line_item(
            campaign_id=campaign.id,
            start_time=start,
            end_time=start + timedelta(hours=1),
            objective="GO_VIRAL",
        )
    error = caught.value
    assert (error.status, error.code, error.parameter) == (400, "INVALID_PARAMETER", "objective")
    assert "GO_VIRAL" in error.api_message
    assert "objective" in str(error)
    with pytest.raises(XAdsRequestError) as missing:
        await x_ads_client.get_campaign("nope")
    assert (missing.value.status, missing.value.code) == (404, "NOT_FOUND")


async def test_active_campaign_cap_surfaces_x_code(
    x_ads_client: XAdsClient, x_ads_sandbox: Any
) -> None:
    x_ads_sandbox.state.max_active_campaigns = 1
    await launch(x_ads_client, name="first")
    with pytest.raises(XAdsRequestError) as caught:
        await launch(x_ads_client, name="second")
    assert caught.value.code == "MAX_ACTIVE_CAMPAIGNS_REACHED"
    active = [
        c for c in x_ads_sandbox.state.store.campaigns.values() if c.entity_status == "ACTIVE"
    ]
    assert [c.name for c in active] == ["first"]


async def test_billed_spend_reads_back(x_ads_client: XAdsClient, x_ads_sandbox: Any) -> None:
    _, line_item_id = await launch(x_ads_client)
    assert await x_ads_client.billed_micro([line_item_id]) == 0
    x_ads_sandbox.state.store.add_spend(line_item_id, 1_234_567)
    assert await x_ads_client.billed_micro([line_item_id]) == 1_234_567
    _, other = await launch(x_ads_client, name="other")
    x_ads_sandbox.state.store.add_spend(other, 1_000_000)
    assert await x_ads_client.billed_micro([line_item_id, other, line_item_id]) == 2_234_567
    # Spend never passes the campaign budget, however long it runs.
    x_ads_sandbox.state.store.add_spend(line_item_id, 10 * BUDGET_MICRO)
    assert await x_ads_client.billed_micro([line_item_id]) == BUDGET_MICRO


async def test_billed_spend_grows_while_active(
    x_ads_client: XAdsClient, x_ads_sandbox: Any
) -> None:
    _, line_item_id = await launch(x_ads_client)
    x_ads_sandbox.state.spend_micro_per_second = 1_000_000
    first = await x_ads_client.billed_micro([line_item_id])
    await asyncio.sleep(0.3)
    second = await x_ads_client.billed_micro([line_item_id])
    assert second >= first + 250_000


async def test_secrets_never_in_repr_errors_or_logs(
    make_x_ads_client: Any, x_ads_sandbox: Any, caplog: pytest.LogCaptureFixture
) -> None:
    state: XAdsSandboxState = x_ads_sandbox.state
    secrets = (state.consumer_secret, state.access_token_secret)
    caplog.set_level(logging.DEBUG)
    errors: list[XAdsError] = []
    with capture_logs() as events:
        good = make_x_ads_client()
        state.faults.server_errors_remaining = 1
        state.faults.rate_limited_until = int(time.time()) + 2
        await good.accounts()
        state.faults.server_errors_remaining = 5
        try:
            await make_x_ads_client(server_error_retries=1).accounts()
        except XAdsError as error:
            errors.append(error)
        for wrong in ({"consumer_secret": "x"}, {"access_token_secret": "y"}):
            try:
                await make_x_ads_client(**wrong).accounts()
            except XAdsError as error:
                errors.append(error)
    assert len(errors) == 3
    assert any(e["event"] == "503 Service Unavailable: retrying" for e in events)
    assert any(e["event"] == "429 Too Many Requests: retrying" for e in events)
    texts = [repr(good), repr(good._transport._http.auth), repr(state)]
    texts += [str(e) + repr(e) for e in errors]
    texts += [repr(event) for event in events]
    texts += [record.getMessage() for record in caplog.records]
    for secret in secrets:
        assert not any(secret in text for text in texts), secret
