"""Integer money and the only conversions between units.

Amounts are `int` in base units: lamports (1 SOL = 10**9), token base units, micro-USD
(1 USD = 10**6). Prices are `Decimal` (USD per whole SOL). Every conversion rounds down, so the
flywheel never plans to spend a unit it does not have; callers carry what rounding leaves.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

SOL_DECIMALS = 9
MICRO_USD_DECIMALS = 6
LAMPORTS_PER_SOL = 10**9  # 10**SOL_DECIMALS, spelled out so that it types as int
MICRO_USD_PER_USD = 10**6


def _significant(amount: Decimal) -> tuple[int, int, int]:
    """(sign, integer of the digits, exponent) with zeros after the point dropped, exactly."""
    sign, digits, exponent = amount.as_tuple()
    if not isinstance(exponent, int):
        raise ValueError(f"{amount} is not a finite amount")
    if not any(digits):
        return sign, 0, 0
    while len(digits) > 1 and digits[-1] == 0 and exponent < 0:
        digits, exponent = digits[:-1], exponent + 1
    return sign, int("".join(map(str, digits))), exponent


def decimal_places(amount: Decimal) -> int:
    """Digits after the point that matter: 0.0500 has 2."""
    return max(0, -_significant(amount)[2])


def to_base_units(amount: Decimal, places: int) -> int:
    """`amount * 10**places` as an exact int, in integer arithmetic: no Decimal context, so no
    rounding however many digits; refuses a fraction of a base unit rather than dropping it."""
    sign, magnitude, exponent = _significant(amount)
    if exponent + places < 0:
        raise ValueError(f"{amount} has more than {places} decimals")
    units = magnitude * int(10 ** (exponent + places))
    return -units if sign else units


def sol_to_lamports(sol: Decimal) -> int:
    """Exact conversion; refuses fractions of a lamport rather than rounding them away."""
    try:
        return to_base_units(sol, SOL_DECIMALS)
    except ValueError:
        raise ValueError(
            f"{sol} SOL is not a whole number of lamports (at most 9 decimals)"
        ) from None


def usd_to_micro(usd: Decimal) -> int:
    try:
        return to_base_units(usd, MICRO_USD_DECIMALS)
    except ValueError:
        raise ValueError(
            f"{usd} USD is not a whole number of micro-USD (at most 6 decimals)"
        ) from None


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
