"""GET /health: the runbook's fields and ours, and each reason for a 503."""

from __future__ import annotations

import re
import time
from dataclasses import replace

from flywheel.domain.epoch_state import EpochStatus
from flywheel.service.circuit_breaker import BreakerState
from flywheel.service.health import HealthFacts, health_report
from tests.core.fakes import EpochWorld
from tests.service.harness import make_service, serving

ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


class Clock:
    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


async def test_health_fields_before_and_after_an_epoch(world: EpochWorld) -> None:
    service = make_service(world, enable_scheduler=True, interval_seconds=3600)
    code, body = service.health()  # before serving: no epoch yet, no schedule yet
    assert code == 200 and body["status"] == "healthy"
    assert body["lastEpoch"] is None and body["lastEpochStatus"] is None
    assert body["nextEpoch"] is None
    async with serving(service) as run:
        response = await run.http.get("/health")
        body = response.json()
        assert response.status_code == 200 and body["status"] == "healthy"
        assert body["circuitBreaker"] == "closed"
        assert isinstance(body["uptime"], int) and body["uptime"] >= 0
        assert body["mode"] == "live" and body["adsMode"] == "dry-run"
        assert body["version"] == service.options.version
        assert body["webhooks"] == "enabled" and body["scheduler"] is True
        assert ISO_Z.match(body["nextEpoch"]), body["nextEpoch"]

        # The scheduler's first epoch is due at once (no epoch before); wait for it.
        for _ in range(200):
            body = (await run.http.get("/health")).json()
            if body["lastEpoch"] is not None:
                break
            await run.http.get("/health")
        assert ISO_Z.match(body["lastEpoch"]), body
        assert body["lastEpochStatus"] == "succeeded"
        assert body["lastSuccessfulEpoch"] == body["lastEpoch"]
        assert ISO_Z.match(body["nextEpoch"])
        assert world.store is not None
        last = world.store.last_finished_epoch(service.mode)
        assert last is not None and body["lastEpochId"] == last.id


async def test_unhealthy_while_the_breaker_is_open(world: EpochWorld) -> None:
    service = make_service(world, threshold=1)
    service.breaker.record_failure()
    async with serving(service) as run:
        response = await run.http.get("/health")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unhealthy" and body["circuitBreaker"] == "open"
        assert body["reasons"] == ["circuit breaker is open"]


async def test_stale_after_three_intervals_but_not_during_the_first(world: EpochWorld) -> None:
    clock = Clock()
    interval = 600
    world.now = clock  # the epochs' timestamps follow the same clock
    service = make_service(world, now=clock, enable_scheduler=True, interval_seconds=interval)
    state = await service.run_scheduled()
    assert state is not None and state.status is EpochStatus.SUCCEEDED
    assert state.finished_at is not None
    last_success = state.finished_at.timestamp()

    # A service started long after the last success gets one interval to run an epoch.
    clock.t = last_success + 10 * interval
    restarted = make_service(world, now=clock, enable_scheduler=True, interval_seconds=interval)
    code, body = restarted.health()
    assert code == 200 and body["status"] == "healthy"
    clock.t += interval
    code, body = restarted.health()
    assert code == 503 and body["status"] == "unhealthy"
    assert "three intervals" in body["reasons"][0]

    # Within three intervals of the last success: healthy.
    clock.t = restarted.started_at + interval
    assert clock.t - last_success > 3 * interval
    newer = await restarted.run_scheduled()
    assert newer is not None and newer.finished_at is not None
    clock.t = max(clock.t, newer.finished_at.timestamp()) + 3 * interval - 1
    assert restarted.health()[0] == 200
    clock.t += 2
    assert restarted.health()[0] == 503

    # Without a scheduler nobody expects a cadence: never stale.
    manual = make_service(world, now=clock, enable_scheduler=False, interval_seconds=interval)
    clock.t += 100 * interval
    assert manual.health()[0] == 200


def test_half_open_is_healthy_and_an_unreadable_state_is_not() -> None:
    facts = HealthFacts(
        now=1000.0,
        started_at=0.0,
        breaker=BreakerState.HALF_OPEN,
        last=None,
        last_success_at=None,
        scheduler=False,
        period_seconds=60,
        next_epoch=None,
        running=False,
        current_epoch=None,
        version="x",
        mode="live",
        ads_mode="dry-run",
        webhooks=False,
    )
    code, body = health_report(facts)
    assert code == 200 and body["circuitBreaker"] == "half-open"
    code, body = health_report(replace(facts, breaker=None, error="state database unreadable"))
    assert code == 503 and body["reasons"] == ["state database unreadable"]
