"""How epochs and fees look on a terminal: one table per question an operator asks."""

from __future__ import annotations

from collections import Counter

from rich.table import Table
from rich.text import Text

from flywheel.domain.epoch_state import EpochMode, EpochState, EpochStatus
from flywheel.domain.money import format_sol, format_usd


def epoch_table(state: EpochState, *, title: str | None = None) -> Table:
    """What one epoch did, in the order it did it."""
    style = {EpochStatus.SUCCEEDED: "green", EpochStatus.ADS_FAILED: "yellow"}.get(
        state.status, "red"
    )
    table = Table(title=title or f"Epoch {state.id} ({state.mode.value})", title_justify="left")
    table.add_column("step", no_wrap=True)
    table.add_column("result", overflow="fold")
    table.add_row("status", Text(state.status.value, style=style))
    _add_fee_rows(table, state)
    price = f"${state.sol_usd_price}/SOL" if state.sol_usd_price else "no price"
    table.add_row("SOL price", price)
    table.add_row(
        "allocation",
        f"buyback {format_sol(state.buyback_planned_lamports)}, "
        f"ads {format_sol(state.ads_planned_lamports)}"
        + (f" (limited by {state.allocation_note})" if state.allocation_note else ""),
    )
    _add_buyback_rows(table, state)
    if state.ads is not None:
        budget = format_usd(state.ads.spec.budget_micro_usd) if state.ads.spec is not None else "-"
        table.add_row("ads", f"{state.ads.status.value} {budget}")
    table.add_row("carried out", format_sol(state.carried_out_lamports))
    for error in state.errors:
        table.add_row(Text(f"error ({error.step})", style="red"), Text(error.message))
    if state.report_path:
        table.add_row("report", Text(state.report_path))
    return table


def _add_fee_rows(table: Table, state: EpochState) -> None:
    """Detect and claim: what came in, and what waits or is held back."""
    table.add_row("carried in", format_sol(state.carried_in_lamports))
    table.add_row(
        "fees detected", f"{format_sol(state.fees_in_lamports)} ({len(state.receipt_signatures)})"
    )
    for claim in state.claim_intents:
        table.add_row(f"claim {claim.status}", _intent_text(claim.signature, claim.error))
    if state.fee_tokens_in or state.ads_tokens_carried_out:
        table.add_row(
            "fee tokens",
            f"{state.fee_tokens_in} claimed: {state.fee_tokens_to_settle} to settle,"
            f" {state.fee_tokens_for_ads} for ads;"
            f" {state.ads_tokens_carried_out} ads tokens carried",
        )
    for note in state.claim_notes:
        table.add_row(Text("claim waits", style="dim"), note)
    for sale in state.sell_intents:
        table.add_row(f"sale {sale.status}", _intent_text(sale.signature, sale.error))
    if state.ads_tokens_sold:
        table.add_row(
            "ads tokens sold",
            f"{state.ads_tokens_sold} -> {format_sol(state.ads_sale_lamports)} (ads budget)",
        )
    for note in state.sell_notes:
        table.add_row(Text("sale", style="dim"), note)
    if state.quarantined_signatures:
        table.add_row(
            Text("quarantined", style="yellow"),
            f"{len(state.quarantined_signatures)} inflow(s): review, then `flywheel fees release`",
        )


def _add_buyback_rows(table: Table, state: EpochState) -> None:
    """Quote, swaps and settlement: what the buyback spent and where the tokens went."""
    if state.quote is not None:
        table.add_row(
            "quote",
            f"{format_sol(state.quote.in_lamports)} -> {state.quote.out_amount} tokens "
            f"(min {state.quote.min_out_amount}, impact {state.quote.price_impact_bps} bps)"
            + (" [split: price impact]" if state.price_impact_limited else ""),
        )
    if state.slices:
        counts = Counter(s.status.value for s in state.slices)
        shown = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        table.add_row("slices", f"{len(state.slices)} in the window: {shown}")
    for intent in state.swap_intents:
        table.add_row(
            f"swap {_landed(state, intent.status)}", _intent_text(intent.signature, intent.error)
        )
    table.add_row("bought back", f"{format_sol(state.buyback_spent_lamports)}")
    table.add_row("tokens bought", str(state.tokens_bought))
    if state.settle_intent is not None:
        table.add_row(
            f"{state.destination} {_landed(state, state.settle_intent.status)}",
            _intent_text(state.settle_intent.signature, state.settle_intent.error),
        )
    table.add_row(f"tokens {_settled_word(state.destination)}", str(state.tokens_settled))


def _landed(state: EpochState, status: str) -> str:
    # A rehearsal's transactions were only simulated: "confirmed" would claim they were sent.
    if state.mode is EpochMode.SIMULATE and status == "confirmed":
        return "simulated (not sent)"
    return status


def _intent_text(signature: str, error: str) -> Text:
    return Text(signature + (f"  {error}" if error else ""))


def _settled_word(destination: str) -> str:
    return {"burn": "burned", "hold": "held"}.get(destination, "sent to treasury")
