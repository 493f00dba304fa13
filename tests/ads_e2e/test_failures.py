"""When X refuses (bad OAuth credentials, no funding instrument able to pay): `flywheel epoch`
exits 1 with a clear error in the report, the ads budget stays accrued (not committed, not
lost), the buyback that already happened stands, and the failed epoch counts for the breaker."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from flywheel.domain.epoch_state import EpochStatus
from flywheel.sandbox.runner import Sandbox
from tests.ads_e2e.harness import (
    ADS_MICRO_PER_EPOCH,
    ads_env,
    ads_writes,
    assert_fully_launched,
    campaigns,
    ledger,
    pay_fees,
)
from tests.e2e.harness import (
    FLYWHEEL,
    check_identity,
    clean_environment,
    describe,
    finished_epochs,
    report_of,
    run_cli,
)

pytestmark = pytest.mark.slow

WRONG_SECRET = "not-the-consumer-secret-" + "q" * 26
SERVICE_START_TIMEOUT_S = 30.0


def _assert_failed_at_ads_with_budget_kept(
    env: dict[str, str], kind: str, *phrases: str
) -> dict[str, object]:
    [epoch] = finished_epochs(env)
    assert epoch.status is EpochStatus.FAILED
    report = report_of(epoch)
    assert report["status"] == "failed"
    [error] = report["errors"]
    assert (error["step"], error["kind"]) == ("ads", kind)
    for phrase in phrases:
        assert phrase in error["message"], error["message"]
    # The buyback before the ads step stands; the ads SOL is reserved in the ledger.
    assert epoch.buyback_spent_lamports > 0 and epoch.tokens_settled > 0
    assert epoch.ads_reserved_lamports > 0
    totals = ledger(env)
    assert totals["accrued"] == totals["available"] == ADS_MICRO_PER_EPOCH
    assert totals["committed"] == 0
    check_identity(finished_epochs(env))
    return report


def test_bad_oauth_credentials_fail_the_epoch_clearly_and_keep_the_budget(
    box: Sandbox, tmp_path: Path
) -> None:
    pay_fees(box)
    env = ads_env(box, tmp_path, X_ADS_CONSUMER_SECRET=WRONG_SECRET)

    result = run_cli(["epoch"], tmp_path)

    assert result.returncode == 1, describe(result)
    report = _assert_failed_at_ads_with_budget_kept(
        env, "XAdsAuthError", "rejected the credentials (401)", "X_ADS_CONSUMER_SECRET"
    )
    assert campaigns(box) == []
    assert [r.status for r in box.x_ads.request_log] == [401]  # refused at the first request
    shown = result.stdout + result.stderr + json.dumps(report)
    for secret in (WRONG_SECRET, env["X_ADS_ACCESS_TOKEN_SECRET"]):
        assert secret not in shown


def test_an_instrument_unable_to_fund_fails_clearly_then_a_later_epoch_launches_the_sum(
    box: Sandbox, tmp_path: Path
) -> None:
    pay_fees(box)
    env = ads_env(box, tmp_path)
    box.x_ads.update_faults({"unable_to_fund": True})

    result = run_cli(["epoch"], tmp_path)

    assert result.returncode == 1, describe(result)
    _assert_failed_at_ads_with_budget_kept(
        env, "XAdsFundingError", "not able to fund", "X Ads Manager"
    )
    assert campaigns(box) == [] and ads_writes(box) == [], "nothing created before the check"

    # Fixed by the operator: the next epoch's campaign carries the budget the failed one kept.
    box.x_ads.update_faults({"unable_to_fund": False})
    pay_fees(box)
    again = run_cli(["epoch"], tmp_path)
    assert again.returncode == 0, describe(again)
    _, second = finished_epochs(env)
    assert second.status is EpochStatus.SUCCEEDED
    assert_fully_launched(box, second.id, 2 * ADS_MICRO_PER_EPOCH)
    totals = ledger(env)
    assert totals["accrued"] == totals["committed"] == 2 * ADS_MICRO_PER_EPOCH
    assert totals["available"] == 0
    check_identity(finished_epochs(env))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_health(
    url: str, process: subprocess.Popen[str], want: str | None = None
) -> dict[str, object]:
    deadline = time.monotonic() + SERVICE_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"flywheel run exited {process.returncode}: {process.communicate()}")
        try:
            health: dict[str, object] = httpx.get(url, timeout=2).json()
        except httpx.TransportError:
            health = {}
        if health and (want is None or health.get("circuitBreaker") == want):
            return health
        time.sleep(0.1)
    pytest.fail(f"no health{'' if want is None else ' with the breaker ' + want} at {url}")


def test_the_service_counts_an_ads_failure_for_the_circuit_breaker(
    box: Sandbox, tmp_path: Path
) -> None:
    pay_fees(box)
    http_port = _free_port()
    env = ads_env(
        box,
        tmp_path,
        X_ADS_CONSUMER_SECRET=WRONG_SECRET,
        CIRCUIT_BREAKER_THRESHOLD="1",
        HTTP_PORT=str(http_port),
        METRICS_PORT=str(_free_port()),
    )
    health_url = f"http://127.0.0.1:{http_port}/health"
    process = subprocess.Popen(
        [str(FLYWHEEL), "run"],
        cwd=tmp_path,
        env=clean_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _wait_health(health_url, process)["circuitBreaker"] == "closed"
        trigger = httpx.post(
            f"http://127.0.0.1:{http_port}/webhook/trigger",
            headers={"Authorization": f"Bearer {env['WEBHOOK_SECRET']}"},
            timeout=5,
        )
        assert trigger.status_code == 202, trigger.text
        assert _wait_health(health_url, process, want="open")["circuitBreaker"] == "open"
    finally:
        process.terminate()
        process.communicate(timeout=30)
    [epoch] = finished_epochs(env)
    assert epoch.status is EpochStatus.FAILED
    assert [e.step for e in epoch.errors] == ["ads"]
    assert ledger(env)["available"] == ADS_MICRO_PER_EPOCH
