"""The circuit breaker's whole cycle, persisted: new objects on the same state file stand for a
restart, and a movable clock stands for the passing of the timeout."""

from __future__ import annotations

from pathlib import Path

from structlog.testing import capture_logs

from flywheel.domain.epoch_state import EpochStatus
from flywheel.persistence.store import SqliteStore
from flywheel.service.circuit_breaker import BreakerState, CircuitBreaker
from tests.core.fakes import EpochWorld
from tests.service.harness import make_service


class Clock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t


def state_of(b: CircuitBreaker) -> BreakerState:
    # A call, not the property: mypy would otherwise narrow it across the assertions.
    return b.state


def breaker(store: SqliteStore, clock: Clock, threshold: int = 3) -> CircuitBreaker:
    return CircuitBreaker(store, threshold=threshold, timeout_seconds=3600, now=clock)


def test_whole_cycle_across_restarts(tmp_path: Path) -> None:
    db, clock = tmp_path / "state.sqlite", Clock()
    with SqliteStore.open(db) as store:
        b = breaker(store, clock)
        assert state_of(b) is BreakerState.CLOSED and b.allow()
        b.record_failure()
        b.record_failure()
        assert state_of(b) is BreakerState.CLOSED and b.failures == 2
        with capture_logs() as logs:
            transition = b.record_failure()
        assert transition.changed and transition.after is BreakerState.OPEN
        assert any(e["event"] == "Circuit breaker OPEN" for e in logs)
        assert not b.allow()

    # Restart before the timeout: still open.
    clock.t += 3599
    with SqliteStore.open(db) as store:
        b = breaker(store, clock)
        assert state_of(b) is BreakerState.OPEN and not b.allow()
        assert b.retry_at is not None and b.retry_at.timestamp() == 1_800_000_000 + 3600

    # Restart after the timeout: half-open, exactly one trial.
    clock.t += 1
    with SqliteStore.open(db) as store:
        b = breaker(store, clock)
        assert state_of(b) is BreakerState.HALF_OPEN
        assert b.allow() and not b.allow(), "half-open lets ONE trial through"
        # The trial fails: open again, for a whole new timeout.
        with capture_logs() as logs:
            assert b.record_failure().after is BreakerState.OPEN
        assert any(e["event"] == "Circuit breaker OPEN" for e in logs)
        clock.t += 3599
        assert state_of(b) is BreakerState.OPEN and not b.allow()
        clock.t += 1
        assert b.allow()
        # The trial succeeds: closed, failures forgotten.
        assert b.record_success().after is BreakerState.CLOSED

    with SqliteStore.open(db) as store:
        b = breaker(store, clock)
        assert state_of(b) is BreakerState.CLOSED and b.failures == 0 and b.allow()


def test_only_consecutive_failures_count(tmp_path: Path) -> None:
    with SqliteStore.open(tmp_path / "s.sqlite") as store:
        b = breaker(store, Clock())
        for _ in range(5):
            b.record_failure()
            b.record_failure()
            b.record_success()
        assert state_of(b) is BreakerState.CLOSED and b.failures == 0


def test_reset_closes_an_open_breaker_for_every_reader(tmp_path: Path) -> None:
    db, clock = tmp_path / "s.sqlite", Clock()
    with SqliteStore.open(db) as service_store, SqliteStore.open(db) as cli_store:
        service_breaker = breaker(service_store, clock, threshold=1)
        service_breaker.record_failure()
        assert state_of(service_breaker) is BreakerState.OPEN
        # `flywheel reset-circuit-breaker` in another process, on the same database:
        assert breaker(cli_store, clock).reset().before is BreakerState.OPEN
        assert state_of(service_breaker) is BreakerState.CLOSED and service_breaker.allow()


def test_a_damaged_row_fails_safe_to_open(tmp_path: Path) -> None:
    with SqliteStore.open(tmp_path / "s.sqlite") as store:
        store.save_breaker_state("{not json")
        b = CircuitBreaker(store, threshold=3, timeout_seconds=60)
        assert state_of(b) is BreakerState.OPEN


async def test_real_failed_epochs_open_it_and_a_trial_after_restart_closes_it(
    world: EpochWorld,
) -> None:
    clock = Clock()
    world.failing = True  # the guard refuses every swap: each epoch ends FAILED
    service = make_service(world, now=clock)
    with capture_logs() as logs:
        for _ in range(3):
            state = await service.run_scheduled()
            assert state is not None and state.status is EpochStatus.FAILED
    assert state_of(service.breaker) is BreakerState.OPEN
    assert any(e["event"] == "Circuit breaker OPEN" for e in logs)
    assert service.metrics.sample("flywheel_circuit_breaker_state") == 1.0
    assert await service.run_scheduled() is None, "an open breaker runs no epoch"
    assert world.runs == 3
    assert service.metrics.sample("flywheel_epochs_skipped_total", {"reason": "breaker-open"}) == 1

    # Restart (a new service on the same state file) after the timeout: the trial runs.
    world.failing = False
    clock.t += 3600
    restarted = make_service(world, now=clock)
    assert state_of(restarted.breaker) is BreakerState.HALF_OPEN
    assert restarted.metrics.sample("flywheel_circuit_breaker_state") == 0.5
    state = await restarted.run_scheduled()
    assert state is not None and state.status is EpochStatus.SUCCEEDED
    assert state_of(restarted.breaker) is BreakerState.CLOSED
    assert restarted.metrics.sample("flywheel_circuit_breaker_state") == 0.0
    await restarted.alerts.drain()
    await service.alerts.drain()
