"""How an epoch's unspent fees become buyback, ads and carry: the flywheel's one money rule.

Invariant (checked by property tests): buyback + ads + carried == unspent, nothing negative,
the buyback and ads together never exceed the USD cap at the epoch's price, and every
rounding leftover lands in `carried`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from flywheel.domain.money import micro_usd_to_lamports


@dataclass(frozen=True)
class AllocationPolicy:
    buyback_percent: int
    ads_percent: int
    max_budget_per_epoch_micro_usd: int
    min_sol_reserve_lamports: int
    # MIN_BUYBACK_SOL: a smaller buyback share is carried, it would not justify its fees.
    min_buyback_lamports: int = 0
    # The same for the ads share when it is sent to an ads treasury (0 when it stays put).
    min_transfer_lamports: int = 0

    def __post_init__(self) -> None:
        if not (0 <= self.buyback_percent <= 100 and 0 <= self.ads_percent <= 100):
            raise ValueError("percents must be within 0..100")
        if self.buyback_percent + self.ads_percent != 100:
            raise ValueError("buyback_percent + ads_percent must be 100")
        if self.max_budget_per_epoch_micro_usd <= 0:
            raise ValueError("the per-epoch budget must be positive")
        if self.min_sol_reserve_lamports < 0:
            raise ValueError("the SOL reserve must not be negative")
        if self.min_buyback_lamports < 0 or self.min_transfer_lamports < 0:
            raise ValueError("the minimum buyback must not be negative")


@dataclass(frozen=True)
class Allocation:
    unspent_lamports: int
    spendable_lamports: int
    buyback_lamports: int
    ads_lamports: int
    carried_lamports: int
    reason: str  # why spending was limited, for the report ("" when everything was spent)

    @property
    def spend_lamports(self) -> int:
        return self.buyback_lamports + self.ads_lamports


def under_minimum(what: str, lamports: int, minimum: int) -> str:
    """Why a share too small to justify its fees was carried (for the report)."""
    return (
        f"{what} {lamports} lamports is under MIN_BUYBACK_SOL ({minimum} lamports): "
        "carried until an epoch reaches it"
    )


def allocate(
    *,
    unspent_lamports: int,
    executor_balance_lamports: int,
    sol_usd: Decimal | None,
    policy: AllocationPolicy,
    ads_reserve_lamports: int = 0,
) -> Allocation:
    """Split `unspent_lamports` for one epoch.

    Spending is limited by three things, and the tightest wins: the fees themselves; what the
    executor can pay while keeping `min_sol_reserve` for transaction fees and the ads ledger's
    `ads_reserve_lamports` (SOL promised to ads, still in the executor); and the USD cap,
    which needs a SOL price: without one, nothing is spent (the cap could not be enforced).
    """
    if unspent_lamports < 0 or executor_balance_lamports < 0 or ads_reserve_lamports < 0:
        raise ValueError("balances must not be negative")
    limits: list[tuple[int, str]] = [(unspent_lamports, "")]
    held = policy.min_sol_reserve_lamports + ads_reserve_lamports
    limits.append(
        (
            max(0, executor_balance_lamports - held),
            "executor balance minus MIN_SOL_RESERVE"
            + (" and the ads reserve" if ads_reserve_lamports else ""),
        )
    )
    if sol_usd is None or sol_usd <= 0:
        limits.append((0, "no SOL/USD price: the USD cap cannot be enforced"))
    else:
        cap = micro_usd_to_lamports(policy.max_budget_per_epoch_micro_usd, sol_usd)
        limits.append((cap, "MAX_BUDGET_PER_EPOCH_USD"))
    spendable, reason = min(limits, key=lambda limit: limit[0])
    if spendable == unspent_lamports:
        reason = ""
    buyback = spendable * policy.buyback_percent // 100
    ads = spendable * policy.ads_percent // 100
    notes = [reason] if reason else []
    if 0 < buyback < policy.min_buyback_lamports:
        notes.append(under_minimum("buyback share", buyback, policy.min_buyback_lamports))
        buyback = 0
    if 0 < ads < policy.min_transfer_lamports:
        notes.append(under_minimum("ads-treasury transfer", ads, policy.min_transfer_lamports))
        ads = 0
    return Allocation(
        unspent_lamports=unspent_lamports,
        spendable_lamports=spendable,
        buyback_lamports=buyback,
        ads_lamports=ads,
        carried_lamports=unspent_lamports - buyback - ads,
        reason="; ".join(notes),
    )
