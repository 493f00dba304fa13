"""A full disk under REPORTS_DIR after the swap and the burn: a clear failure, no traceback.

REPORTS_DIR is a 64 KiB tmpfs filled to the last byte (mounting needs root: skipped without).
The money has moved by then, so the epoch ends failed (not in flight), the swap and the burn
each landed once, and the next epoch, with space again, runs as usual.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from flywheel.domain.epoch_state import EpochStatus
from tests.e2e.harness import ChainView, describe, epochs_in, flywheel_env, run_cli
from tests.sandbox.harness import start_sandbox

pytestmark = pytest.mark.slow


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "reports"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        fd = os.open(mount_point / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 512):
                pass
        except OSError:
            pass  # ENOSPC: full to the last byte
        finally:
            os.close(fd)
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)


def test_a_full_disk_after_the_burn_fails_the_epoch_cleanly(
    tmp_path: Path, full_disk: Path
) -> None:
    box = start_sandbox(tmp_path / "sandbox")
    try:
        env = flywheel_env(box, tmp_path, REPORTS_DIR=str(full_disk))
        view = ChainView(box)
        supply = view.supply()
        box.traders.step(4)
        result = run_cli(["epoch"], tmp_path)
        assert result.returncode == 1, describe(result)
        assert "Traceback" not in result.stdout + result.stderr
        assert "No space left on device" in result.stdout + result.stderr, describe(result)
        [epoch] = epochs_in(env)
        assert epoch.status is EpochStatus.FAILED and epoch.report_path is None
        [error] = epoch.errors
        assert error.step == "report" and "free disk space" in error.message
        kinds = [t.kind for t in view.executor_txs() if t.ok]
        assert kinds.count("swap") == 1 and kinds.count("burn") == 1
        assert supply - view.supply() == epoch.tokens_settled > 0

        (full_disk / "filler").unlink()
        box.traders.step(2)
        calm = run_cli(["epoch"], tmp_path)
        assert calm.returncode == 0, describe(calm)
        assert epochs_in(env)[-1].report_path is not None
    finally:
        box.stop()
