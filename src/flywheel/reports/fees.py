"""The epoch report's `fees` section: what the detect step found, held back or rejected."""

from __future__ import annotations

from pydantic import Field

from flywheel.domain.epoch_state import EpochState
from flywheel.reports.common import ReportSection


class RejectedFeeSection(ReportSection):
    signature: str
    lamports: int
    reason: str = Field(description="The operator's reason")


class FeesSection(ReportSection):
    """What the detect step found."""

    carried_in_lamports: int = Field(description="Unspent lamports carried from earlier epochs")
    detected_lamports: int = Field(description="Fees detected this epoch")
    receipts: int = Field(description="Number of fee receipts (one per transaction)")
    receipt_signatures: list[str]
    quarantined_signatures: list[str] = Field(
        description="Transfers held back from spending (suspicious); see the runbook"
    )
    rejected: list[RejectedFeeSection] = Field(
        default_factory=list,
        description="Quarantined fees the operator rejected since the last epoch (`flywheel"
        " fees reject`): never spent; each is shown in one report",
    )
    internal_transfer_signatures: list[str] = Field(
        default_factory=list,
        description="SOL the flywheel's own wallets moved into the collector: never a fee",
    )
    internal_transfer_lamports: int = Field(default=0, description="Their total")
    funding: str = Field(
        default="same-wallet",
        description="Where the buybacks' SOL came from: same-wallet (the collector is the"
        " executor), collect (moved from the separate collector by the collect step) or"
        " executor (FEE_FUNDING=executor: the executor's own SOL)",
    )
    collected_lamports: int = Field(
        default=0, description="Moved from the separate fee collector to the executor"
    )


def fees_section(state: EpochState) -> FeesSection:
    return FeesSection(
        carried_in_lamports=state.carried_in_lamports,
        detected_lamports=state.fees_in_lamports,
        receipts=len(state.receipt_signatures),
        receipt_signatures=list(state.receipt_signatures),
        quarantined_signatures=list(state.quarantined_signatures),
        rejected=[
            RejectedFeeSection(signature=r.signature, lamports=r.lamports, reason=r.reason)
            for r in state.rejected_fees
        ],
        internal_transfer_signatures=list(state.internal_signatures),
        internal_transfer_lamports=state.internal_lamports,
        funding=state.fee_funding,
        collected_lamports=state.collected_lamports,
    )
