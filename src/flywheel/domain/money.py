"""Integer money and the only conversions between units.

Amounts are `int` in base units: lamports (1 SOL = 10**9), token base units, micro-USD
(1 USD = 10**6). Prices are `Decimal` (USD per whole SOL). Every conversion rounds down, so the
flywheel never plans to spend a unit it does not have; callers carry what rounding leaves.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

LAMPORTS_PER_SOL = 10**9
MICRO_USD_PER_USD = 10**6


def sol_to_lamports(sol: Decimal) -> int:
    """Exact conversion; refuses fractions of a lamport rather than rounding them away."""
    lamports = sol * LAMPORTS_PER_SOL
    if lamports != lamports.to_integral_value():
        raise ValueError(f"{sol} SOL is not a whole number of lamports (at most 9 decimals)")
    return int(lamports)


def usd_to_micro(usd: Decimal) -> int:
    micro = usd * MICRO_USD_PER_USD
    if micro != micro.to_integral_value():
        raise ValueError(f"{usd} USD is not a whole number of micro-USD (at most 6 decimals)")
    return int(micro)


def lamports_to_micro_usd(lamports: int, sol_usd: Decimal) -> int:
    """Value of `lamports` in micro-USD at `sol_usd` per SOL, rounded down."""
    if lamports < 0:
        raise ValueError("lamports must not be negative")
    value = Decimal(lamports) * sol_usd * MICRO_USD_PER_USD / LAMPORTS_PER_SOL
    return int(value.to_integral_value(rounding=ROUND_DOWN))


def micro_usd_to_lamports(micro_usd: int, sol_usd: Decimal) -> int:
    """How many lamports `micro_usd` buys at `sol_usd` per SOL, rounded down."""
    if micro_usd < 0:
        raise ValueError("micro_usd must not be negative")
    if sol_usd <= 0:
        raise ValueError("sol_usd must be positive")
    value = Decimal(micro_usd) * LAMPORTS_PER_SOL / (sol_usd * MICRO_USD_PER_USD)
    return int(value.to_integral_value(rounding=ROUND_DOWN))


def format_sol(lamports: int) -> str:
    """'1.234567890 SOL' without float rounding."""
    sign = "-" if lamports < 0 else ""
    whole, frac = divmod(abs(lamports), LAMPORTS_PER_SOL)
    return f"{sign}{whole}.{frac:09d} SOL"


def format_usd(micro_usd: int) -> str:
    sign = "-" if micro_usd < 0 else ""
    whole, frac = divmod(abs(micro_usd), MICRO_USD_PER_USD)
    return f"{sign}${whole:,}.{frac // 10_000:02d}"
