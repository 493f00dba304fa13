"""The X-Ads-compatible sandbox over real HTTP, signed by an independent OAuth 1.0a library.

oauthlib (not the authlib that our client uses) signs these requests, so a shared mistake in
signing and verifying cannot hide.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from oauthlib.oauth1 import Client as OAuthlibClient  # type: ignore[import-untyped]

from flywheel.sandbox.x_ads.app import XAdsSandboxState, build_x_ads_app

START = "2030-01-01T00:00:00Z"
END = "2030-01-02T00:00:00Z"


def call(
    sandbox: Any,
    method: str,
    path: str,
    *,
    query: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    consumer_secret: str | None = None,
    consumer_key: str | None = None,
    timestamp: str | None = None,
    tamper: dict[str, str] | None = None,
) -> httpx.Response:
    """One request signed like X expects; `tamper` changes the query after signing."""
    state: XAdsSandboxState = sandbox.state
    signer = OAuthlibClient(
        consumer_key or state.consumer_key,
        client_secret=consumer_secret or state.consumer_secret,
        resource_owner_key=state.access_token,
        resource_owner_secret=state.access_token_secret,
        timestamp=timestamp,
    )
    url = sandbox.base_url + path
    if query:
        url += "?" + urlencode(query, quote_via=quote)
    headers: dict[str, str] = {}
    body = None
    if form is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        body = urlencode(form)
    uri, headers, body = signer.sign(url, http_method=method, body=body, headers=headers)
    if tamper:
        uri = (
            sandbox.base_url + path + "?" + urlencode({**(query or {}), **tamper}, quote_via=quote)
        )
    response: httpx.Response = sandbox.http.request(method, uri, headers=headers, content=body)
    return response


def acct(sandbox: Any, rest: str = "") -> str:
    account_id: str = sandbox.state.account_id
    return f"/12/accounts/{account_id}{rest}"


def instrument_id(sandbox: Any) -> str:
    first: str = next(iter(sandbox.state.store.instruments))
    return first


def new_campaign(sandbox: Any, **overrides: str) -> httpx.Response:
    params = {
        "funding_instrument_id": instrument_id(sandbox),
        "name": "launch",
        "daily_budget_amount_local_micro": "5500000",
        "total_budget_amount_local_micro": "5500000",
        "entity_status": "PAUSED",
        **overrides,
    }
    return call(sandbox, "POST", acct(sandbox, "/campaigns"), query=params)


def new_line_item(sandbox: Any, campaign_id: str, **overrides: str) -> httpx.Response:
    params = {
        "campaign_id": campaign_id,
        "objective": "ENGAGEMENTS",
        "placements": "ALL_ON_TWITTER",
        "product_type": "PROMOTED_TWEETS",
        "bid_strategy": "AUTO",
        "start_time": START,
        "end_time": END,
        "entity_status": "PAUSED",
        **overrides,
    }
    return call(sandbox, "POST", acct(sandbox, "/line_items"), query=params)


def the_error(response: httpx.Response) -> dict[str, Any]:
    errors = response.json()["errors"]
    assert len(errors) == 1
    error: dict[str, Any] = errors[0]
    return error


# -- envelope and entities -------------------------------------------------------------------


def test_accounts_and_instruments_use_x_envelope(x_ads_sandbox: Any) -> None:
    accounts = call(x_ads_sandbox, "GET", "/12/accounts")
    assert accounts.status_code == 200
    body = accounts.json()
    assert [a["id"] for a in body["data"]] == [x_ads_sandbox.state.account_id]
    assert body["next_cursor"] is None
    assert body["total_count"] == 1
    assert "params" in body["request"]

    instruments = call(x_ads_sandbox, "GET", acct(x_ads_sandbox, "/funding_instruments")).json()
    fi = instruments["data"][0]
    assert fi["able_to_fund"] is True
    assert fi["currency"] == "USD"
    assert fi["credit_remaining_local_micro"] == 1_000_000 * 10**6
    assert fi["funded_amount_local_micro"] == 0
    assert fi["entity_status"] == "ACTIVE"
    assert instruments["request"]["params"]["account_id"] == x_ads_sandbox.state.account_id


def test_campaign_created_from_form_body_and_found_by_prefix(x_ads_sandbox: Any) -> None:
    form = {
        "funding_instrument_id": instrument_id(x_ads_sandbox),
        "name": "Flywheel epoch #7 & ads/100% (UTC+0)",
        "daily_budget_amount_local_micro": "1000000",
        "entity_status": "PAUSED",
    }
    created = call(x_ads_sandbox, "POST", acct(x_ads_sandbox, "/campaigns"), form=form)
    assert created.status_code == 200, created.text
    campaign = created.json()["data"]
    assert campaign["name"] == form["name"]
    assert campaign["daily_budget_amount_local_micro"] == 1_000_000
    assert campaign["entity_status"] == "PAUSED"
    assert created.json()["request"]["params"]["name"] == form["name"]

    found = call(x_ads_sandbox, "GET", acct(x_ads_sandbox, "/campaigns"), query={"q": "flywheel"})
    assert [c["id"] for c in found.json()["data"]] == [campaign["id"]]
    other = call(x_ads_sandbox, "GET", acct(x_ads_sandbox, "/campaigns"), query={"q": "epoch"})
    assert other.json()["data"] == []


def test_lists_paginate_with_next_cursor(x_ads_sandbox: Any) -> None:
    for n in range(5):
        assert new_campaign(x_ads_sandbox, name=f"c{n}").status_code == 200
    seen: list[str] = []
    query = {"count": "2"}
    for _ in range(5):
        page = call(x_ads_sandbox, "GET", acct(x_ads_sandbox, "/campaigns"), query=query).json()
        assert page["total_count"] == 5
        seen += [c["name"] for c in page["data"]]
        if page["next_cursor"] is None:
            break
        query = {"count": "2", "cursor": page["next_cursor"]}
    assert seen == [f"c{n}" for n in range(5)]


def test_deleted_campaigns_hidden_unless_with_deleted(x_ads_sandbox: Any) -> None:
    cid = new_campaign(x_ads_sandbox).json()["data"]["id"]
    gone = call(x_ads_sandbox, "DELETE", acct(x_ads_sandbox, f"/campaigns/{cid}"))
    assert gone.json()["data"]["deleted"] is True
    listed = call(x_ads_sandbox, "GET", acct(x_ads_sandbox, "/campaigns")).json()["data"]
    assert listed == []
    with_deleted = call(
        x_ads_sandbox, "GET", acct(x_ads_sandbox, "/campaigns"), query={"with_deleted": "true"}
    )
    assert [c["id"] for c in with_deleted.json()["data"]] == [cid]
    missing = call(x_ads_sandbox, "GET", acct(x_ads_sandbox, f"/campaigns/{cid}"))
    assert missing.status_code == 404
    assert the_error(missing)["code"] == "NOT_FOUND"


def test_line_item_targeting_and_promoted_post_listed_by_parent(x_ads_sandbox: Any) -> None:
    cid = new_campaign(x_ads_sandbox).json()["data"]["id"]
    item = new_line_item(x_ads_sandbox, cid).json()["data"]
    assert item["placements"] == ["ALL_ON_TWITTER"]
    assert item["start_time"] == START
    tc = call(
        x_ads_sandbox,
        "POST",
        acct(x_ads_sandbox, "/targeting_criteria"),
        query={"line_item_id": item["id"], "targeting_type": "LANGUAGE", "targeting_value": "en"},
    )
    assert tc.status_code == 200, tc.text
    promoted = call(
        x_ads_sandbox,
        "POST",
        acct(x_ads_sandbox, "/promoted_tweets"),
        query={"line_item_id": item["id"], "tweet_ids": "1500000000000000001"},
    )
    assert [p["tweet_id"] for p in promoted.json()["data"]] == ["1500000000000000001"]

    by_campaign = call(
        x_ads_sandbox, "GET", acct(x_ads_sandbox, "/line_items"), query={"campaign_ids": cid}
    )
    assert [li["id"] for li in by_campaign.json()["data"]] == [item["id"]]
    criteria = call(
        x_ads_sandbox,
        "GET",
        acct(x_ads_sandbox, "/targeting_criteria"),
        query={"line_item_ids": item["id"]},
    )
    assert [(t["targeting_type"], t["targeting_value"]) for t in criteria.json()["data"]] == [
        ("LANGUAGE", "en")
    ]
    listed = call(
        x_ads_sandbox,
        "GET",
        acct(x_ads_sandbox, "/promoted_tweets"),
        query={"line_item_ids": item["id"]},
    )
    assert [p["line_item_id"] for p in listed.json()["data"]] == [item["id"]]


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "missing",
    ["funding_instrument_id", "name", "daily_budget_amount_local_micro"],
)
def test_campaign_required_fields_answer_400_naming_parameter(
    x_ads_sandbox: Any, missing: str
) -> None:
    response = new_campaign(x_ads_sandbox, **{missing: ""})
    assert response.status_code == 400
    error = the_error(response)
    assert error["code"] == "MISSING_PARAMETER"
    assert error["parameter"] == missing
    assert x_ads_sandbox.state.store.campaigns == {}


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("objective", "", "MISSING_PARAMETER"),
        ("objective", "GO_VIRAL", "INVALID_PARAMETER"),
        ("placements", "", "MISSING_PARAMETER"),
        ("placements", "ALL_ON_TWITTER,BILLBOARDS", "INVALID_PARAMETER"),
        ("product_type", "", "MISSING_PARAMETER"),
        ("bid_strategy", "MAX", "MISSING_PARAMETER"),  # MAX needs a bid amount
        ("entity_status", "RUNNING", "INVALID_PARAMETER"),
        ("end_time", "2029-12-31T00:00:00Z", "INVALID_PARAMETER"),
        ("start_time", "yesterday", "INVALID_PARAMETER"),
    ],
)
def test_line_item_validation_names_parameter(
    x_ads_sandbox: Any, field: str, value: str, code: str
) -> None:
    cid = new_campaign(x_ads_sandbox).json()["data"]["id"]
    response = new_line_item(x_ads_sandbox, cid, **{field: value})
    assert response.status_code == 400
    error = the_error(response)
    assert error["code"] == code
    expected = "bid_amount_local_micro" if field == "bid_strategy" else field
    assert error["parameter"] == expected


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"daily_budget_amount_local_micro": "5.5"}, "daily_budget_amount_local_micro"),
        ({"daily_budget_amount_local_micro": "-1"}, "daily_budget_amount_local_micro"),
        ({"total_budget_amount_local_micro": "1000"}, "daily_budget_amount_local_micro"),
        ({"funding_instrument_id": "nope"}, "funding_instrument_id"),
    ],
)
def test_campaign_money_and_references_validated(
    x_ads_sandbox: Any, params: dict[str, str], parameter: str
) -> None:
    response = new_campaign(x_ads_sandbox, **params)
    assert response.status_code in (400, 404)
    assert the_error(response)["parameter"] == parameter


def test_targeting_and_promoted_validation(x_ads_sandbox: Any) -> None:
    cid = new_campaign(x_ads_sandbox).json()["data"]["id"]
    li = new_line_item(x_ads_sandbox, cid).json()["data"]["id"]
    bad_type = call(
        x_ads_sandbox,
        "POST",
        acct(x_ads_sandbox, "/targeting_criteria"),
        query={"line_item_id": li, "targeting_type": "MOOD", "targeting_value": "x"},
    )
    assert (bad_type.status_code, the_error(bad_type)["parameter"]) == (400, "targeting_type")
    no_tweets = call(
        x_ads_sandbox, "POST", acct(x_ads_sandbox, "/promoted_tweets"), query={"line_item_id": li}
    )
    assert (no_tweets.status_code, the_error(no_tweets)["parameter"]) == (400, "tweet_ids")
    bad_tweet = call(
        x_ads_sandbox,
        "POST",
        acct(x_ads_sandbox, "/promoted_tweets"),
        query={"line_item_id": li, "tweet_ids": "https://x.com/a/status/1"},
    )
    assert the_error(bad_tweet)["code"] == "INVALID_PARAMETER"
    no_parent = call(x_ads_sandbox, "GET", acct(x_ads_sandbox, "/targeting_criteria"))
    assert the_error(no_parent)["parameter"] == "line_item_ids"


# -- business rules --------------------------------------------------------------------------


def test_budget_beyond_credit_and_unfundable_instrument_refused(x_ads_sandbox: Any) -> None:
    state: XAdsSandboxState = x_ads_sandbox.state
    small = state.store.add_instrument(state.account_id, credit_limit=2_000_000)
    over = new_campaign(x_ads_sandbox, funding_instrument_id=small.id)
    assert over.status_code == 400
    assert the_error(over)["code"] == "BUDGET_EXCEEDS_FUNDING_INSTRUMENT_CREDIT"
    assert the_error(over)["parameter"] == "total_budget_amount_local_micro"

    cid = new_campaign(x_ads_sandbox).json()["data"]["id"]
    state.faults.unable_to_fund = True
    refused = new_campaign(x_ads_sandbox)
    assert the_error(refused)["code"] == "FUNDING_INSTRUMENT_NOT_ABLE_TO_FUND"
    activate = call(
        x_ads_sandbox,
        "PUT",
        acct(x_ads_sandbox, f"/campaigns/{cid}"),
        query={"entity_status": "ACTIVE"},
    )
    assert activate.status_code == 400
    listed = call(x_ads_sandbox, "GET", acct(x_ads_sandbox, "/funding_instruments"))
    assert all(fi["able_to_fund"] is False for fi in listed.json()["data"])
    assert all(fi["reasons_not_able_to_fund"] for fi in listed.json()["data"])


def test_active_campaign_cap(x_ads_sandbox: Any) -> None:
    x_ads_sandbox.state.max_active_campaigns = 2
    for n in range(2):
        assert new_campaign(x_ads_sandbox, name=f"a{n}", entity_status="ACTIVE").status_code == 200
    third = new_campaign(x_ads_sandbox, name="a2", entity_status="ACTIVE")
    assert third.status_code == 400
    assert the_error(third)["code"] == "MAX_ACTIVE_CAMPAIGNS_REACHED"
    paused = new_campaign(x_ads_sandbox, name="p")
    assert paused.status_code == 200
    pid = paused.json()["data"]["id"]
    put = call(
        x_ads_sandbox,
        "PUT",
        acct(x_ads_sandbox, f"/campaigns/{pid}"),
        query={"entity_status": "ACTIVE"},
    )
    assert the_error(put)["code"] == "MAX_ACTIVE_CAMPAIGNS_REACHED"


# -- OAuth 1.0a ------------------------------------------------------------------------------


def test_signature_checks(x_ads_sandbox: Any) -> None:
    path = acct(x_ads_sandbox, "/campaigns")
    assert call(x_ads_sandbox, "GET", path).status_code == 200

    wrong_secret = call(x_ads_sandbox, "GET", path, consumer_secret="not-the-secret")
    assert wrong_secret.status_code == 401
    assert the_error(wrong_secret) == {"code": 32, "message": "Could not authenticate you."}

    unknown_key = call(x_ads_sandbox, "GET", path, consumer_key="someone-else")
    assert the_error(unknown_key)["code"] == 32

    tampered = call(x_ads_sandbox, "GET", path, query={"q": "a"}, tamper={"q": "b"})
    assert tampered.status_code == 401

    stale = call(x_ads_sandbox, "GET", path, timestamp=str(int(time.time()) - 3600))
    assert (stale.status_code, the_error(stale)["code"]) == (401, 135)

    unsigned = x_ads_sandbox.http.get(path)
    assert unsigned.status_code == 401
    assert x_ads_sandbox.state.statuses() == [200, 401, 401, 401, 401, 401]


def test_replayed_request_refused(x_ads_sandbox: Any) -> None:
    state: XAdsSandboxState = x_ads_sandbox.state
    signer = OAuthlibClient(
        state.consumer_key,
        client_secret=state.consumer_secret,
        resource_owner_key=state.access_token,
        resource_owner_secret=state.access_token_secret,
    )
    uri, headers, _ = signer.sign(x_ads_sandbox.base_url + "/12/accounts", http_method="GET")
    assert x_ads_sandbox.http.get(uri, headers=headers).status_code == 200
    assert x_ads_sandbox.http.get(uri, headers=headers).status_code == 401


# -- rate limits, faults, control ------------------------------------------------------------


def test_rate_limit_headers_and_write_window(x_ads_sandbox: Any) -> None:
    x_ads_sandbox.state.write_limit_per_minute = 2
    first = new_campaign(x_ads_sandbox, name="w1")
    assert first.headers["x-rate-limit-limit"] == "2"
    assert first.headers["x-rate-limit-remaining"] == "1"
    assert new_campaign(x_ads_sandbox, name="w2").status_code == 200
    third = new_campaign(x_ads_sandbox, name="w3")
    assert third.status_code == 429
    assert third.headers["x-rate-limit-remaining"] == "0"
    assert int(third.headers["x-rate-limit-reset"]) > time.time()
    assert the_error(third)["code"] == "TOO_MANY_REQUESTS"
    assert len(x_ads_sandbox.state.store.campaigns) == 2
    # Reads count in their own window.
    assert call(x_ads_sandbox, "GET", "/12/accounts").status_code == 200


def test_faults_switched_through_control_endpoint(x_ads_sandbox: Any) -> None:
    control = x_ads_sandbox.http
    armed = control.post("/_sandbox/faults", json={"server_errors_remaining": 1})
    assert armed.json()["server_errors_remaining"] == 1
    failed = call(x_ads_sandbox, "GET", "/12/accounts")
    assert failed.status_code == 503
    assert the_error(failed)["code"] == "SERVICE_UNAVAILABLE"
    assert call(x_ads_sandbox, "GET", "/12/accounts").status_code == 200

    control.post("/_sandbox/faults", json={"rate_limited_for_seconds": 30})
    limited = call(x_ads_sandbox, "GET", "/12/accounts")
    assert limited.status_code == 429
    assert limited.headers["x-rate-limit-remaining"] == "0"
    assert 25 <= int(limited.headers["x-rate-limit-reset"]) - time.time() <= 31
    control.post("/_sandbox/faults", json={"rate_limited_until": None})
    assert call(x_ads_sandbox, "GET", "/12/accounts").status_code == 200

    bad = control.post("/_sandbox/faults", json={"meteor_strike": True})
    assert bad.status_code == 400
    assert "meteor_strike" in bad.json()["error"]
    not_5xx = control.post("/_sandbox/faults", json={"server_error_status": 404})
    assert not_5xx.status_code == 400
    assert x_ads_sandbox.state.faults.server_error_status == 503


def test_state_dump_and_spend_hook(x_ads_sandbox: Any) -> None:
    cid = new_campaign(x_ads_sandbox).json()["data"]["id"]
    li = new_line_item(x_ads_sandbox, cid).json()["data"]["id"]
    control = x_ads_sandbox.http
    billed = control.post("/_sandbox/spend", json={"line_item_id": li, "micro": 9_000_000})
    # Capped by the campaign's total budget of $5.50.
    assert billed.json() == {"line_item_id": li, "billed_micro": 5_500_000}
    dump = control.get("/_sandbox/state").json()
    assert [c["id"] for c in dump["campaigns"]] == [cid]
    assert dump["line_items"][0]["billed_charge_local_micro"] == 5_500_000
    assert dump["funding_instruments"][0]["funded_amount_local_micro"] == 5_500_000
    assert dump["faults"]["unable_to_fund"] is False
    assert [r["status"] for r in dump["requests"]] == [200, 200]


async def test_control_answers_loopback_only(x_ads_state: XAdsSandboxState) -> None:
    app = build_x_ads_app(x_ads_state)
    remote = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
    async with httpx.AsyncClient(transport=remote, base_url="http://sandbox") as client:
        assert (await client.get("/_sandbox/state")).status_code == 403
        assert (await client.post("/_sandbox/faults", json={})).status_code == 403


def test_stats_report_billing_and_validate_window(x_ads_sandbox: Any) -> None:
    cid = new_campaign(x_ads_sandbox).json()["data"]["id"]
    li = new_line_item(x_ads_sandbox, cid).json()["data"]["id"]
    x_ads_sandbox.state.store.add_spend(li, 1_250_000)
    query = {
        "entity": "LINE_ITEM",
        "entity_ids": li,
        "metric_groups": "BILLING",
        "granularity": "TOTAL",
        "placement": "ALL_ON_TWITTER",
        "start_time": START,
        "end_time": END,
    }
    path = f"/12/stats/accounts/{x_ads_sandbox.state.account_id}"
    stats = call(x_ads_sandbox, "GET", path, query=query).json()
    assert stats["time_series_length"] == 1
    metrics = stats["data"][0]["id_data"][0]["metrics"]
    assert metrics["billed_charge_local_micro"] == [1_250_000]

    by_campaign = call(
        x_ads_sandbox, "GET", path, query={**query, "entity": "CAMPAIGN", "entity_ids": cid}
    ).json()
    assert by_campaign["data"][0]["id_data"][0]["metrics"]["billed_charge_local_micro"] == [
        1_250_000
    ]
    too_long = call(x_ads_sandbox, "GET", path, query={**query, "end_time": "2030-01-09T00:00:00Z"})
    assert (too_long.status_code, the_error(too_long)["parameter"]) == (400, "end_time")
    no_start = call(x_ads_sandbox, "GET", path, query={**query, "start_time": ""})
    assert the_error(no_start) == {
        "code": "MISSING_PARAMETER",
        "message": '"start_time" is a required parameter',
        "parameter": "start_time",
    }
    unknown = call(x_ads_sandbox, "GET", path, query={**query, "entity_ids": "zzz"})
    assert the_error(unknown)["parameter"] == "entity_ids"


class ManualClock:
    """A clock that moves only when told: spend accrues by exactly the seconds advanced."""

    def __init__(self) -> None:
        self.t = time.time()  # near the wall clock: OAuth timestamps are checked against it

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.mark.parametrize("x_ads_clock", [ManualClock()])
def test_spend_accrues_only_while_serving_and_within_budget(
    x_ads_sandbox: Any, x_ads_clock: ManualClock
) -> None:
    state: XAdsSandboxState = x_ads_sandbox.state
    cid = new_campaign(x_ads_sandbox).json()["data"]["id"]
    li = new_line_item(x_ads_sandbox, cid).json()["data"]["id"]
    call(
        x_ads_sandbox,
        "POST",
        acct(x_ads_sandbox, "/promoted_tweets"),
        query={"line_item_id": li, "tweet_ids": "42"},
    )
    state.spend_micro_per_second = 10_000_000  # $10/s: the $5.50 budget runs out in 0.55 s
    x_ads_clock.advance(0.2)
    call(x_ads_sandbox, "GET", "/12/accounts")
    assert state.store.line_items[li].billed_charge_local_micro == 0  # still PAUSED
    for path in (f"/line_items/{li}", f"/campaigns/{cid}"):
        activated = call(
            x_ads_sandbox, "PUT", acct(x_ads_sandbox, path), query={"entity_status": "ACTIVE"}
        )
        assert activated.status_code == 200
    x_ads_clock.advance(0.2)
    call(x_ads_sandbox, "GET", "/12/accounts")
    partial = state.store.line_items[li].billed_charge_local_micro
    assert partial == 2_000_000  # 0.2 s at $10/s
    x_ads_clock.advance(0.6)
    call(x_ads_sandbox, "GET", "/12/accounts")
    assert state.store.line_items[li].billed_charge_local_micro == 5_500_000


def test_unknown_route_answers_x_style_json(x_ads_sandbox: Any) -> None:
    response = x_ads_sandbox.http.get("/12/nothing_here")
    assert response.status_code == 404
    assert the_error(response)["code"] == "NOT_FOUND"
