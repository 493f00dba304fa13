"""When X refuses (bad OAuth credentials, no funding instrument able to pay): `flywheel epoch`
exits 1 with a clear error in the report, the ads budget stays accrued (not committed, not
lost), and the buyback that already happened stands: the epoch is `ads-failed`, not `failed`.

The rule changed deliberately (issue 15): an ads failure fails the ads step, not the buyback, so
it does NOT count toward or open the circuit breaker. It has its own count (the consecutive
epochs whose ads step failed, read from the state), a metric and an alert rule, and the operator
is notified."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

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
    assert epoch.status is EpochStatus.ADS_FAILED
    report = report_of(epoch)
    assert report["status"] == "ads-failed"
    # The buyback's results stand in the report.
    assert report["execution"]["buyback"]["spent_lamports"] == epoch.buyback_spent_lamports > 0
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


def _metrics(port: int) -> dict[str, float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def _trigger_and_wait(base: str, secret: str, env: dict[str, str], count: int) -> None:
    trigger = httpx.post(
        f"{base}/webhook/trigger", headers={"Authorization": f"Bearer {secret}"}, timeout=5
    )
    assert trigger.status_code == 202, trigger.text
    deadline = time.monotonic() + SERVICE_START_TIMEOUT_S * 2
    while len(finished_epochs(env)) < count or httpx.get(f"{base}/health").json()["epochRunning"]:
        assert time.monotonic() < deadline, "the triggered epoch did not finish"
        time.sleep(0.1)


def test_an_ads_failure_does_not_open_the_breaker_it_has_its_own_count_and_alert(
    box: Sandbox, tmp_path: Path, inbox: tuple[str, list[dict[str, Any]]]
) -> None:
    http_port, metrics_port = _free_port(), _free_port()
    url, received = inbox
    env = ads_env(
        box,
        tmp_path,
        X_ADS_CONSUMER_SECRET=WRONG_SECRET,
        CIRCUIT_BREAKER_THRESHOLD="1",  # one counted failure would open it
        HTTP_PORT=str(http_port),
        METRICS_PORT=str(metrics_port),
        NOTIFY_URLS=url,
    )
    base = f"http://127.0.0.1:{http_port}"
    process = subprocess.Popen(
        [str(FLYWHEEL), "run"],
        cwd=tmp_path,
        env=clean_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _wait_health(f"{base}/health", process)["circuitBreaker"] == "closed"
        assert _metrics(metrics_port)["flywheel_ads_consecutive_failures"] == 0
        for n in (1, 2):
            pay_fees(box)
            _trigger_and_wait(base, env["WEBHOOK_SECRET"], env, n)
            health = httpx.get(f"{base}/health", timeout=5).json()
            assert health["circuitBreaker"] == "closed", health
            assert health["lastEpochStatus"] == "ads-failed"
            values = _metrics(metrics_port)
            assert values["flywheel_ads_consecutive_failures"] == n
            assert values["flywheel_ads_failures_total"] == n
            assert values['flywheel_epochs_total{status="ads-failed"}'] == n
            assert values['flywheel_epochs_total{status="failed"}'] == 0
            assert values["flywheel_circuit_breaker_state"] == 0
        deadline = time.monotonic() + 10
        while len([m for m in received if "ads step" in m["title"]]) < 2:
            assert time.monotonic() < deadline, received
            time.sleep(0.1)
    finally:
        process.terminate()
        process.communicate(timeout=30)
    epochs = finished_epochs(env)
    assert [e.status for e in epochs] == [EpochStatus.ADS_FAILED] * 2
    assert all([e.step for e in epoch.errors] == ["ads"] for epoch in epochs)
    assert all(e.buyback_spent_lamports > 0 for e in epochs)  # the buybacks stand
    notes = [m for m in received if "ads step" in m["title"]]
    assert {epochs[0].id in notes[0]["title"], epochs[1].id in notes[1]["title"]} == {True}
    assert "does not count toward the circuit breaker" in notes[0]["message"]
    assert WRONG_SECRET not in json.dumps(received)
    assert not any("circuit breaker OPEN" in m["title"] for m in received)
    assert ledger(env)["available"] == 2 * ADS_MICRO_PER_EPOCH  # nothing committed
    check_identity(epochs)

    # Persisted: `flywheel status` (a new process) reads the count from the state; the next
    # epoch whose ads step works sets it back to 0.
    status = run_cli(["status"], tmp_path)
    assert "2 epoch(s) in a row" in status.stdout, describe(status)
    fixed = ads_env(box, tmp_path, NOTIFY_URLS=url)
    assert fixed["X_ADS_CONSUMER_SECRET"] != WRONG_SECRET
    assert run_cli(["epoch"], tmp_path).returncode == 0
    assert finished_epochs(env)[-1].status is EpochStatus.SUCCEEDED
    assert "epoch(s) in a row" not in run_cli(["status"], tmp_path).stdout
