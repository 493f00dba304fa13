"""Constant-product pool arithmetic, pure: integers for amounts, Decimal for ratios.

Rounding always favours the pool (fees round up, outputs round down), like on-chain AMMs, so a
sequence of trades can never drain more than the reserves hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext

BPS = 10_000
DEFAULT_LP_FEE_BPS = 25  # 0.25%


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class Reserves:
    """What the pool can trade: lamports (above the vault's rent minimum) and token base units."""

    sol: int
    token: int

    def __post_init__(self) -> None:
        if self.sol < 0 or self.token < 0:
            raise ValueError("reserves cannot be negative")


@dataclass(frozen=True)
class SwapOut:
    amount_out: int
    lp_fee: int  # in the input's units


def swap_out(
    amount_in: int, reserve_in: int, reserve_out: int, *, fee_bps: int = DEFAULT_LP_FEE_BPS
) -> SwapOut:
    """Output of an exact-in trade against x*y=k after the LP fee (taken from the input)."""
    if amount_in < 0:
        raise ValueError("amount_in must be >= 0")
    if reserve_in <= 0 or reserve_out <= 0:
        return SwapOut(amount_out=0, lp_fee=0)
    lp_fee = _ceil_div(amount_in * fee_bps, BPS)
    net_in = amount_in - lp_fee
    amount_out = reserve_out * net_in // (reserve_in + net_in)
    return SwapOut(amount_out=amount_out, lp_fee=lp_fee)


def min_out(amount_out: int, slippage_bps: int) -> int:
    """Jupiter's otherAmountThreshold for ExactIn: the quote less the slippage, rounded down."""
    if not 0 <= slippage_bps <= BPS:
        raise ValueError("slippage_bps must be within [0, 10000]")
    return amount_out * (BPS - slippage_bps) // BPS


def price_impact(
    amount_in: int, amount_out: int, reserve_in: int, reserve_out: int, *, fee_bps: int
) -> Decimal:
    """Fraction (0.01 = 1%) lost to the curve, fees excluded: 1 - out / (net_in * spot)."""
    if amount_in <= 0 or reserve_in <= 0 or reserve_out <= 0:
        return Decimal(0)
    net_in = amount_in - _ceil_div(amount_in * fee_bps, BPS)
    ideal = Decimal(net_in) * Decimal(reserve_out) / Decimal(reserve_in)
    if ideal <= 0:
        return Decimal(0)
    impact = 1 - Decimal(amount_out) / ideal
    return max(impact, Decimal(0))


def input_to_move_price(reserve_in: int, move_bps: int, *, fee_bps: int) -> int:
    """Gross input that moves the price (in input per output) up by `move_bps`.

    Price in input-per-output is reserve_in / reserve_out and k is fixed, so it scales with
    (reserve_in'/reserve_in)^2: the net input is reserve_in * (sqrt(1 + move) - 1).
    """
    if move_bps <= 0 or reserve_in <= 0:
        return 0
    with localcontext() as ctx:
        ctx.prec = 40
        factor = (Decimal(1) + Decimal(move_bps) / BPS).sqrt() - 1
        net_in = int((Decimal(reserve_in) * factor).to_integral_value(rounding="ROUND_CEILING"))
    # gross such that gross - ceil(gross * fee / BPS) >= net_in
    gross = _ceil_div(net_in * BPS, BPS - fee_bps)
    while gross - _ceil_div(gross * fee_bps, BPS) < net_in:
        gross += 1
    return gross


def spot_price(reserve_quote: int, reserve_base: int) -> Decimal:
    """Quote units per base unit (e.g. lamports per token base unit)."""
    if reserve_base <= 0:
        return Decimal(0)
    return Decimal(reserve_quote) / Decimal(reserve_base)


@dataclass(frozen=True)
class TransferFee:
    """A Token-2022 transfer fee: the recipient gets amount - fee, the fee stays withheld."""

    bps: int
    maximum: int

    def __post_init__(self) -> None:
        # At 100% nothing ever arrives, and the inverse (gross_for_net) has no answer.
        if not 0 <= self.bps < BPS or self.maximum < 0:
            raise ValueError("transfer fee must be within [0, 10000) bps, maximum >= 0")

    def fee_on(self, amount: int) -> int:
        if self.bps == 0 or amount == 0:
            return 0
        return min(_ceil_div(amount * self.bps, BPS), self.maximum)

    def net(self, amount: int) -> int:
        return amount - self.fee_on(amount)


def net_of(fee: TransferFee | None, amount: int) -> int:
    return amount if fee is None else fee.net(amount)


def gross_for_net(fee: TransferFee | None, net: int) -> int:
    """The smallest amount whose transfer delivers exactly `net` after the fee.

    Exact because net(amount) grows by 0 or 1 per unit of amount, so it takes every value;
    found by bisection since it is monotonic.
    """
    if fee is None or net <= 0:
        return max(net, 0)
    lo, hi = net, net + fee.fee_on(net) + 1
    while fee.net(hi) < net:
        hi = net + 2 * (hi - net)
    while lo < hi:
        mid = (lo + hi) // 2
        if fee.net(mid) >= net:
            hi = mid
        else:
            lo = mid + 1
    return lo
