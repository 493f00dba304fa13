"""The ads engine end to end: `flywheel epoch` (a subprocess) against a fresh sandbox per test,
whose X-Ads-compatible API is read back directly (`sandbox.x_ads.store`) for the assertions.

Fees are paid with exact airdrops to the fee collector, so budgets are known in advance:
0.02 SOL of fees, 30% of it for ads, at the sandbox's $150/SOL = $0.90 = 900_000 micro-USD.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flywheel.persistence.store import SqliteStore
from flywheel.sandbox.runner import SANDBOX_POST_ID, Sandbox
from flywheel.sandbox.x_ads.entities import Campaign, LineItem, PromotedTweet, TargetingCriterion
from tests.e2e.harness import REPO, clean_environment, flywheel_env

CRASH_ADS_SCRIPT = Path(__file__).with_name("crash_ads.py")
FEE_LAMPORTS = 20_000_000  # 0.02 SOL per epoch
ADS_MICRO_PER_EPOCH = 900_000  # 30% of 0.02 SOL at $150/SOL
TARGETING: dict[str, list[str]] = {
    "locations": ["96683cc9126741d1"],  # X's location key for the United States
    "languages": ["en"],
    "interests": ["10026"],
    "keywords": ["solana"],
}
EXPECTED_CRITERIA = {
    ("LOCATION", "96683cc9126741d1"),
    ("LANGUAGE", "en"),
    ("INTEREST", "10026"),
    ("BROAD_KEYWORD", "solana"),
}
# POST campaign, POST line item, 4 x POST targeting, POST promoted post, PUT line item, PUT campaign
WRITES_PER_LAUNCH = 2 + len(EXPECTED_CRITERIA) + 1 + 2


def pay_fees(box: Sandbox, lamports: int = FEE_LAMPORTS) -> None:
    box.chain.airdrop(box.fee_collector, lamports)


def ads_env(box: Sandbox, directory: Path, mode: str = "api", **overrides: str) -> dict[str, str]:
    """The bot's .env for `mode`: the sandbox's X Ads API and credentials, a campaign minimum
    below one epoch's budget, and targeting of every kind."""
    settings = {
        "ADS_ENGINE_MODE": mode,
        "ADS_MIN_BUDGET_USD": "0.5",
        "ADS_TARGETING": json.dumps(TARGETING, separators=(",", ":")),
        **overrides,
    }
    return flywheel_env(box, directory, **settings)


@dataclass(frozen=True)
class Launched:
    campaign: Campaign
    line_items: list[LineItem]
    criteria: list[TargetingCriterion]
    promoted: list[PromotedTweet]


def campaigns(box: Sandbox) -> list[Campaign]:
    with box.x_ads.store.lock:
        return [c for c in box.x_ads.store.campaigns.values() if not c.deleted]


def launched(box: Sandbox, epoch_id: str) -> Launched:
    """The one campaign of `epoch_id` and everything under it (fails unless exactly one)."""
    store = box.x_ads.store
    with store.lock:
        named = [c for c in store.campaigns.values() if c.name == f"flywheel {epoch_id}"]
        assert len(named) == 1, f"{len(named)} campaigns for epoch {epoch_id}"
        [campaign] = named
        items = [li for li in store.line_items.values() if li.campaign_id == campaign.id]
        ids = {li.id for li in items}
        criteria = [t for t in store.criteria.values() if t.line_item_id in ids]
        promoted = [p for p in store.promoted.values() if p.line_item_id in ids]
    return Launched(campaign, items, criteria, promoted)


def assert_fully_launched(box: Sandbox, epoch_id: str, budget_micro: int) -> Launched:
    """Exactly one ACTIVE campaign of `budget_micro`, one ACTIVE line item, each targeting
    criterion once, and the sandbox's post promoted once: nothing missing, nothing twice."""
    found = launched(box, epoch_id)
    campaign = found.campaign
    assert campaign.entity_status == "ACTIVE"
    assert campaign.total_budget_amount_local_micro == budget_micro
    assert campaign.daily_budget_amount_local_micro == budget_micro  # 24 h: one day
    assert campaign.currency == "USD"
    [item] = found.line_items
    assert item.entity_status == "ACTIVE"
    assert item.objective == "ENGAGEMENTS"
    assert item.product_type == "PROMOTED_TWEETS"
    assert item.placements == ["ALL_ON_TWITTER"]
    criteria = [(t.targeting_type, t.targeting_value) for t in found.criteria]
    assert sorted(criteria) == sorted(EXPECTED_CRITERIA), "a criterion missing or twice"
    [promoted] = found.promoted
    assert promoted.tweet_id == SANDBOX_POST_ID
    return found


def ledger(env: dict[str, str]) -> dict[str, int]:
    """The ads ledger's totals by kind, plus `available`."""
    with SqliteStore.open(Path(env["STATE_DB_PATH"])) as store:
        totals = store.ads_balance()
        totals["available"] = store.ads_available_micro_usd()
    return totals


def ads_writes(box: Sandbox, since: int = 0) -> list[tuple[str, str, int]]:
    """(method, path, status) of the X Ads API writes the sandbox answered, from request
    number `since` of its log on."""
    log = list(box.x_ads.request_log)[since:]
    return [(r.method, r.path, r.status) for r in log if r.method in ("POST", "PUT", "DELETE")]


def crash_ads_command(env_dir: Path, after_write: int) -> tuple[list[str], dict[str, str]]:
    """argv and environment of tests/ads_e2e/crash_ads.py for `env_dir`'s .env."""
    args = [sys.executable, str(CRASH_ADS_SCRIPT), str(env_dir / ".env")]
    args += ["--after-write", str(after_write)]
    env = clean_environment()
    env["PYTHONPATH"] = str(REPO / "src")
    return args, env


def report_ads(report: dict[str, Any]) -> dict[str, Any]:
    section: dict[str, Any] = report["execution"]["ads"]
    return section
