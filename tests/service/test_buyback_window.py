"""The service knows an epoch is in its buyback window: /health shows the window (the next
slice's time only with the secret), the epoch lock stays held, and a stop does not wait out the
window: the epoch is left between slices, journaled, and the next service finishes it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from flywheel.domain.epoch_state import EpochMode, EpochStatus
from flywheel.domain.slices import SliceStatus
from flywheel.errors import EpochLocked
from flywheel.service.epoch_lock import FileLock, lock_path_for
from flywheel.service.health import HealthFacts, buyback_window, health_report
from tests.core.fakes import EpochWorld, epoch_policy
from tests.service.harness import Running, auth, make_service, serving

SLICES, WINDOW = 3, 5  # a stop within ~0.1 s of the start finds slices left


@pytest.fixture
def sliced(tmp_path: Path) -> Iterator[EpochWorld]:
    policy = epoch_policy(buyback_slices=SLICES, buyback_window_seconds=WINDOW)
    world = EpochWorld(db=tmp_path / "state" / "flywheel.sqlite", policy=policy)
    world.open()
    yield world
    if world.store is not None:
        world.store.close()


async def _window_shown(run: Running) -> dict[str, Any]:
    for _ in range(300):
        body: dict[str, Any] = (await run.http.get("/health", headers=auth())).json()
        if body["buybackWindow"] is not None:
            return body
        await asyncio.sleep(0.01)
    raise AssertionError("the window never showed in /health")


async def test_health_shows_the_window_the_lock_is_held_and_a_stop_leaves_it_journaled(
    sliced: EpochWorld,
) -> None:
    service = make_service(sliced, shutdown_grace_seconds=30)
    async with serving(service) as run:
        accepted = await run.http.post("/webhook/trigger", headers=auth())
        epoch_id = accepted.json()["epochId"]
        exact = await _window_shown(run)
        window = exact["buybackWindow"]
        assert exact["status"] == "healthy"
        assert window["epoch"] == epoch_id and window["slicesTotal"] == SLICES
        assert 0 <= window["slicesDone"] < SLICES
        assert datetime.strptime(window["nextSliceAt"], "%Y-%m-%dT%H:%M:%SZ")
        public = (await run.http.get("/health")).json()["buybackWindow"]
        assert public == {**window, "nextSliceAt": None}  # the schedule is the secret
        with pytest.raises(EpochLocked):  # `flywheel epoch` is refused as for any epoch
            FileLock(lock_path_for(sliced.db)).acquire()
        stopping = time.monotonic()
    # Stopped without waiting out the 30 s grace: the epoch waited between slices.
    assert time.monotonic() - stopping < 10
    assert sliced.store is not None
    left = sliced.store.unfinished_epoch(EpochMode.LIVE)
    assert left is not None and left.id == epoch_id and left.window_open
    assert service.breaker.failures == 0, "an epoch left between slices is not a failure"
    bought = sliced.ledger.swaps

    sliced.fee_per_epoch = 0
    resumed = await make_service(sliced).run_scheduled()
    assert resumed is not None and resumed.id == epoch_id
    assert resumed.status is EpochStatus.SUCCEEDED, resumed.errors
    assert all(s.status is SliceStatus.DONE for s in resumed.slices)
    assert sliced.ledger.swaps == SLICES >= bought, "no slice bought twice, none lost"
    sliced.check_accounting()


def test_no_window_without_slices_and_none_once_the_epoch_is_over(sliced: EpochWorld) -> None:
    facts: dict[str, Any] = {
        "now": 0.0,
        "started_at": 0.0,
        "breaker": None,
        "last": None,
        "last_success_at": None,
        "scheduler": False,
        "period_seconds": 60.0,
        "next_epoch": None,
        "running": False,
        "current_epoch": None,
        "version": "x",
        "mode": "live",
        "ads_mode": "dry-run",
        "webhooks": True,
    }
    assert health_report(HealthFacts(**facts))[1]["buybackWindow"] is None
    epoch = asyncio.run(sliced.run_epoch())
    assert epoch.status is EpochStatus.SUCCEEDED and len(epoch.slices) == SLICES
    assert buyback_window(epoch) is None  # finished: no window, though it had slices
    open_one = epoch.model_copy(
        update={
            "status": EpochStatus.RUNNING,
            "slices": [
                s.model_copy(update={"status": SliceStatus.SCHEDULED}) if s.index == 2 else s
                for s in epoch.slices
            ],
        }
    )
    shown = buyback_window(open_one)
    assert shown is not None and shown["slicesDone"] == 2 and shown["slicesTotal"] == SLICES
