"""Fees as the flywheel sees them: one receipt per transaction signature."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ReceiptStatus(StrEnum):
    AVAILABLE = "available"  # detected, waiting to be claimed by an epoch
    QUARANTINED = "quarantined"  # anomalous (runbook scenario 7): held until released
    CLAIMED = "claimed"  # an epoch took it into its input
    REJECTED = "rejected"  # quarantined, then rejected by the operator: never spent


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
class RejectedFee:
    """A quarantined inflow the operator rejected (`flywheel fees reject`), with the reason."""

    signature: str
    lamports: int
    reason: str


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
    """(available, quarantined): runbook scenario 7 holds back inflows too large to be fees.

    An inflow above the single cap is quarantined on its own. The per-epoch cap counts the
    others in the order the fee source found them (oldest first): those that fit under it are spent
    as usual; the first that would take the total over the cap, and every one after it, are
    quarantined. An inflow straddling the cap is quarantined whole: a fee is one signature,
    released or rejected whole, so part of it cannot be spent.
    """
    single = max_single_lamports
    available: list[FeeReceipt] = []
    quarantined: list[FeeReceipt] = []
    total = 0
    over = False
    for receipt in receipts:
        if single is not None and receipt.lamports > single:
            quarantined.append(receipt)
            continue
        cap = max_per_epoch_lamports
        over = over or (cap is not None and total + receipt.lamports > cap)
        if over:
            quarantined.append(receipt)
        else:
            available.append(receipt)
            total += receipt.lamports
    return available, quarantined
