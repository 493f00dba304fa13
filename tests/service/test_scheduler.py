"""The schedule: interval plus jitter within bounds, a first epoch that respects the last one,
a real fast schedule driving real epochs, and a prompt stop."""

from __future__ import annotations

import asyncio
import itertools
import random
from datetime import datetime

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


async def test_the_schedule_runs_real_epochs_on_the_injected_clock_and_stops_promptly(
    world: EpochWorld,
) -> None:
    fake = FakeTime()
    world.now = fake.now  # the epochs' timestamps follow the same clock
    waits: list[float] = []
    four_ran = asyncio.Event()
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def sleep(seconds: float) -> None:
        """The scheduler's waits: instant for the first four epochs, then one that never ends
        by itself, so the stop below must interrupt it."""
        waits.append(seconds)
        if world.runs >= 4:
            four_ran.set()
            await never
        await fake.sleep(seconds)

    service = make_service(
        world,
        now=fake.now,
        sleep=sleep,
        enable_scheduler=True,
        interval_seconds=3600,
        jitter_seconds=600,
    )
    async with serving(service) as run:
        await asyncio.wait_for(four_ran.wait(), timeout=30)
        health = (await run.http.get("/health")).json()
        next_epoch = datetime.fromisoformat(health["nextEpoch"]).timestamp()
        assert 3600 <= next_epoch - fake.t <= 4200, "the next one is one jittered interval away"
    assert never.cancelled(), "the stop cut the pending wait short"
    assert world.runs == 4 and 0 <= waits[0] <= 600, "the first is due now, plus jitter"
    assert all(3600 <= wait <= 4200 for wait in waits[1:])
    assert world.store is not None
    finished = [e for e in world.store.epochs(limit=50)]
    assert len(finished) == world.runs
