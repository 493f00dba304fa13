"""Each ADS_ENGINE_MODE end to end through `flywheel epoch`: dry-run plans, manual hands the spec
to the operator (and `flywheel ads mark-launched` records the campaign), api launches exactly one
campaign on the sandbox's X Ads API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flywheel.sandbox.runner import SANDBOX_POST_ID, Sandbox
from tests.ads_e2e.harness import (
    ADS_MICRO_PER_EPOCH,
    TARGETING,
    WRITES_PER_LAUNCH,
    ads_env,
    ads_writes,
    assert_fully_launched,
    campaigns,
    ledger,
    pay_fees,
    report_ads,
)
from tests.e2e.harness import check_identity, describe, finished_epochs, report_of, run_cli

pytestmark = pytest.mark.slow


def _spec_of(section: dict[str, object]) -> dict[str, object]:
    return {k: section[k] for k in ("budget_usd", "duration_hours", "targeting", "post_id")}


def test_dry_run_puts_the_spec_in_the_report_and_does_nothing_else(
    box: Sandbox, tmp_path: Path
) -> None:
    pay_fees(box)
    env = ads_env(box, tmp_path, mode="dry-run")

    result = run_cli(["epoch"], tmp_path)

    assert result.returncode == 0, describe(result)
    [epoch] = finished_epochs(env)
    ads = report_ads(report_of(epoch))
    assert ads["status"] == "planned"
    assert ads["budget_micro_usd"] == ADS_MICRO_PER_EPOCH
    assert _spec_of(ads) == {
        "budget_usd": 0.9,
        "duration_hours": 24,
        "targeting": TARGETING,
        "post_id": SANDBOX_POST_ID,
    }
    assert ads["campaign_id"] is None
    assert not list(Path(env["REPORTS_DIR"]).glob("ads-*.json")), "dry-run wrote a spec file"
    assert not box.x_ads.request_log, "dry-run called the X Ads API"
    check_identity(finished_epochs(env))
    # The plan committed nothing: the budget keeps accruing, and the next plan shows it all.
    assert ledger(env)["committed"] == 0
    assert ledger(env)["available"] == ADS_MICRO_PER_EPOCH
    pay_fees(box)
    again = run_cli(["epoch"], tmp_path)
    assert again.returncode == 0, describe(again)
    second = report_ads(report_of(finished_epochs(env)[-1]))
    assert second["status"] == "planned"
    assert second["budget_micro_usd"] == 2 * ADS_MICRO_PER_EPOCH
    assert ledger(env)["available"] == 2 * ADS_MICRO_PER_EPOCH
    assert ledger(env)["committed"] == 0


def test_manual_writes_the_spec_file_then_mark_launched_records_the_campaign(
    box: Sandbox, tmp_path: Path, inbox: tuple[str, list[dict[str, Any]]]
) -> None:
    pay_fees(box)
    url, received = inbox
    env = ads_env(box, tmp_path, mode="manual", NOTIFY_URLS=url)

    result = run_cli(["epoch"], tmp_path)

    assert result.returncode == 0, describe(result)
    [epoch] = finished_epochs(env)
    ads = report_ads(report_of(epoch))
    assert ads["status"] == "pending-operator"
    spec_path = Path(env["REPORTS_DIR"]) / f"ads-{epoch.id}.json"
    assert ads["detail"]["file"] == str(spec_path)
    document = json.loads(spec_path.read_text())
    assert document["status"] == "pending-operator"
    assert document["campaign_id"] is None
    assert document["spec"]["budget_micro_usd"] == ADS_MICRO_PER_EPOCH
    assert _spec_of(document["spec"]) == _spec_of(ads)
    assert not box.x_ads.request_log, "manual mode called the X Ads API"
    [note] = received  # the operator was told, with the spec and the command to run after
    assert "$0.90" in note["title"] and epoch.id in note["title"]
    assert f"flywheel ads mark-launched {epoch.id}" in note["message"]
    assert '"budget_micro_usd": 900000' in note["message"]

    pending = run_cli(["ads", "list"], tmp_path)
    assert pending.returncode == 0, describe(pending)
    assert _row(pending.stdout, epoch.id)[:4] == [epoch.id, "$0.90", "pending", "-"]

    marked = run_cli(["ads", "mark-launched", epoch.id, "--campaign-id", "123"], tmp_path)
    assert marked.returncode == 0, describe(marked)

    launched = run_cli(["ads", "list"], tmp_path)
    assert launched.returncode == 0, describe(launched)
    assert _row(launched.stdout, epoch.id)[:4] == [epoch.id, "$0.90", "launched", "123"]
    document = json.loads(spec_path.read_text())
    assert (document["status"], document["campaign_id"]) == ("launched", "123")
    assert ledger(env)["committed"] == ADS_MICRO_PER_EPOCH
    check_identity(finished_epochs(env))


def test_api_launches_exactly_one_active_campaign_with_the_budget_in_micros(
    box: Sandbox, tmp_path: Path
) -> None:
    pay_fees(box)
    env = ads_env(box, tmp_path)

    result = run_cli(["epoch"], tmp_path)

    assert result.returncode == 0, describe(result)
    [epoch] = finished_epochs(env)
    ads = report_ads(report_of(epoch))
    assert ads["status"] == "launched"
    assert ads["budget_micro_usd"] == ADS_MICRO_PER_EPOCH
    found = assert_fully_launched(box, epoch.id, ADS_MICRO_PER_EPOCH)
    assert [c.id for c in campaigns(box)] == [found.campaign.id]
    assert ads["campaign_id"] == found.campaign.id
    [item] = found.line_items
    assert ads["detail"]["line_item_id"] == item.id
    assert ads["detail"]["funding_instrument_id"] == found.campaign.funding_instrument_id
    assert ads["detail"]["resumed"] is False
    assert item.start_time is not None and item.end_time is not None
    hours = (_time(item.end_time) - _time(item.start_time)) / 3600
    assert hours == 24
    # Created PAUSED and activated last, one write per entity: nothing made twice.
    writes = ads_writes(box)
    assert len(writes) == WRITES_PER_LAUNCH
    assert [w[0] for w in writes[-2:]] == ["PUT", "PUT"]
    assert all(status == 200 for _, _, status in writes)
    totals = ledger(env)
    assert totals["committed"] == totals["accrued"] == ADS_MICRO_PER_EPOCH
    assert totals["available"] == 0
    check_identity(finished_epochs(env))


def _row(table: str, epoch_id: str) -> list[str]:
    """The cells of the one row of `flywheel ads list` for `epoch_id`."""
    [line] = [line for line in table.splitlines() if epoch_id in line]
    return [cell.strip() for cell in line.strip("│ ").split("│")]


def _time(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
