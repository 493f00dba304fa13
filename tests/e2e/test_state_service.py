"""Issue 11, item 5, for `flywheel run` as a subprocess against the sandbox: a state file deleted
under the running service makes it unhealthy and stops it; an interrupted epoch is resumed as
soon as the service starts."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest

from flywheel.domain.epoch_state import EpochStatus
from flywheel.sandbox.runner import Sandbox
from tests.e2e.harness import (
    ChainView,
    check_identity,
    describe,
    epochs_in,
    flywheel_env,
    free_port,
    run_crash_epoch,
    start_service,
    state_db,
    stop_service,
    wait_for,
)

pytestmark = pytest.mark.slow


def test_a_state_file_deleted_under_the_service_stops_it_unhealthy(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    port = free_port()
    env = flywheel_env(
        sandbox, tmp_path, HTTP_PORT=str(port), METRICS_PORT=str(free_port()), LOG_LEVEL="INFO"
    )
    service, log_path = start_service(tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(f"{base}/health", timeout=5).status_code == 200)
        state_db(env).unlink()
        answer = httpx.get(f"{base}/health", timeout=5)
        assert answer.status_code == 503
        assert "was deleted" in " ".join(answer.json()["reasons"])
        assert service.wait(timeout=60) == 1, log_path.read_text()[-3000:]
    finally:
        stop_service(service)
    output = log_path.read_text()
    assert "service.state_file_gone" in output
    assert "Traceback" not in output


def test_an_interrupted_epoch_is_resumed_as_soon_as_the_service_starts(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    view = ChainView(sandbox)
    sandbox.traders.step(3)
    env = flywheel_env(
        sandbox,
        tmp_path,
        HTTP_PORT=str(free_port()),
        METRICS_PORT=str(free_port()),
        ENABLE_SCHEDULER="true",
        EPOCH_INTERVAL_SECONDS="3600",
    )
    supply = view.supply()
    crashed = run_crash_epoch(tmp_path, after_step="buyback.send")
    assert crashed.returncode == -signal.SIGKILL, describe(crashed)
    [interrupted] = epochs_in(env)
    assert interrupted.status is EpochStatus.RUNNING

    service, log_path = start_service(tmp_path)
    try:
        wait_for(lambda: epochs_in(env)[0].status is not EpochStatus.RUNNING)
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=60) == 0, log_path.read_text()[-3000:]
    finally:
        stop_service(service)
    epochs = epochs_in(env)
    assert [e.id for e in epochs] == [interrupted.id], "resumed, not a new epoch"
    assert epochs[0].status is EpochStatus.SUCCEEDED, epochs[0].errors
    assert view.supply() == supply - epochs[0].tokens_settled
    check_identity(epochs)
