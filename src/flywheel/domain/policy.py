"""The operator's rules for one epoch, as plain values taken from the configuration."""

from __future__ import annotations

from dataclasses import dataclass, field

from flywheel.domain.ads import Targeting
from flywheel.domain.allocation import AllocationPolicy
from flywheel.domain.trade import Destination


@dataclass(frozen=True)
class EpochPolicy:
    allocation: AllocationPolicy
    max_price_impact_bps: int = 300
    # Our own minimum output is the quote's outAmount less this: min(MAX_SLIPPAGE_BPS,
    # SLIPPAGE_MARGIN_BPS) from the configuration (docs/execution.md says why).
    max_slippage_bps: int = 300
    # BUYBACK_SLICES / BUYBACK_WINDOW_SECONDS: 1 slice is the one-shot buyback.
    buyback_slices: int = 1
    buyback_window_seconds: int = 0
    destination: Destination = Destination.BURN
    # A swap that expired or failed on-chain is re-quoted and re-signed at most this often.
    max_swap_attempts: int = 3
    max_settle_attempts: int = 3
    # Anomalies (runbook scenario 7): None disables the check.
    max_single_fee_lamports: int | None = None
    max_fees_per_epoch_lamports: int | None = None
    ads_duration_hours: int = 24
    ads_targeting: Targeting = field(default_factory=Targeting)
    ads_post_id: str | None = None
    ads_objective: str = "ENGAGEMENTS"
    # Below this the ads budget accrues to a later epoch instead of making a tiny campaign.
    ads_min_budget_micro_usd: int = 0
    # Where each epoch's ads SOL goes; None keeps it in the executor as the ads reserve.
    ads_treasury: str | None = None
    # A claim (FEE_SOURCES other than wallet) worth less than this many lamports waits.
    min_claim_lamports: int = 50_000
    max_claim_attempts: int = 3
