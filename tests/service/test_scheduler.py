"""The schedule: interval plus jitter within bounds, a first epoch that respects the last one,
a real fast schedule driving real epochs, and a prompt stop."""

from __future__ import annotations

import asyncio
import itertools
import random
import time

from flywheel.service.scheduler import Scheduler, jittered
from tests.core.fakes import EpochWorld
from tests.service.harness import make_service, serving


class FakeTime:
    """A clock that a fake sleep moves forward instantly."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.t = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds
        await asyncio.sleep(0)


async def test_every_delay_is_the_interval_plus_at_most_the_jitter() -> None:
    fake = FakeTime()
    ticks: list[float] = []
    scheduler: Scheduler

    async def tick() -> None:
        ticks.append(fake.t)
        if len(ticks) == 200:
            scheduler.stop()

    scheduler = Scheduler(
        tick,
        interval_seconds=3600,
        jitter_seconds=600,
        last_finished_at=fake.t - 100,  # the last epoch ended 100 s ago
        now=fake.now,
        sleep=fake.sleep,
    )
    await asyncio.wait_for(scheduler.run(), timeout=10)
    assert len(ticks) == 200
    first_wait = fake.sleeps[0]
    assert 3500 <= first_wait <= 3500 + 600, "due one interval after the last epoch"
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert all(3600 <= gap <= 4200 for gap in gaps)
    assert len({round(g, 6) for g in gaps}) > 150, "the jitter actually varies"
    assert max(gaps) - min(gaps) > 300, "and spreads over its range"
    assert scheduler.next_run_at is None


def test_no_jitter_is_exactly_the_interval() -> None:
    assert jittered(60, 0, random.uniform) == 60
    assert all(60 <= jittered(60, 5, random.uniform) <= 65 for _ in range(1000))


async def nothing() -> None:
    return None


async def test_first_epoch_is_due_now_when_the_last_is_old_or_absent() -> None:
    fake = FakeTime()
    for last in (None, fake.t - 10_000):
        scheduler = Scheduler(nothing, interval_seconds=60, last_finished_at=last, now=fake.now)
        assert scheduler.next_run_at is not None
        assert scheduler.next_run_at.timestamp() == fake.t


async def test_a_fast_schedule_runs_real_epochs_and_stops_promptly(world: EpochWorld) -> None:
    service = make_service(world, enable_scheduler=True, interval_seconds=0.2, jitter_seconds=0.1)
    async with serving(service) as run:
        await asyncio.sleep(1.0)
        runs = world.runs
        health = (await run.http.get("/health")).json()
        assert health["nextEpoch"] is not None
        started = time.monotonic()
    assert time.monotonic() - started < 2, "stop does not wait for the next tick"
    # First at once, then one every 0.2..0.3 s (plus the epoch's own time).
    assert 3 <= runs <= 6, runs
    assert world.store is not None
    finished = [e for e in world.store.epochs(limit=50)]
    assert len(finished) == world.runs
