"""The pool's arithmetic: rounding favours the pool, fees are exact, inverses are exact."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flywheel.sandbox.jupiter.pool import (
    TransferFee,
    gross_for_net,
    input_to_move_price,
    min_out,
    net_of,
    price_impact,
    spot_price,
    swap_out,
)

reserve = st.integers(min_value=10**6, max_value=10**18)
amount = st.integers(min_value=0, max_value=10**15)


def test_swap_out_known_value() -> None:
    # 1 SOL into 100 SOL / 1e15 units: fee 2.5e6, net 997.5e6, out = 1e15*net/(100e9+net)
    trade = swap_out(10**9, 100 * 10**9, 10**15, fee_bps=25)
    assert trade.lp_fee == 2_500_000
    assert trade.amount_out == 10**15 * 997_500_000 // (100 * 10**9 + 997_500_000)


@given(amount_in=amount, reserve_in=reserve, reserve_out=reserve)
def test_swap_never_lowers_k_and_never_drains(
    amount_in: int, reserve_in: int, reserve_out: int
) -> None:
    trade = swap_out(amount_in, reserve_in, reserve_out, fee_bps=25)
    assert 0 <= trade.amount_out < reserve_out
    assert (reserve_in + amount_in) * (reserve_out - trade.amount_out) >= reserve_in * reserve_out


def test_swap_against_an_empty_side_gives_nothing() -> None:
    assert swap_out(10**9, 0, 10**15).amount_out == 0
    with pytest.raises(ValueError, match="amount_in"):
        swap_out(-1, 10, 10)


def test_min_out_rounds_down_and_checks_range() -> None:
    assert min_out(10_001, 300) == 9_700  # 9700.97 rounded down
    assert min_out(100, 0) == 100
    with pytest.raises(ValueError, match="slippage"):
        min_out(100, 10_001)


def test_price_impact_grows_with_size_and_excludes_the_fee() -> None:
    small = swap_out(10**6, 10**11, 10**15, fee_bps=25)
    large = swap_out(10**10, 10**11, 10**15, fee_bps=25)
    impact_small = price_impact(10**6, small.amount_out, 10**11, 10**15, fee_bps=25)
    impact_large = price_impact(10**10, large.amount_out, 10**11, 10**15, fee_bps=25)
    assert Decimal(0) <= impact_small < Decimal("0.0001")
    # 10 SOL into 100 SOL moves about 9% of the curve: net / (reserve + net)
    assert Decimal("0.08") < impact_large < Decimal("0.10")


@pytest.mark.parametrize("move_bps", [10, 300, 500, 2_000])
def test_input_to_move_price_moves_it_by_that_much(move_bps: int) -> None:
    sol, tok = 100 * 10**9, 10**15
    gross = input_to_move_price(sol, move_bps, fee_bps=25)
    trade = swap_out(gross, sol, tok, fee_bps=25)
    before = spot_price(sol, tok)
    after = spot_price(sol + gross, tok - trade.amount_out)
    moved = (after / before - 1) * 10_000
    assert move_bps <= moved < move_bps * Decimal("1.01") + 1


def test_input_to_move_price_of_nothing_is_nothing() -> None:
    assert input_to_move_price(10**9, 0, fee_bps=25) == 0


def test_transfer_fee_rounds_up_and_caps() -> None:
    fee = TransferFee(bps=100, maximum=5_000)
    assert fee.fee_on(0) == 0
    assert fee.fee_on(1) == 1  # ceil(0.01)
    assert fee.fee_on(10_000) == 100
    assert fee.fee_on(10**9) == 5_000
    assert fee.net(10_000) == 9_900
    assert net_of(None, 123) == 123
    with pytest.raises(ValueError, match="transfer fee"):
        TransferFee(bps=10_000, maximum=1)


@given(
    net=st.integers(min_value=0, max_value=10**18),
    bps=st.integers(min_value=0, max_value=9_999),
    maximum=st.integers(min_value=0, max_value=10**16),
)
def test_gross_for_net_is_the_exact_smallest_inverse(net: int, bps: int, maximum: int) -> None:
    fee = TransferFee(bps=bps, maximum=maximum)
    gross = gross_for_net(fee, net)
    assert fee.net(gross) == net
    assert gross == net or fee.net(gross - 1) < net


def test_gross_for_net_without_a_fee_is_the_identity() -> None:
    assert gross_for_net(None, 42) == 42
