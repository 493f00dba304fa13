"""The X Ads API's resources in the sandbox: accounts and funding instruments, campaigns, line
items, targeting criteria and promoted posts. Each handler takes the store, the request's params
and path, and (where one route serves several) the method; it answers (status, X's envelope)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flywheel.sandbox.x_ads.entities import Entity
from flywheel.sandbox.x_ads.gate import Answer
from flywheel.sandbox.x_ads.params import Params
from flywheel.sandbox.x_ads.store import XAdsStore


def page(entities: Sequence[Entity], params: Params, echo: dict[str, Any]) -> dict[str, Any]:
    start, count = params.cursor(), params.count()
    chunk = entities[start : start + count]
    more = start + count < len(entities)
    return {
        "data": [entity.to_api() for entity in chunk],
        "next_cursor": str(start + count) if more else None,
        "total_count": len(entities),
        "request": {"params": echo},
    }


def one(entity: Entity, echo: dict[str, Any]) -> Answer:
    return 200, {"data": entity.to_api(), "request": {"params": echo}}


# -- accounts and funding ------------------------------------------------------------------


def list_accounts(store: XAdsStore, params: Params, path: dict[str, str]) -> Answer:
    accounts = [a for a in store.accounts.values() if not a.deleted]
    return 200, page(accounts, params, params.echo())


def get_account(store: XAdsStore, params: Params, path: dict[str, str]) -> Answer:
    account = store.account(path["account_id"])
    return one(account, params.echo(account_id=account.id))


def list_instruments(store: XAdsStore, params: Params, path: dict[str, str]) -> Answer:
    account = store.account(path["account_id"])
    data = store.instrument_json(account.id, params.flag("with_deleted"))
    wanted = set(params.csv("funding_instrument_ids"))
    if wanted:
        data = [fi for fi in data if fi["id"] in wanted]
    echo = params.echo(account_id=account.id)
    return 200, {
        "data": data,
        "next_cursor": None,
        "total_count": len(data),
        "request": {"params": echo},
    }


# -- campaigns -----------------------------------------------------------------------------


def campaigns(store: XAdsStore, params: Params, path: dict[str, str], method: str) -> Answer:
    account = store.account(path["account_id"])
    echo = params.echo(account_id=account.id)
    if method == "POST":
        return one(store.create_campaign(account.id, params), echo)
    found = store.select(
        store.campaigns,
        account.id,
        params,
        {
            "campaign_ids": lambda c: c.id,
            "funding_instrument_ids": lambda c: c.funding_instrument_id,
        },
        name_of=lambda c: c.name,
    )
    if not params.flag("with_draft"):
        found = [c for c in found if c.entity_status != "DRAFT"]
    return 200, page(found, params, echo)


def campaign(store: XAdsStore, params: Params, path: dict[str, str], method: str) -> Answer:
    account = store.account(path["account_id"])
    echo = params.echo(account_id=account.id, campaign_id=path["id"])
    if method == "PUT":
        return one(store.update_campaign(account.id, path["id"], params), echo)
    if method == "DELETE":
        return one(store.delete(store.campaigns, account.id, path["id"], "campaign_id"), echo)
    return one(store.find(store.campaigns, account.id, path["id"], "campaign_id"), echo)


# -- line items ----------------------------------------------------------------------------


def line_items(store: XAdsStore, params: Params, path: dict[str, str], method: str) -> Answer:
    account = store.account(path["account_id"])
    echo = params.echo(account_id=account.id)
    if method == "POST":
        return one(store.create_line_item(account.id, params), echo)
    found = store.select(
        store.line_items,
        account.id,
        params,
        {"line_item_ids": lambda li: li.id, "campaign_ids": lambda li: li.campaign_id},
        name_of=lambda li: li.name,
    )
    return 200, page(found, params, echo)


def line_item(store: XAdsStore, params: Params, path: dict[str, str], method: str) -> Answer:
    account = store.account(path["account_id"])
    echo = params.echo(account_id=account.id, line_item_id=path["id"])
    if method == "PUT":
        return one(store.update_line_item(account.id, path["id"], params), echo)
    if method == "DELETE":
        return one(store.delete(store.line_items, account.id, path["id"], "line_item_id"), echo)
    return one(store.find(store.line_items, account.id, path["id"], "line_item_id"), echo)


# -- targeting criteria and promoted posts -------------------------------------------------


def criteria(store: XAdsStore, params: Params, path: dict[str, str], method: str) -> Answer:
    account = store.account(path["account_id"])
    echo = params.echo(account_id=account.id)
    if method == "POST":
        return one(store.create_criterion(account.id, params), echo)
    params.csv("line_item_ids", required=True)
    found = store.select(
        store.criteria,
        account.id,
        params,
        {
            "line_item_ids": lambda t: t.line_item_id,
            "targeting_criterion_ids": lambda t: t.id,
        },
    )
    return 200, page(found, params, echo)


def criterion(store: XAdsStore, params: Params, path: dict[str, str], method: str) -> Answer:
    account = store.account(path["account_id"])
    echo = params.echo(account_id=account.id, targeting_criterion_id=path["id"])
    if method == "DELETE":
        deleted = store.delete(store.criteria, account.id, path["id"], "targeting_criterion_id")
        return one(deleted, echo)
    return one(store.find(store.criteria, account.id, path["id"], "targeting_criterion_id"), echo)


def promoted(store: XAdsStore, params: Params, path: dict[str, str], method: str) -> Answer:
    account = store.account(path["account_id"])
    echo = params.echo(account_id=account.id)
    if method == "POST":
        created = store.create_promoted(account.id, params)
        data = [p.to_api() for p in created]
        return 200, {
            "data": data,
            "next_cursor": None,
            "total_count": len(data),
            "request": {"params": echo},
        }
    found = store.select(
        store.promoted,
        account.id,
        params,
        {"line_item_ids": lambda p: p.line_item_id, "promoted_tweet_ids": lambda p: p.id},
    )
    return 200, page(found, params, echo)


def promoted_one(store: XAdsStore, params: Params, path: dict[str, str], method: str) -> Answer:
    account = store.account(path["account_id"])
    echo = params.echo(account_id=account.id, promoted_tweet_id=path["id"])
    if method == "DELETE":
        deleted = store.delete(store.promoted, account.id, path["id"], "promoted_tweet_id")
        return one(deleted, echo)
    return one(store.find(store.promoted, account.id, path["id"], "promoted_tweet_id"), echo)
