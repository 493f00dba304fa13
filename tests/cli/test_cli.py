"""The console script's contract: exit codes, --version, --help, no tracebacks."""

from __future__ import annotations

import subprocess
import sys

from flywheel import __version__


def flywheel(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flywheel.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_version_and_help():
    assert flywheel("--version").stdout.strip() == f"flywheel {__version__}"
    listed = flywheel("--help").stdout
    for command in ("demo", "epoch", "simulate", "fetch-fees", "snapshot", "config", "sandbox"):
        assert command in listed


def test_unknown_command_is_a_usage_error():
    result = flywheel("bogus")
    assert result.returncode == 2
    assert "No such command" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_command_that_exits_1_makes_the_process_exit_1(tmp_path):
    # `reports prune` on a missing --days is a usage error (2); a declined sweep prompt is 1
    # (tests/wallet). Here: an option out of range must not come back as 0.
    result = flywheel("reports", "prune", "--days", "0", "--reports-dir", str(tmp_path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
