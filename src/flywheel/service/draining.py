"""Stopping with an epoch running: let it finish within the grace, unless it only waits.

An epoch waiting between the slices of its buyback window holds nothing in flight: its schedule
is journaled and the next run resumes it, so SIGTERM does not wait out the window (or the grace)
for it. Anything else gets SHUTDOWN grace to finish, then is cancelled (a journaled transaction
is reconciled by its signature on the next run).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from flywheel.domain.epoch_state import EpochMode
from flywheel.intent_journal import in_flight
from flywheel.service.options import EpochHistory


def between_slices(history: EpochHistory, mode: EpochMode) -> bool:
    """Whether the unfinished epoch waits in its buyback window with nothing in flight."""
    try:
        state = history.unfinished_epoch(mode)
    except Exception:  # unreadable: wait the grace as for any epoch
        return False
    return state is not None and state.window_open and not in_flight(state)


async def drain(task: asyncio.Task[Any], grace: float, idle: Callable[[], bool]) -> bool:
    """Wait up to `grace` seconds for `task`, or cancel it at once when `idle()`; True when it
    had to be cancelled."""
    deadline = time.monotonic() + grace
    while not task.done() and not idle():
        left = deadline - time.monotonic()
        if left <= 0:
            break
        await asyncio.wait({task}, timeout=min(0.2, left))
    if task.done():
        return False
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return True
