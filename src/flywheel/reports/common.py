"""What both reports share: the schema version, UTC timestamps, decimal text, the base model.

Money is int (lamports, token base units, micro-USD); prices are decimal strings, because JSON
numbers are floats to most readers. Bump `SCHEMA_VERSION` only for a breaking change (a field
removed, renamed or retyped); adding a field does not bump it, so readers must ignore fields
they do not know.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Annotated, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from flywheel.domain.epoch_state import IntentRecord

SCHEMA_VERSION: Final = 1

_DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"


def _as_utc(value: datetime) -> datetime:
    # The state database keeps UTC; SQLite round-trips can drop tzinfo, so naive means UTC.
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]
"""Serialized as ISO-8601 with a trailing "Z"."""

DecimalText = Annotated[str, Field(pattern=_DECIMAL_PATTERN)]
"""A decimal number as text, fixed-point (no exponent): exact, unlike a JSON number."""


def decimal_text(value: Decimal) -> str:
    """Fixed-point text without exponent or trailing zeros: '0.000000001', '150', '-2.5'."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


class ReportSection(BaseModel):
    # Readers ignore unknown fields: additive changes must not break older tools. Fields with
    # defaults are always written, so the schema of the files marks them required.
    model_config = ConfigDict(
        extra="ignore", frozen=True, json_schema_serialization_defaults_required=True
    )


def realized_price(spent_lamports: int, tokens_bought: int) -> str | None:
    """Lamports paid per token base unit, 28 significant digits; None when nothing was bought."""
    if tokens_bought <= 0:
        return None
    with localcontext() as ctx:
        ctx.prec = 28  # fixed here so the text never depends on a caller's context
        return decimal_text(Decimal(spent_lamports) / Decimal(tokens_bought))


def slippage_bps(quoted_out: int, received: int) -> int | None:
    """Shortfall of `received` against `quoted_out` in basis points, rounded half-even."""
    if quoted_out <= 0 or received <= 0:
        return None
    bps = Decimal(quoted_out - received) * 10_000 / Decimal(quoted_out)
    return int(bps.to_integral_value(rounding=ROUND_HALF_EVEN))


class TransactionSection(ReportSection):
    kind: str = Field(description="swap | burn | transfer | ads-transfer | claim | sell")
    signature: str
    status: str = Field(description="pending | confirmed | failed | expired")
    error: str
    fee_lamports: int
    sol_delta: int = Field(description="Executor's SOL change, fees included")
    token_delta: int = Field(description="Executor's token change")

    @classmethod
    def from_intent(cls, intent: IntentRecord) -> TransactionSection:
        return cls(
            kind=intent.kind,
            signature=intent.signature,
            status=intent.status,
            error=intent.error,
            fee_lamports=intent.fee_lamports,
            sol_delta=intent.sol_delta,
            token_delta=intent.token_delta,
        )
