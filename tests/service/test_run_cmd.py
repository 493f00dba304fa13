"""`flywheel run` and `flywheel reset-circuit-breaker` as an operator runs them: subprocesses
with a .env, against the embedded sandbox (real RPC, real Jupiter-compatible API, real chain)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flywheel.domain.epoch_state import EpochStatus
from flywheel.persistence.store import SqliteStore
from flywheel.sandbox.runner import Sandbox
from flywheel.service.circuit_breaker import BreakerState, CircuitBreaker
from tests.e2e.harness import (
    describe,
    finished_epochs,
    flywheel_env,
    free_port,
    run_cli,
    start_service,
    stop_service,
    wait_for,
)
from tests.sandbox.harness import start_sandbox

pytestmark = pytest.mark.slow


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Sandbox]:
    sandbox = start_sandbox(tmp_path / "sandbox", slot_ms=50)
    try:
        yield sandbox
    finally:
        sandbox.stop()


def test_reset_circuit_breaker_command_works_while_the_service_is_down(
    box: Sandbox, tmp_path: Path
) -> None:
    env = flywheel_env(box, tmp_path)
    with SqliteStore.open(Path(env["STATE_DB_PATH"])) as store:
        CircuitBreaker(store, threshold=1).record_failure()
    result = run_cli(["reset-circuit-breaker"], tmp_path)
    assert result.returncode == 0, describe(result)
    assert "circuit breaker closed (was open)" in result.stdout
    with SqliteStore.open(Path(env["STATE_DB_PATH"])) as store:
        assert CircuitBreaker(store).state is BreakerState.CLOSED


def test_flywheel_run_serves_runs_a_triggered_epoch_and_stops_on_sigterm(
    box: Sandbox, tmp_path: Path
) -> None:
    box.traders.step(3)
    http_port, metrics_port = free_port(), free_port()
    env = flywheel_env(
        box,
        tmp_path,
        HTTP_PORT=str(http_port),
        METRICS_PORT=str(metrics_port),
        LOG_LEVEL="INFO",
    )
    base = f"http://127.0.0.1:{http_port}"
    service, log_path = start_service(tmp_path)
    try:
        wait_for(lambda: httpx.get(f"{base}/health", timeout=5).status_code == 200)
        health = httpx.get(f"{base}/health", timeout=5).json()
        assert health["lastEpoch"] is None and health["scheduler"] is False

        secret = env["WEBHOOK_SECRET"]
        accepted = httpx.post(
            f"{base}/webhook/trigger", headers={"Authorization": f"Bearer {secret}"}, timeout=30
        )
        assert accepted.status_code == 202, accepted.text
        epoch_id = accepted.json()["epochId"]
        wait_for(lambda: httpx.get(f"{base}/health", timeout=5).json()["lastEpochId"] == epoch_id)
        health = httpx.get(f"{base}/health", timeout=5).json()
        assert health["lastEpochStatus"] == "succeeded" and health["status"] == "healthy"

        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        assert 'flywheel_epochs_total{status="succeeded"} 1.0' in metrics
        assert 'flywheel_rpc_requests_total{method="sendTransaction",outcome="ok"}' in metrics
        assert "flywheel_executor_balance_lamports 0.0" not in metrics

        # A second service on the same state is refused; the CLI reset works beside it.
        second = run_cli(["run"], tmp_path, timeout=60)
        assert second.returncode == 1 and "another `flywheel run`" in second.stderr
        reset = run_cli(["reset-circuit-breaker"], tmp_path)
        assert reset.returncode == 0, describe(reset)

        os.kill(service.pid, signal.SIGTERM)
        assert service.wait(timeout=60) == 0, log_path.read_text()[-3000:]
    finally:
        stop_service(service)
    [epoch] = finished_epochs(env)
    assert epoch.id == epoch_id and epoch.status is EpochStatus.SUCCEEDED
    assert epoch.tokens_settled > 0
    output = log_path.read_text()
    assert "service.stopped" in output
    assert env["WEBHOOK_SECRET"] not in output


def test_flywheel_run_outlasts_a_trickling_rpc_and_the_next_epoch_runs(
    box: Sandbox, tmp_path: Path
) -> None:
    """An RPC that answers one byte at a time holds no epoch past RPC_CALL_DEADLINE_SECONDS:
    the service answers /health all along, records the failure, and runs the next epoch."""
    box.traders.step(3)
    http_port, metrics_port = free_port(), free_port()
    env = flywheel_env(
        box,
        tmp_path,
        HTTP_PORT=str(http_port),
        METRICS_PORT=str(metrics_port),
        RPC_TIMEOUT_SECONDS="1",
        RPC_CALL_DEADLINE_SECONDS="2",
    )
    base = f"http://127.0.0.1:{http_port}"
    auth = {"Authorization": f"Bearer {env['WEBHOOK_SECRET']}"}
    executor_sol = box.chain.balance(box.executor.pubkey())
    service, log_path = start_service(tmp_path)
    try:
        wait_for(lambda: httpx.get(f"{base}/health", timeout=5).status_code == 200)
        box.faults.update(rpc_trickle_ms=200)
        stalled = httpx.post(f"{base}/webhook/trigger", headers=auth, timeout=30)
        assert stalled.status_code == 202, stalled.text
        stalled_id = stalled.json()["epochId"]
        # While the epoch is stuck on the RPC, the service still answers at once.
        assert httpx.get(f"{base}/health", timeout=5).json()["status"] in {"healthy", "degraded"}
        wait_for(
            lambda: httpx.get(f"{base}/health", timeout=5).json()["lastEpochId"] == stalled_id,
            timeout=120,
        )
        health = httpx.get(f"{base}/health", timeout=5).json()
        assert health["lastEpochStatus"] == "failed", health
        box.faults.update(rpc_trickle_ms=0)
        assert box.chain.balance(box.executor.pubkey()) == executor_sol  # nothing spent

        healthy = httpx.post(f"{base}/webhook/trigger", headers=auth, timeout=30)
        assert healthy.status_code == 202, healthy.text
        healthy_id = healthy.json()["epochId"]
        wait_for(
            lambda: httpx.get(f"{base}/health", timeout=5).json()["lastEpochId"] == healthy_id,
            timeout=120,
        )
        assert httpx.get(f"{base}/health", timeout=5).json()["lastEpochStatus"] == "succeeded"
        os.kill(service.pid, signal.SIGTERM)
        assert service.wait(timeout=60) == 0, log_path.read_text()[-3000:]
    finally:
        box.faults.update(rpc_trickle_ms=0)
        stop_service(service)
    stalled_epoch, healthy_epoch = finished_epochs(env)
    assert any("RPC_CALL_DEADLINE_SECONDS" in e.message for e in stalled_epoch.errors)
    assert healthy_epoch.status is EpochStatus.SUCCEEDED and healthy_epoch.tokens_settled > 0
