"""The cross-process epoch lock: a second process is kept out while one holds it, in both
directions, and the service skips (409 / counted) instead of running a second epoch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flywheel.errors import EpochLocked
from flywheel.service.epoch_lock import FileLock, epoch_lock, lock_path_for
from tests.core.fakes import EpochWorld
from tests.service.harness import auth, make_service, serving

HOLD = """
import sys
from pathlib import Path
from flywheel.service.epoch_lock import epoch_lock
with epoch_lock(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()  # until the test closes our stdin
"""

TRY = """
import sys
from pathlib import Path
from flywheel.errors import EpochLocked
from flywheel.service.epoch_lock import epoch_lock
try:
    with epoch_lock(Path(sys.argv[1])):
        print("acquired", flush=True)
except EpochLocked as exc:
    print(exc, flush=True)
    sys.exit(3)
"""


def _python(code: str, path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _end(holder: subprocess.Popen[str]) -> int:
    """Close its stdin (it lets go), wait for it, close its pipes."""
    assert holder.stdin is not None and holder.stdout is not None
    holder.stdin.close()
    code = holder.wait(timeout=10)
    holder.stdout.close()
    return code


def test_another_process_holding_the_lock_keeps_us_out(tmp_path: Path) -> None:
    path = lock_path_for(tmp_path / "state" / "flywheel.sqlite")
    assert path == tmp_path / "state" / "flywheel.lock"
    holder = _python(HOLD, path)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(EpochLocked, match="another process holds"):
            FileLock(path).acquire()
        with pytest.raises(EpochLocked):
            FileLock(path).acquire(wait_seconds=0.2)
    finally:
        assert _end(holder) == 0
    with epoch_lock(path) as lock:  # released when its process ended
        assert lock.held


def test_we_holding_the_lock_keep_another_process_out(tmp_path: Path) -> None:
    path = tmp_path / "flywheel.lock"
    with epoch_lock(path):
        other = subprocess.run(
            [sys.executable, "-c", TRY, str(path)], capture_output=True, text=True, timeout=30
        )
        assert other.returncode == 3, other.stdout + other.stderr
        assert "another process holds" in other.stdout
    after = subprocess.run(
        [sys.executable, "-c", TRY, str(path)], capture_output=True, text=True, timeout=30
    )
    assert after.returncode == 0 and after.stdout.strip() == "acquired"


async def test_the_service_skips_while_another_process_runs_an_epoch(world: EpochWorld) -> None:
    service = make_service(world)
    holder = _python(HOLD, service.options.lock_path)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert await service.run_scheduled() is None
        assert service.metrics.sample("flywheel_epochs_skipped_total", {"reason": "locked"}) == 1
        async with serving(service) as run:
            response = await run.http.post("/webhook/trigger", headers=auth())
            assert response.status_code == 409
            assert "another process" in response.json()["error"]
        assert world.runs == 0
    finally:
        _end(holder)
    state = await make_service(world).run_scheduled()
    assert state is not None and world.runs == 1
