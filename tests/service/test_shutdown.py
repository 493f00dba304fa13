"""SIGTERM/SIGINT: no new work, the running epoch finishes (or, past the grace, is cancelled
between journaled steps and resumed by the next service); nothing is lost or done twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from flywheel.domain.epoch_state import EpochMode, EpochStatus
from flywheel.persistence.store import SqliteStore
from flywheel.service.service import FlywheelService
from tests.core.fakes import EpochWorld
from tests.service.harness import auth, make_service, serving

SCRIPT = Path(__file__).with_name("serve_fakes.py")


def running(service: FlywheelService) -> bool:
    return service.running  # a call: mypy must not narrow the property across an await


async def test_stop_lets_the_running_epoch_finish(world: EpochWorld) -> None:
    world.land_delay = 0.4
    service = make_service(world, shutdown_grace_seconds=30)
    async with serving(service) as run:
        accepted = await run.http.post("/webhook/trigger", headers=auth())
        epoch_id = accepted.json()["epochId"]
        assert running(service)
    # `serving` requested the stop and waited for serve() to return.
    assert not running(service)
    assert world.store is not None
    state = world.store.epoch(epoch_id)
    assert state is not None and state.status is EpochStatus.SUCCEEDED
    assert world.ledger.swaps == 1 and world.ledger.burns == 1
    assert (await service.trigger("late")).status == "stopping"


async def test_past_the_grace_the_epoch_is_cancelled_and_the_next_service_resumes_it(
    world: EpochWorld,
) -> None:
    world.land_delay = 1.0
    service = make_service(world, shutdown_grace_seconds=0.3)
    async with serving(service) as run:
        accepted = await run.http.post("/webhook/trigger", headers=auth())
        epoch_id = accepted.json()["epochId"]
    assert world.store is not None
    unfinished = world.store.unfinished_epoch(EpochMode.LIVE)
    assert unfinished is not None and unfinished.id == epoch_id
    assert service.breaker.failures == 0, "a cancelled epoch is not a failure"

    # A new service (same state file, same chain) resumes the same epoch.
    world.fee_per_epoch = 0
    world.land_delay = 0
    resumed = await make_service(world).run_scheduled()
    assert resumed is not None and resumed.id == epoch_id
    assert resumed.status is EpochStatus.SUCCEEDED
    assert world.ledger.swaps == 1 and world.ledger.burns == 1, "nothing done twice"
    assert resumed.fees_in_lamports == 10**9
    assert resumed.buyback_spent_lamports + resumed.ads_reserved_lamports == 10**9


def test_sigterm_to_a_real_process_finishes_the_epoch_and_exits_0(tmp_path: Path) -> None:
    db = tmp_path / "state" / "flywheel.sqlite"
    log_file = tmp_path / "service.log"
    with log_file.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, str(SCRIPT), str(db), "0.5"],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    assert process.stdout is not None
    try:
        ports = json.loads(process.stdout.readline())
        base = f"http://127.0.0.1:{ports['http']}"
        accepted = httpx.post(f"{base}/webhook/trigger", headers=auth(), timeout=10)
        assert accepted.status_code == 202, accepted.text
        epoch_id = accepted.json()["epochId"]
        assert httpx.get(f"{base}/health", timeout=10).json()["epochRunning"] is True
        os.kill(process.pid, signal.SIGTERM)
        started = time.monotonic()
        assert process.wait(timeout=30) == 0
        assert time.monotonic() - started < 10
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
    output = log_file.read_text()
    assert "service.stopping" in output and "service.stopped" in output
    with SqliteStore.open(db) as store:
        state = store.epoch(epoch_id)
        assert state is not None and state.status is EpochStatus.SUCCEEDED
        assert store.unfinished_epoch(EpochMode.LIVE) is None


async def test_signal_handlers_are_installed_and_removed(world: EpochWorld) -> None:
    service = make_service(world)
    ready = asyncio.Event()
    task = asyncio.create_task(service.serve(ready.set))
    await asyncio.wait_for(ready.wait(), 10)
    os.kill(os.getpid(), signal.SIGINT)  # handled by the service, not KeyboardInterrupt
    await asyncio.wait_for(task, 10)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
