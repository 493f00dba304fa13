"""What the sandbox account spends: billing that follows X's limits, in whole micros.

A line item is billed only while it serves (ACTIVE, in an ACTIVE campaign, with a promoted
post), never past its campaign's total budget nor past its funding instrument's credit; what an
instrument funds is what the line items were billed, so the two always agree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flywheel.sandbox.x_ads.entities import LineItem
from flywheel.sandbox.x_ads.params import invalid, not_found

if TYPE_CHECKING:
    from flywheel.sandbox.x_ads.store import XAdsStore


def campaign_billed(store: XAdsStore, campaign_id: str) -> int:
    return sum(
        li.billed_charge_local_micro
        for li in store.line_items.values()
        if li.campaign_id == campaign_id
    )


def _bill(store: XAdsStore, item: LineItem, micro: int) -> int:
    """Charge up to `micro` to a line item; returns what was actually charged."""
    campaign = store.campaigns[item.campaign_id]
    instrument = store.instruments[campaign.funding_instrument_id]
    if campaign.total_budget_amount_local_micro is not None:
        left = campaign.total_budget_amount_local_micro - campaign_billed(store, campaign.id)
        micro = min(micro, max(0, left))
    remaining = instrument.credit_remaining_local_micro
    if remaining is not None:
        micro = min(micro, remaining)
    item.billed_charge_local_micro += micro
    instrument.funded_amount_local_micro += micro
    return micro


def accrue(store: XAdsStore, micro_per_line_item: int) -> None:
    """Bill every serving line item `micro_per_line_item`, within its limits."""
    if micro_per_line_item <= 0:
        return
    with store.lock:
        serving = {p.line_item_id for p in store.promoted.values() if not p.deleted}
        for item in store.line_items.values():
            campaign = store.campaigns[item.campaign_id]
            if (
                item.id in serving
                and item.entity_status == "ACTIVE"
                and not item.deleted
                and campaign.entity_status == "ACTIVE"
                and not campaign.deleted
            ):
                _bill(store, item, micro_per_line_item)


def add_spend(store: XAdsStore, line_item_id: str, micro: int) -> int:
    with store.lock:
        item = store.line_items.get(line_item_id)
        if item is None:
            raise not_found("line_item_id", line_item_id)
        return _bill(store, item, micro)


def billed(store: XAdsStore, account_id: str, entity: str, ids: list[str]) -> dict[str, int]:
    """Billed micros per LINE_ITEM or CAMPAIGN id, as the stats endpoint reports them."""
    with store.lock:
        result = {}
        for entity_id in ids:
            if entity == "LINE_ITEM":
                item = store.line_items.get(entity_id)
                if item is None or item.account_id != account_id:
                    raise invalid("entity_ids", f"Unknown line item {entity_id!r}")
                result[entity_id] = item.billed_charge_local_micro
            else:
                campaign = store.campaigns.get(entity_id)
                if campaign is None or campaign.account_id != account_id:
                    raise invalid("entity_ids", f"Unknown campaign {entity_id!r}")
                result[entity_id] = campaign_billed(store, entity_id)
        return result
