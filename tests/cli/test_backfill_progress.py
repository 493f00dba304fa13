"""The backfill bar appears for a long fee history only, and always closes."""

from __future__ import annotations

import io

from rich.console import Console

from flywheel.commands.backfill_progress import BackfillProgress


def terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=100), out


def test_a_long_backfill_shows_its_progress():
    console, out = terminal()
    with BackfillProgress(show_from=500, console=console) as progress:
        for read in range(50, 1001, 50):
            progress(read, 1000)
        assert progress._progress is not None
        assert progress._progress.tasks[0].completed == 1000
    assert "fee history" in out.getvalue()
    assert progress._progress.live.is_started is False  # closed on exit


def test_a_short_detection_shows_nothing():
    console, out = terminal()
    with BackfillProgress(show_from=500, console=console) as progress:
        progress(40, 40)
    assert out.getvalue() == ""
