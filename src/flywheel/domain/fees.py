"""Fees as the flywheel sees them: one receipt per transaction signature."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ReceiptStatus(StrEnum):
    AVAILABLE = "available"  # detected, waiting to be claimed by an epoch
    QUARANTINED = "quarantined"  # anomalous (runbook scenario 7): held until released
    CLAIMED = "claimed"  # an epoch took it into its input


@dataclass(frozen=True)
class FeeReceipt:
    signature: str
    lamports: int
    slot: int
    block_time: int | None = None  # unix seconds, as the chain reports it
    source: str = ""  # who paid, when known (for anomaly review)

    def __post_init__(self) -> None:
        if self.lamports <= 0:
            raise ValueError("a fee receipt is an inflow: lamports must be positive")


@dataclass(frozen=True)
class FeeBatch:
    """What a fee source found since `cursor`; `new_cursor` is stored with the receipts."""

    receipts: list[FeeReceipt] = field(default_factory=list)
    # SOL one of the flywheel's own addresses moved into the collector (a key rotation's sweep,
    # the collect step): shaped like receipts, but never a fee.
    internal: list[FeeReceipt] = field(default_factory=list)
    new_cursor: str | None = None
    requests: int = 0  # RPC round trips it took, for the report and the benchmark


def screen(
    receipts: list[FeeReceipt],
    *,
    max_single_lamports: int | None,
    max_per_epoch_lamports: int | None,
) -> tuple[list[FeeReceipt], list[FeeReceipt]]:
    """(available, quarantined): runbook scenario 7 holds back inflows too large to be fees."""
    single = max_single_lamports
    available = [r for r in receipts if single is None or r.lamports <= single]
    quarantined = [r for r in receipts if single is not None and r.lamports > single]
    per_epoch = max_per_epoch_lamports
    if per_epoch is not None and sum(r.lamports for r in available) > per_epoch:
        quarantined, available = quarantined + available, []
    return available, quarantined
