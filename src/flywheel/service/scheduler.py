"""The epoch schedule: every EPOCH_INTERVAL_SECONDS plus a random 0..EPOCH_JITTER_SECONDS.

The jitter comes from the system's CSPRNG (`random.SystemRandom`): a front-runner who knows the
interval still cannot tell the second an epoch buys. The first epoch is due one interval after
the last finished one (now, if that is past or there is none), so a restart neither skips an
epoch nor runs a burst of them, and an epoch interrupted by a crash resumes at once.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import structlog

log = structlog.get_logger("flywheel.scheduler")

_SYSTEM_RANDOM = random.SystemRandom()


def jittered(interval: float, jitter: float, uniform: Callable[[float, float], float]) -> float:
    """One interval plus a draw in [0, jitter]."""
    return interval + (uniform(0.0, jitter) if jitter > 0 else 0.0)


class Scheduler:
    """Calls `tick` on the schedule until `stop()`; `tick` must not raise (the service's
    `run_scheduled` logs and counts its own failures)."""

    def __init__(
        self,
        tick: Callable[[], Awaitable[object]],
        *,
        interval_seconds: float,
        jitter_seconds: float = 0.0,
        last_finished_at: float | None = None,
        now: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        uniform: Callable[[float, float], float] = _SYSTEM_RANDOM.uniform,
    ) -> None:
        if interval_seconds <= 0:
            raise ValueError("interval_seconds must be positive")
        if jitter_seconds < 0:
            raise ValueError("jitter_seconds must not be negative")
        self._tick = tick
        self.interval = interval_seconds
        self.jitter = jitter_seconds
        self._now = now
        self._sleep = sleep
        self._uniform = uniform
        self._stopped = asyncio.Event()
        start = now()
        due = start if last_finished_at is None else max(start, last_finished_at + interval_seconds)
        self._next_at: float | None = due + jittered(0.0, jitter_seconds, uniform)

    @property
    def next_run_at(self) -> datetime | None:
        """When the next epoch is due (None once stopped)."""
        if self._next_at is None:
            return None
        return datetime.fromtimestamp(self._next_at, UTC)

    def next_delay(self) -> float:
        """Seconds from one epoch's end to the next one's start."""
        return jittered(self.interval, self.jitter, self._uniform)

    def stop(self) -> None:
        self._stopped.set()
        self._next_at = None

    async def run(self) -> None:
        while not self._stopped.is_set() and self._next_at is not None:
            wait = max(0.0, self._next_at - self._now())
            log.debug("scheduler.waiting", seconds=round(wait, 3))
            if await self._wait(wait):
                return
            await self._tick()
            if self._stopped.is_set():
                return
            self._next_at = self._now() + self.next_delay()

    async def _wait(self, seconds: float) -> bool:
        """Sleep `seconds` (in the injected clock) or until stopped; True when stopped."""
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        stopper = asyncio.ensure_future(self._stopped.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, stopper):
                task.cancel()
            await asyncio.gather(sleeper, stopper, return_exceptions=True)
        return self._stopped.is_set()
