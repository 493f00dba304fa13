"""The buyback report's parts about where tokens went: the settlement and each slice.

A sliced buyback (BUYBACK_SLICES > 1) lists every slice: when it was due, what it paid and got,
our minimum, its realized price and where its tokens were settled; the section's totals are the
slices' sums (a test checks it against the chain).
"""

from __future__ import annotations

from pydantic import Field

from flywheel.domain.epoch_state import EpochState
from flywheel.domain.slices import SliceRecord, SliceStatus
from flywheel.reports.common import DecimalText, ReportSection, UtcDatetime, realized_price


class SettlementSection(ReportSection):
    """What happened to the tokens bought: burnt, held, or sent to the treasury."""

    destination: str = Field(description="burn | hold | treasury")
    signature: str | None = Field(description="null when holding (no transaction)")
    status: str = Field(description="The transaction's status, or 'held'")
    tokens: int = Field(description="Token base units settled")
    in_swap: bool = Field(
        False,
        description="True when burnt in the swap's own transaction (the swap's guaranteed "
        "minimum; what it gave above that is settled with the next transaction)",
    )


class SliceSection(ReportSection):
    """One slice of a sliced buyback (BUYBACK_SLICES > 1)."""

    index: int
    at: UtcDatetime = Field(description="When the slice was due (a secure-random moment)")
    status: str = Field(description="scheduled | done | skipped")
    signature: str | None = Field(description="Its landed swap (its last attempt if none)")
    attempts: int = Field(description="Swaps signed for it (expired or failed ones re-signed)")
    planned_lamports: int
    lamports_in: int
    tokens_out: int
    minimum: int = Field(description="Our own minimum for its quote (never the API's)")
    realized_price_lamports_per_token: DecimalText | None
    settled_in_swap: int = Field(description="Tokens burnt in its own swap transaction")
    settled_by: str | None = Field(
        description="The transaction that settled the rest of its tokens: the epoch's settle "
        "transaction, or null when they carry to the next epoch (or are held)"
    )
    note: str = Field(description="Why it was skipped; empty otherwise")


def slice_sections(state: EpochState) -> list[SliceSection]:
    settle = state.settle_intent
    settled_by = None if settle is None or settle.status != "confirmed" else settle.signature
    return [_slice(s, settled_by) for s in state.slices]


def _slice(slice_: SliceRecord, settled_by: str | None) -> SliceSection:
    done = slice_.status is SliceStatus.DONE
    return SliceSection(
        index=slice_.index,
        at=slice_.at,
        status=slice_.status.value,
        signature=slice_.signatures[-1] if slice_.signatures else None,
        attempts=len(slice_.signatures),
        planned_lamports=slice_.planned_lamports,
        lamports_in=slice_.lamports_in,
        tokens_out=slice_.tokens_out,
        minimum=slice_.minimum,
        realized_price_lamports_per_token=realized_price(slice_.lamports_in, slice_.tokens_out),
        settled_in_swap=slice_.burn_planned if done else 0,
        settled_by=settled_by if done and slice_.tokens_out > slice_.burn_planned else None,
        note=slice_.note,
    )


def settlement(state: EpochState) -> SettlementSection | None:
    if state.tokens_settled_in_swap > 0 and state.swap_intents:
        # Sliced: the last slice's swap; each slice's own burn is in `slices`.
        swap = state.swap_intents[-1]
        return SettlementSection(
            destination=state.destination,
            signature=swap.signature,
            status=swap.status,
            tokens=state.tokens_settled,
            in_swap=True,
        )
    intent = state.settle_intent
    if intent is not None:
        return SettlementSection(
            destination=state.destination,
            signature=intent.signature,
            status=intent.status,
            tokens=state.tokens_settled,
        )
    if "buyback.settle" in state.steps_done:
        # Holding needs no transaction: the tokens stay with the executor.
        return SettlementSection(
            destination=state.destination,
            signature=None,
            status="held" if state.destination == "hold" else "nothing to settle",
            tokens=state.tokens_settled,
        )
    return None
