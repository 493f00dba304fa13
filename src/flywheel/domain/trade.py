"""What crosses the buyback's ports: quotes, prepared transactions, landings."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from flywheel.errors import GuardRefused, OperationalError

BPS = 10_000
U64_MAX = 2**64 - 1  # every token and lamport amount on Solana is a u64
# Jupiter's SlippageToleranceExceeded (6001) as a failed transaction's error text shows it.
ONCHAIN_SLIPPAGE_MARKERS = ("Custom(6001)", "0x1771")


@dataclass(frozen=True)
class Quote:
    """A DEX quote for SOL -> token. `raw` is the API's answer, passed back to it unchanged."""

    in_lamports: int
    out_amount: int  # token base units expected
    min_out_amount: int  # the least the swap may deliver (Jupiter's otherAmountThreshold)
    price_impact_bps: int
    slippage_bps: int
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


def our_min_out(out_amount: int, max_slippage_bps: int) -> int:
    """The fewest tokens we accept for a quote of `out_amount`: our slippage room below it
    (min(MAX_SLIPPAGE_BPS, SLIPPAGE_MARGIN_BPS), from the configuration).

    Never less than 1: a swap that yields no tokens is never a success.
    """
    if not 0 <= max_slippage_bps <= BPS:
        raise ValueError(f"slippage must be within 0..{BPS} bps, got {max_slippage_bps}")
    return max(out_amount * (BPS - max_slippage_bps) // BPS, 1)


def check_quote(quote: Quote, *, asked_lamports: int, max_slippage_bps: int) -> int:
    """Our own minimum for `quote`; GuardRefused when it is not the quote we asked for.

    Refused before a swap is built: amounts that do not fit a u64, an input other than the
    amount asked, no output, or an otherAmountThreshold below our minimum (the room a sandwich
    would take from the buyback). The API's threshold is checked, never trusted.
    """
    for name, value in (
        ("inAmount", quote.in_lamports),
        ("outAmount", quote.out_amount),
        ("otherAmountThreshold", quote.min_out_amount),
    ):
        if not 0 <= value <= U64_MAX:
            raise GuardRefused(f"quote refused: {name} {value} does not fit a u64")
    if quote.in_lamports != asked_lamports:
        raise GuardRefused(
            f"quote refused: inAmount {quote.in_lamports} differs from the "
            f"{asked_lamports} lamports asked"
        )
    if quote.out_amount <= 0:
        raise GuardRefused(f"quote refused: {quote.in_lamports} lamports would buy no tokens")
    ours = our_min_out(quote.out_amount, max_slippage_bps)
    if quote.min_out_amount < ours:
        raise GuardRefused(
            f"quote refused: otherAmountThreshold {quote.min_out_amount} is below our minimum "
            f"{ours} (outAmount {quote.out_amount} less our slippage room {max_slippage_bps} bps, "
            "min(MAX_SLIPPAGE_BPS, SLIPPAGE_MARGIN_BPS)); "
            "a swap built on it could deliver that much less"
        )
    return ours


def check_delivery(quote: Quote, delivered: int, max_slippage_bps: int) -> None:
    """A landed swap that yields no tokens (or fewer than our minimum) is never a success."""
    minimum = our_min_out(quote.out_amount, max_slippage_bps)
    if delivered < minimum:
        raise OperationalError(
            f"the buyback swap landed but delivered {delivered} base units, less than our "
            f"minimum {minimum} (outAmount {quote.out_amount} less our slippage room "
            f"{max_slippage_bps} bps); investigate the route before the next epoch"
        )


def is_onchain_slippage(error: str) -> bool:
    """Whether a failed swap's error is the DEX's slippage check (the market moved)."""
    return any(marker in error for marker in ONCHAIN_SLIPPAGE_MARKERS)


class TxKind(StrEnum):
    SWAP = "swap"
    BURN = "burn"
    TRANSFER = "transfer"
    ADS_TRANSFER = "ads-transfer"
    ANCHOR = "anchor"  # a memo anchoring the epoch's state on chain
    COLLECT = "collect"  # fees from a separate collector into the executor
    CLAIM = "claim"  # moves fees out of a vault to the executor (FEE_SOURCES other than wallet)
    SELL = "sell"  # fee tokens (token2022's ads share) sold for SOL


@dataclass(frozen=True)
class PreparedTx:
    """A signed transaction, not yet sent: exactly what the intent journal stores."""

    kind: TxKind
    signature: str
    raw: bytes
    last_valid_block_height: int
    # A finalized slot read before the first send (None for intents journaled before it was
    # kept): the expiry proof needs a node whose history reaches back to it.
    min_slot: int | None = None


class LandingStatus(StrEnum):
    CONFIRMED = "confirmed"  # executed successfully
    FAILED = "failed"  # executed and failed on-chain (the fee is paid, nothing else moved)
    EXPIRED = "expired"  # provably never executed: its blockhash expired


@dataclass(frozen=True)
class Landing:
    signature: str
    status: LandingStatus
    error: str = ""
    fee_lamports: int = 0
    sol_delta: int = 0  # executor's SOL change, fees included
    token_delta: int = 0  # executor's token change (from the confirmed transaction's balances)
    slot: int | None = None


class Destination(StrEnum):
    BURN = "burn"
    HOLD = "hold"
    TREASURY = "treasury"
