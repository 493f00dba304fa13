"""SIGKILL the epoch right after each X Ads write of a launch, restart with `flywheel epoch`:
always exactly one campaign, complete and active, with the whole budget committed once.

Write N is answered by X (the sandbox) before the process dies, so X has done what the flywheel
never heard about: the restart must find it (the campaign by its name, the rest by reading the
campaign's line items, criteria and promoted posts) instead of making it again.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from flywheel.domain.epoch_state import EpochStatus
from flywheel.sandbox.runner import Sandbox
from tests.ads_e2e.harness import (
    ADS_MICRO_PER_EPOCH,
    WRITES_PER_LAUNCH,
    ads_env,
    ads_writes,
    assert_fully_launched,
    campaigns,
    crash_ads_command,
    ledger,
    pay_fees,
    report_ads,
)
from tests.e2e.harness import (
    CLI_TIMEOUT_S,
    check_identity,
    describe,
    epochs_in,
    finished_epochs,
    report_of,
    run_cli,
)

pytestmark = pytest.mark.slow


def _crash_ads(env_dir: Path, after_write: int) -> subprocess.CompletedProcess[str]:
    args, env = crash_ads_command(env_dir, after_write)
    return subprocess.run(
        args, cwd=env_dir, env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT_S
    )


@pytest.mark.parametrize("after_write", range(1, WRITES_PER_LAUNCH + 1))
def test_sigkill_after_any_x_ads_write_then_restart_leaves_exactly_one_campaign(
    box: Sandbox, tmp_path: Path, after_write: int
) -> None:
    pay_fees(box)
    env = ads_env(box, tmp_path)

    crashed = _crash_ads(tmp_path, after_write)
    assert crashed.returncode == -signal.SIGKILL, describe(crashed)
    assert f"killing after write {after_write}:" in crashed.stdout
    [epoch] = epochs_in(env)
    assert epoch.status is EpochStatus.RUNNING and "ads" not in epoch.steps_done
    assert len(campaigns(box)) == 1, "the first write makes the campaign"
    writes_before = len(ads_writes(box))
    assert writes_before == after_write

    resumed = run_cli(["epoch"], tmp_path)

    assert resumed.returncode == 0, describe(resumed)
    [done] = finished_epochs(env)
    assert done.id == epoch.id and done.status is EpochStatus.SUCCEEDED
    found = assert_fully_launched(box, epoch.id, ADS_MICRO_PER_EPOCH)
    assert len(campaigns(box)) == 1
    ads = report_ads(report_of(done))
    assert ads["campaign_id"] == found.campaign.id
    assert ads["detail"]["resumed"] is True
    # Across the crash, each entity was written once: the restart only did what was missing
    # (the two activations are PUTs that may repeat harmlessly when the crash fell between them).
    creates = [w for w in ads_writes(box) if w[0] == "POST"]
    assert len(creates) == WRITES_PER_LAUNCH - 2
    totals = ledger(env)
    assert totals["committed"] == totals["accrued"] == ADS_MICRO_PER_EPOCH
    assert totals["available"] == 0
    check_identity(finished_epochs(env))


def test_without_a_kill_the_launch_makes_exactly_the_writes_the_crash_cases_cover(
    box: Sandbox, tmp_path: Path
) -> None:
    pay_fees(box)
    ads_env(box, tmp_path)
    done = _crash_ads(tmp_path, 0)
    assert done.returncode == 0, describe(done)
    assert f"succeeded after {WRITES_PER_LAUNCH} writes" in done.stdout
