"""Slots for the sandbox chain: stepped by hand, and also by the wall clock unless manual."""

from __future__ import annotations

import time
from collections.abc import Callable

NOMINAL_SLOT_MS = 400


class SlotClock:
    """Slot = start + slots stepped by hand + wall-clock slots since creation.

    Wall-clock slots are computed on demand rather than by a background thread, so a paused
    process (a debugger, a slow CI box) skips slots the way a lagging node sees them.
    """

    def __init__(
        self,
        *,
        slot_ms: int,
        start_slot: int,
        genesis_unix: int | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if slot_ms < 0:
            raise ValueError("slot_ms must be >= 0")
        self.slot_ms = slot_ms
        self.start_slot = start_slot
        self._monotonic = monotonic
        self._t0 = monotonic()
        self._stepped = 0
        self.genesis_unix = int(time.time()) if genesis_unix is None else genesis_unix

    def slot(self) -> int:
        wall = 0
        if self.slot_ms > 0:
            wall = int((self._monotonic() - self._t0) * 1000) // self.slot_ms
        return self.start_slot + self._stepped + wall

    def step(self, slots: int) -> None:
        if slots < 0:
            raise ValueError("time only moves forward")
        self._stepped += slots

    def unix_time(self, slot: int) -> int:
        """A slot's block time: genesis plus its slots at the configured (or nominal) length."""
        ms = self.slot_ms or NOMINAL_SLOT_MS
        return self.genesis_unix + (slot - self.start_slot) * ms // 1000
