"""The circuit breaker: stop running epochs after repeated failures, try again later.

    closed --(THRESHOLD consecutive failed epochs)--> open
    open --(TIMEOUT seconds)--> half-open: ONE trial epoch is let through
    half-open --trial succeeds--> closed;  --trial fails--> open (a new timeout)

The state lives in the state database (one JSON row) and is read back on every question, so a
restart keeps an open breaker open until its timeout has elapsed (the runbook's "restart
auto-resets if the timeout elapsed": it is then half-open), and `flywheel reset-circuit-breaker`
run beside a live service takes effect at once. Half-open is never stored: it is "open, and the
timeout has passed". Only the trial in progress is kept in memory: a process that dies during the
trial comes back half-open and tries again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

import structlog

log = structlog.get_logger("flywheel.breaker")


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class BreakerStore(Protocol):
    """Where the breaker keeps its state (SqliteStore implements it)."""

    def breaker_state(self) -> str | None: ...
    def save_breaker_state(self, json: str) -> None: ...


@dataclass(frozen=True)
class _Stored:
    failures: int = 0  # consecutive failed epochs
    opened_at: float | None = None  # unix seconds; None while closed

    @classmethod
    def parse(cls, text: str | None) -> _Stored:
        if not text:
            return cls()
        try:
            data = json.loads(text)
            opened = data.get("opened_at")
            return cls(
                failures=int(data.get("failures", 0)),
                opened_at=None if opened is None else float(opened),
            )
        except (ValueError, TypeError, AttributeError):
            # A damaged row must not wedge the service: fail safe to open, now.
            log.error("breaker.state_unreadable", stored=text[:200])
            return cls(failures=0, opened_at=time.time())

    def dump(self) -> str:
        return json.dumps({"failures": self.failures, "opened_at": self.opened_at})


@dataclass(frozen=True)
class Transition:
    """A change of state caused by one call, for notifications and metrics."""

    before: BreakerState
    after: BreakerState

    @property
    def changed(self) -> bool:
        return self.before is not self.after


class CircuitBreaker:
    def __init__(
        self,
        store: BreakerStore,
        *,
        threshold: int = 3,
        timeout_seconds: float = 3600,
        now: Callable[[], float] = time.time,
    ) -> None:
        if threshold < 1:
            raise ValueError("threshold must be at least 1")
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        self._store = store
        self.threshold = threshold
        self.timeout_seconds = timeout_seconds
        self._now = now
        self._trial_running = False

    # --- reading ------------------------------------------------------------------------

    def _load(self) -> _Stored:
        return _Stored.parse(self._store.breaker_state())

    def _state_of(self, stored: _Stored) -> BreakerState:
        if stored.opened_at is None:
            return BreakerState.CLOSED
        if self._now() - stored.opened_at >= self.timeout_seconds:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    @property
    def state(self) -> BreakerState:
        return self._state_of(self._load())

    @property
    def failures(self) -> int:
        """Consecutive failed epochs counted so far."""
        return self._load().failures

    @property
    def retry_at(self) -> datetime | None:
        """When an open breaker turns half-open; None unless open."""
        stored = self._load()
        if self._state_of(stored) is not BreakerState.OPEN or stored.opened_at is None:
            return None
        return datetime.fromtimestamp(stored.opened_at + self.timeout_seconds, UTC)

    # --- gating -------------------------------------------------------------------------

    def allow(self) -> bool:
        """May an epoch start now? In half-open this grants the one trial; pair it with
        `record_success`, `record_failure` or `release`."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._trial_running:
            self._trial_running = True
            log.info("breaker.half_open_trial")
            return True
        return False

    def release(self) -> None:
        """An allowed epoch did not run after all (cancelled before it started): give the
        trial back without judging it."""
        self._trial_running = False

    # --- recording ----------------------------------------------------------------------

    def record_success(self) -> Transition:
        stored = self._load()
        before = self._state_of(stored)
        self._trial_running = False
        if stored != _Stored():
            self._store.save_breaker_state(_Stored().dump())
        if before is not BreakerState.CLOSED:
            log.info("Circuit breaker CLOSED", previous=before.value)
        return Transition(before, BreakerState.CLOSED)

    def record_failure(self) -> Transition:
        stored = self._load()
        before = self._state_of(stored)
        self._trial_running = False
        failures = stored.failures + 1
        now = self._now()
        if before is BreakerState.HALF_OPEN or (
            before is BreakerState.CLOSED and failures >= self.threshold
        ):
            opened = _Stored(failures=failures, opened_at=now)
            self._store.save_breaker_state(opened.dump())
            log.error(
                "Circuit breaker OPEN",
                consecutive_failures=failures,
                threshold=self.threshold,
                retry_at=datetime.fromtimestamp(now + self.timeout_seconds, UTC).isoformat(),
            )
            return Transition(before, BreakerState.OPEN)
        # Still closed (below the threshold), or already open (an epoch that started before
        # it opened, e.g. from the CLI): count it, keep the original opening time.
        self._store.save_breaker_state(_Stored(failures, stored.opened_at).dump())
        return Transition(before, before)

    def reset(self) -> Transition:
        """The operator's reset (webhook or CLI): closed, failures forgotten."""
        before = self.state
        self._trial_running = False
        self._store.save_breaker_state(_Stored().dump())
        log.warning("breaker.reset", previous=before.value)
        return Transition(before, BreakerState.CLOSED)
