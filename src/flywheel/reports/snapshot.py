"""The snapshot report: the balances of every wallet the flywheel touches, valued in USD."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import Field, model_validator

from flywheel import __version__
from flywheel.domain.money import MICRO_USD_PER_USD
from flywheel.reports.common import (
    SCHEMA_VERSION,
    DecimalText,
    ReportSection,
    UtcDatetime,
    decimal_text,
)


class WalletRole(StrEnum):
    EXECUTOR = "executor"
    FEE_COLLECTOR = "fee_collector"
    TREASURY = "treasury"
    ADS_TREASURY = "ads_treasury"


class WalletBalance(ReportSection):
    role: WalletRole
    pubkey: str
    sol_lamports: int = Field(ge=0)
    token_amount: int = Field(ge=0, description="Token base units")
    token_decimals: int = Field(ge=0)
    usd_value_micro: int | None = Field(description="SOL + token value; null without prices")

    @classmethod
    def priced(
        cls,
        *,
        role: WalletRole,
        pubkey: str,
        sol_lamports: int,
        token_amount: int,
        token_decimals: int,
        sol_usd: Decimal | None,
        token_usd: Decimal | None,
    ) -> WalletBalance:
        """A wallet's balances valued at the snapshot's prices, rounded down to micro-USD."""
        value: int | None = None
        if sol_usd is not None and token_usd is not None:
            exact = (
                Decimal(sol_lamports) * sol_usd / 10**9
                + Decimal(token_amount) * token_usd / Decimal(10) ** token_decimals
            ) * MICRO_USD_PER_USD
            value = int(exact)  # int() truncates: never overstate a balance
        return cls(
            role=role,
            pubkey=pubkey,
            sol_lamports=sol_lamports,
            token_amount=token_amount,
            token_decimals=token_decimals,
            usd_value_micro=value,
        )


class SnapshotTotals(ReportSection):
    sol_lamports: int
    token_amount: int
    usd_value_micro: int | None = Field(description="null when any wallet has no USD value")


class SnapshotReport(ReportSection):
    """Balances of every relevant wallet: `REPORTS_DIR/snapshot-<UTC timestamp>.json`."""

    schema_version: Literal[1] = SCHEMA_VERSION
    kind: Literal["snapshot"] = "snapshot"
    flywheel_version: str = __version__
    taken_at: UtcDatetime
    sol_usd_price: DecimalText | None
    token_usd_price: DecimalText | None
    token_mint: str
    wallets: list[WalletBalance]
    totals: SnapshotTotals

    @model_validator(mode="after")
    def _totals_match(self) -> SnapshotReport:
        if self.totals != totals_of(self.wallets):
            raise ValueError("snapshot totals do not match the sum of its wallets")
        return self

    @classmethod
    def create(
        cls,
        *,
        taken_at: datetime,
        token_mint: str,
        sol_usd: Decimal | None,
        token_usd: Decimal | None,
        wallets: list[WalletBalance],
    ) -> SnapshotReport:
        return cls(
            taken_at=taken_at,
            sol_usd_price=None if sol_usd is None else decimal_text(sol_usd),
            token_usd_price=None if token_usd is None else decimal_text(token_usd),
            token_mint=token_mint,
            wallets=wallets,
            totals=totals_of(wallets),
        )


def totals_of(wallets: list[WalletBalance]) -> SnapshotTotals:
    """Each wallet counted once, even when two roles share it (collector = executor)."""
    unique = list({w.pubkey: w for w in wallets}.values())
    values = [w.usd_value_micro for w in unique]
    return SnapshotTotals(
        sol_lamports=sum(w.sol_lamports for w in unique),
        token_amount=sum(w.token_amount for w in unique),
        usd_value_micro=None if None in values else sum(v for v in values if v is not None),
    )
