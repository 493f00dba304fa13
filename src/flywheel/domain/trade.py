"""What crosses the buyback's ports: quotes, prepared transactions, landings."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


@dataclass(frozen=True)
class Quote:
    """A DEX quote for SOL -> token. `raw` is the API's answer, passed back to it unchanged."""

    in_lamports: int
    out_amount: int  # token base units expected
    min_out_amount: int  # the least the swap may deliver (Jupiter's otherAmountThreshold)
    price_impact_bps: int
    slippage_bps: int
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


class TxKind(StrEnum):
    SWAP = "swap"
    BURN = "burn"
    TRANSFER = "transfer"
    ADS_TRANSFER = "ads-transfer"
    CLAIM = "claim"  # moves fees out of a vault to the executor (FEE_SOURCES other than wallet)


@dataclass(frozen=True)
class PreparedTx:
    """A signed transaction, not yet sent: exactly what the intent journal stores."""

    kind: TxKind
    signature: str
    raw: bytes
    last_valid_block_height: int


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
