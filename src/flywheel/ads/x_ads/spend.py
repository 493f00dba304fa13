"""Spend read back from the X Ads API into the ads ledger (`spent` entries, micro-USD).

Each campaign the api engine launched (a `committed` entry noted "api: ...", with a campaign id)
is asked for what X billed its line items since they started. The ledger only ever grows by the
increase over what it already records, so syncing twice records nothing new. X's billing figure
is an estimate for up to three days; once a campaign ended more than that long ago, one last
entry (noted "final", possibly of 0) closes it and it is never asked about again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from flywheel.ads.x_ads.client import STATS_WINDOW, XAdsClient
from flywheel.persistence.store import AdsEntry, SqliteStore

log = structlog.get_logger("flywheel.ads")

BILLING_SETTLES_AFTER = timedelta(days=3)  # X revises billed figures for up to 3 days
FINAL_NOTE = "final"
_HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class _Launched:
    campaign_id: str
    epoch_id: str
    committed_at: datetime
    recorded_micro: int


def _launched(entries: list[AdsEntry]) -> list[_Launched]:
    """Campaigns the api engine launched whose spend is not final yet."""
    recorded: dict[str, int] = {}
    final: set[str] = set()
    for entry in entries:
        if entry.kind == "spent" and entry.campaign_id:
            recorded[entry.campaign_id] = recorded.get(entry.campaign_id, 0) + entry.micro_usd
            if entry.note.startswith(FINAL_NOTE):
                final.add(entry.campaign_id)
    found: dict[str, _Launched] = {}
    for entry in entries:
        cid = entry.campaign_id
        if entry.kind != "committed" or not cid or not entry.note.startswith("api:"):
            continue
        if cid in final or cid in found:
            continue
        found[cid] = _Launched(cid, entry.epoch_id, entry.at, recorded.get(cid, 0))
    return list(found.values())


def _parse(moment: str | None) -> datetime | None:
    if not moment:
        return None
    parsed = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else None


def _floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _windows(start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Whole-hour windows of at most X's 7 days covering [start, end)."""
    cursor = _floor_hour(start)
    while cursor < end:
        upper = min(cursor + STATS_WINDOW, end)
        yield cursor, upper
        cursor = upper


async def _billed(client: XAdsClient, launched: _Launched, now: datetime) -> tuple[int, bool]:
    """(what X billed the campaign, whether that figure is final)."""
    items = await client.line_items_of(launched.campaign_id)
    if not items:
        return 0, now - launched.committed_at > STATS_WINDOW
    starts = [_parse(li.start_time) or launched.committed_at for li in items]
    ends = [_parse(li.end_time) for li in items]
    start = min([launched.committed_at, *starts])
    ended = None if any(e is None for e in ends) else max(e for e in ends if e is not None)
    horizon = now if ended is None else min(now, ended + BILLING_SETTLES_AFTER)
    settled = ended is not None and now >= ended + BILLING_SETTLES_AFTER
    until = _floor_hour(horizon) + _HOUR
    total = 0
    for lower, upper in _windows(start, until):
        total += await client.billed_micro(
            [li.id for li in items], start_time=lower, end_time=upper
        )
    return total, settled


async def sync_spend(client: XAdsClient, ledger: SqliteStore, *, now: datetime) -> int:
    """Record the increase of what X billed each launched campaign; the micros newly recorded."""
    added = 0
    for launched in _launched(ledger.ads_entries()):
        billed, final = await _billed(client, launched, now)
        increase = billed - launched.recorded_micro
        if increase <= 0 and not final:
            continue
        note = f"X billed {billed} micros in total"
        with ledger.transaction():
            ledger.add_ads_entry(
                launched.epoch_id,
                "spent",
                max(increase, 0),
                0,
                campaign_id=launched.campaign_id,
                note=f"{FINAL_NOTE}: {note}" if final else note,
            )
        added += max(increase, 0)
        log.info(
            "x_ads.spend_synced",
            campaign_id=launched.campaign_id,
            billed_micro=billed,
            new_micro=max(increase, 0),
            final=final,
        )
    return added
