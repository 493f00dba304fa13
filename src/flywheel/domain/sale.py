"""Selling fee tokens for SOL (token2022's ADS_PERCENT share): the quote and our own minimum.

The reverse of the buyback: ExactIn `in_tokens` of TOKEN_MINT into SOL. Our minimum is the
quote's outAmount less our room (min(MAX_SLIPPAGE_BPS, SLIPPAGE_MARGIN_BPS), as for a buy),
computed here; the API's otherAmountThreshold is checked against it (a looser one is refused),
never used in its place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flywheel.domain.trade import U64_MAX, our_min_out
from flywheel.errors import GuardRefused


@dataclass(frozen=True)
class SellQuote:
    """A DEX quote for token -> SOL. `raw` is the API's answer, passed back to it unchanged."""

    in_tokens: int  # base units of TOKEN_MINT sold
    out_lamports: int  # SOL expected
    min_out_lamports: int  # the API's otherAmountThreshold: checked, never trusted
    price_impact_bps: int
    slippage_bps: int
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


def check_sell_quote(quote: SellQuote, *, asked_tokens: int, max_slippage_bps: int) -> int:
    """Our own minimum SOL for `quote`; GuardRefused when it is not the quote we asked for."""
    for name, value in (
        ("inAmount", quote.in_tokens),
        ("outAmount", quote.out_lamports),
        ("otherAmountThreshold", quote.min_out_lamports),
    ):
        if not 0 <= value <= U64_MAX:
            raise GuardRefused(f"sell quote refused: {name} {value} does not fit a u64")
    if quote.in_tokens != asked_tokens:
        raise GuardRefused(
            f"sell quote refused: inAmount {quote.in_tokens} differs from the {asked_tokens}"
            " tokens asked"
        )
    if quote.out_lamports <= 0:
        raise GuardRefused(f"sell quote refused: {quote.in_tokens} tokens would pay no SOL")
    ours = our_min_out(quote.out_lamports, max_slippage_bps)
    if quote.min_out_lamports < ours:
        raise GuardRefused(
            f"sell quote refused: otherAmountThreshold {quote.min_out_lamports} is below our "
            f"minimum {ours} lamports (outAmount {quote.out_lamports} less our room of "
            f"{max_slippage_bps} bps); a sale built on it could pay that much less"
        )
    return ours
