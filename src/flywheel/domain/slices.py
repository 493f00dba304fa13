"""Sliced buybacks (TWAP): the schedule of an epoch's slices, decided once and journaled.

A buyback of BUYBACK_SLICES slices buys at secure-random moments inside BUYBACK_WINDOW_SECONDS
from the moment the epoch decides it. The whole schedule (each slice's time and lamports) is in
the epoch's journal before the first slice is quoted, so a process that dies between slices
resumes the same schedule: it neither buys a slice again nor skips one. Random times keep a
searcher from knowing when the next slice comes; sizes are equal, each then sized down to
MAX_PRICE_IMPACT_BPS when it is quoted (what a slice does not buy is carried).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from flywheel.domain.trade import Quote


class SliceStatus(StrEnum):
    SCHEDULED = "scheduled"  # not bought yet (its swap may be journaled and in flight)
    DONE = "done"  # its swap landed and is counted in the epoch's totals
    SKIPPED = "skipped"  # nothing could be bought within the limits: its lamports carry


class SliceRecord(BaseModel):
    index: int
    at: datetime  # when it may be quoted, at the earliest
    planned_lamports: int
    status: SliceStatus = SliceStatus.SCHEDULED
    # Every swap signed for this slice, oldest first (its own attempts: expired or failed ones
    # are re-signed at most MAX swap attempts times); also in the epoch's swap_intents.
    signatures: list[str] = Field(default_factory=list)
    quote: Quote | None = None  # the quote the last signed swap was built on
    burn_planned: int = 0  # the burn that swap carries (v2 with BUYBACK_DESTINATION=burn)
    lamports_in: int = 0
    tokens_out: int = 0
    minimum: int = 0  # our own minimum for its quote (never the API's)
    note: str = ""


def slice_count(planned_lamports: int, slices: int, min_slice_lamports: int) -> int:
    """How many slices the buyback gets: BUYBACK_SLICES, fewer when each would fall under
    MIN_BUYBACK_SOL (a slice too small to justify its fees), never fewer than one."""
    if slices <= 1 or planned_lamports <= 0:
        return 1
    if min_slice_lamports <= 0:
        return min(slices, planned_lamports)
    return max(1, min(slices, planned_lamports // min_slice_lamports))


def plan_slices(
    planned_lamports: int,
    slices: int,
    *,
    start: datetime,
    window_seconds: int,
    rng: secrets.SystemRandom | None = None,
) -> list[SliceRecord]:
    """`slices` equal slices (the remainder in the last) at random moments of the window.

    Times come from the operating system's secure generator, sorted; to the millisecond.
    """
    if slices < 1 or planned_lamports < slices:
        raise ValueError(f"cannot split {planned_lamports} lamports into {slices} slices")
    chooser = rng or secrets.SystemRandom()
    offsets_ms = sorted(chooser.randint(0, window_seconds * 1000) for _ in range(slices))
    size = planned_lamports // slices
    sizes = [size] * (slices - 1) + [planned_lamports - size * (slices - 1)]
    return [
        SliceRecord(index=i, at=start + timedelta(milliseconds=ms), planned_lamports=lamports)
        for i, (ms, lamports) in enumerate(zip(offsets_ms, sizes, strict=True))
    ]


def next_slice(slices: list[SliceRecord]) -> SliceRecord | None:
    return next((s for s in slices if s.status is SliceStatus.SCHEDULED), None)


def slices_done(slices: list[SliceRecord]) -> int:
    return sum(1 for s in slices if s.status is not SliceStatus.SCHEDULED)
