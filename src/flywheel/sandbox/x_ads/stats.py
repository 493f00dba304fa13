"""GET /12/stats/accounts/{account_id}: X's analytics over the sandbox's billed spend."""

from __future__ import annotations

from datetime import timedelta

from flywheel.sandbox.x_ads.gate import Answer
from flywheel.sandbox.x_ads.params import (
    GRANULARITIES,
    METRIC_GROUPS,
    STATS_ENTITIES,
    STATS_PLACEMENTS,
    Params,
    invalid,
)
from flywheel.sandbox.x_ads.store import XAdsStore

MAX_STATS_ENTITIES = 20
MAX_STATS_WINDOW = timedelta(days=7)


def stats(store: XAdsStore, params: Params, path: dict[str, str]) -> Answer:
    account = store.account(path["account_id"])
    entity = params.enum("entity", STATS_ENTITIES)
    ids = params.csv("entity_ids", required=True, max_items=MAX_STATS_ENTITIES)
    groups = params.enum_list("metric_groups", METRIC_GROUPS, required=True)
    granularity = params.enum("granularity", GRANULARITIES)
    params.enum("placement", STATS_PLACEMENTS)
    start = params.time("start_time", required=True)
    end = params.time("end_time", required=True)
    assert start is not None and end is not None
    if end <= start:
        raise invalid("end_time", "end_time must be after start_time")
    if end - start > MAX_STATS_WINDOW:
        raise invalid("end_time", "The time window must not exceed 7 days")
    length = 1
    if granularity != "TOTAL":
        step = timedelta(days=1) if granularity == "DAY" else timedelta(hours=1)
        length = max(1, -(-(end - start) // step))
    billed = store.billed(account.id, entity, ids)

    def series(value: int) -> list[int]:
        # The sandbox does not date its spend: all of it falls in the last bucket.
        return [0] * (length - 1) + [value]

    data = []
    for entity_id in ids:
        metrics: dict[str, list[int] | None] = {}
        if "BILLING" in groups:
            metrics["billed_charge_local_micro"] = series(billed[entity_id])
            metrics["billed_engagements"] = series(billed[entity_id] // 250_000)
        if "ENGAGEMENT" in groups:
            metrics["impressions"] = series(billed[entity_id] // 5_000)
            metrics["engagements"] = series(billed[entity_id] // 250_000)
        data.append({"id": entity_id, "id_data": [{"segment": None, "metrics": metrics}]})
    return 200, {
        "data_type": "stats",
        "time_series_length": length,
        "data": data,
        "request": {"params": params.echo(account_id=account.id)},
    }
