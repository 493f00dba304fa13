"""What GET /health says, from facts the service gathers: pure, so every rule is testable.

    200 {"status": "healthy", ...}     503 {"status": "unhealthy", ..., "reasons": [...]}

Unhealthy while the circuit breaker is OPEN (half-open is not: a trial epoch is allowed), or
when the last successful epoch is older than three periods (interval + jitter). That second rule
waits one period after start-up, so a service restarted after a long stop gets the chance to
run an epoch first, and is off without the scheduler (nobody promised a cadence then).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flywheel.domain.epoch_state import EpochState
from flywheel.domain.slices import next_slice, slices_done
from flywheel.service.circuit_breaker import BreakerState


def iso_z(moment: datetime | None) -> str | None:
    """ISO-8601 in UTC with a Z, to the second, as /health shows times."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_the_minute(shown: object) -> object:
    """An ISO time as /health shows it (to the second), cut to the minute; others unchanged."""
    if not isinstance(shown, str):
        return shown
    try:
        moment = datetime.strptime(shown, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return shown
    return moment.strftime("%Y-%m-%dT%H:%M:00Z")


@dataclass(frozen=True)
class HealthFacts:
    now: float
    started_at: float
    breaker: BreakerState | None  # None: the state database could not be read
    last: EpochState | None  # the last finished epoch, any status
    last_success_at: datetime | None
    scheduler: bool
    period_seconds: float  # interval + jitter
    next_epoch: datetime | None
    running: bool
    current_epoch: str | None
    version: str
    mode: str
    ads_mode: str
    webhooks: bool
    error: str | None = None
    window: EpochState | None = None  # the unfinished epoch, when it is in its buyback window


def buyback_window(state: EpochState | None) -> dict[str, Any] | None:
    """An epoch inside its buyback window (sliced buyback): how far it is, and the next slice."""
    if state is None or not state.window_open:
        return None
    upcoming = next_slice(state.slices)
    return {
        "epoch": state.id,
        "slicesDone": slices_done(state.slices),
        "slicesTotal": len(state.slices),
        "nextSliceAt": None if upcoming is None else iso_z(upcoming.at),
    }


def without_schedule(body: dict[str, Any]) -> dict[str, Any]:
    """/health without the secret: the next slice's time is the secret the random times keep
    from a searcher, so it is not shown (not even to the minute)."""
    window = body.get("buybackWindow")
    if not isinstance(window, dict):
        return body
    return {**body, "buybackWindow": {**window, "nextSliceAt": None}}


def staleness(facts: HealthFacts) -> str | None:
    """Why the epochs are overdue, or None."""
    uptime = facts.now - facts.started_at
    if not facts.scheduler or uptime < facts.period_seconds:
        return None
    success = facts.last_success_at
    age = facts.now - (facts.started_at if success is None else success.timestamp())
    if age <= 3 * facts.period_seconds:
        return None
    return f"no successful epoch for {int(age)} s (more than three intervals)"


def health_report(facts: HealthFacts) -> tuple[int, dict[str, Any]]:
    reasons: list[str] = []
    if facts.error is not None:
        reasons.append(facts.error)
    if facts.breaker is BreakerState.OPEN:
        reasons.append("circuit breaker is open")
    stale = staleness(facts)
    if stale is not None:
        reasons.append(stale)
    last = facts.last
    body: dict[str, Any] = {
        "status": "unhealthy" if reasons else "healthy",
        "uptime": int(max(0.0, facts.now - facts.started_at)),
        "lastEpoch": iso_z(last.finished_at) if last is not None else None,
        "circuitBreaker": None if facts.breaker is None else facts.breaker.value,
        "version": facts.version,
        "mode": facts.mode,
        "adsMode": facts.ads_mode,
        "lastEpochStatus": last.status.value if last is not None else None,
        "lastEpochId": last.id if last is not None else None,
        "lastSuccessfulEpoch": iso_z(facts.last_success_at),
        "nextEpoch": iso_z(facts.next_epoch),
        "epochRunning": facts.running,
        "currentEpoch": facts.current_epoch,
        "scheduler": facts.scheduler,
        "webhooks": "enabled" if facts.webhooks else "disabled",
        "buybackWindow": buyback_window(facts.window),
    }
    if reasons:
        body["reasons"] = reasons
    return (503 if reasons else 200), body
