"""The operator's buyback limits in the core: our own minimum, quote checks, MIN_BUYBACK_SOL."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flywheel.domain.allocation import AllocationPolicy, allocate
from flywheel.domain.trade import U64_MAX, Quote, check_quote, our_min_out
from flywheel.errors import GuardRefused

ASKED = 10_000_000


def quote(**changes: Any) -> Quote:
    honest = Quote(
        in_lamports=ASKED,
        out_amount=1_000_000,
        min_out_amount=970_000,
        price_impact_bps=10,
        slippage_bps=300,
    )
    return dataclasses.replace(honest, **changes)


def test_our_minimum_is_out_amount_less_max_slippage() -> None:
    assert our_min_out(1_000_000, 300) == 970_000
    assert our_min_out(999, 300) == 969  # rounded down, like Jupiter's own threshold
    assert our_min_out(1, 300) == 1  # never zero: nothing bought is never a success


def test_an_honest_quote_passes_with_our_minimum() -> None:
    assert check_quote(quote(), asked_lamports=ASKED, max_slippage_bps=300) == 970_000


def test_a_loose_threshold_is_refused_naming_both_figures() -> None:
    with pytest.raises(GuardRefused) as caught:
        check_quote(quote(min_out_amount=1), asked_lamports=ASKED, max_slippage_bps=300)
    assert str(caught.value) == (
        "quote refused: otherAmountThreshold 1 is below our minimum 970000 (outAmount 1000000 "
        "less our slippage room 300 bps, min(MAX_SLIPPAGE_BPS, SLIPPAGE_MARGIN_BPS)); a swap "
        "built on it could deliver that much less"
    )


def test_a_zero_threshold_is_refused() -> None:
    with pytest.raises(GuardRefused, match="otherAmountThreshold 0 is below"):
        check_quote(quote(min_out_amount=0), asked_lamports=ASKED, max_slippage_bps=300)


def test_an_input_other_than_asked_is_refused() -> None:
    with pytest.raises(GuardRefused, match=f"inAmount {ASKED + 1} differs from the {ASKED}"):
        check_quote(quote(in_lamports=ASKED + 1), asked_lamports=ASKED, max_slippage_bps=300)


def test_a_quote_for_no_tokens_is_refused() -> None:
    with pytest.raises(GuardRefused, match="would buy no tokens"):
        check_quote(
            quote(out_amount=0, min_out_amount=0), asked_lamports=ASKED, max_slippage_bps=300
        )


@pytest.mark.parametrize("name", ["out_amount", "min_out_amount"])
def test_amounts_beyond_u64_are_refused(name: str) -> None:
    big = {name: U64_MAX + 1} | ({"out_amount": U64_MAX + 1} if name == "min_out_amount" else {})
    with pytest.raises(GuardRefused, match="does not fit a u64"):
        check_quote(quote(**big), asked_lamports=ASKED, max_slippage_bps=300)


# -- MIN_BUYBACK_SOL -----------------------------------------------------------------------------


def policy(**changes: int) -> AllocationPolicy:
    fields = {
        "buyback_percent": 70,
        "ads_percent": 30,
        "max_budget_per_epoch_micro_usd": 10**12,
        "min_sol_reserve_lamports": 0,
        "min_buyback_lamports": 10_000_000,
    }
    fields.update(changes)
    return AllocationPolicy(**fields)


def test_a_buyback_share_under_the_minimum_is_carried_and_says_why() -> None:
    a = allocate(
        unspent_lamports=10_000_000,
        executor_balance_lamports=10**12,
        sol_usd=Decimal(150),
        policy=policy(),
    )
    assert a.buyback_lamports == 0
    assert a.ads_lamports == 3_000_000
    assert a.carried_lamports == 7_000_000
    assert a.reason == (
        "buyback share 7000000 lamports is under MIN_BUYBACK_SOL (10000000 lamports): "
        "carried until an epoch reaches it"
    )


def test_the_epoch_that_reaches_the_minimum_buys() -> None:
    carried = 7_000_000
    a = allocate(
        unspent_lamports=carried + 8_000_000,
        executor_balance_lamports=10**12,
        sol_usd=Decimal(150),
        policy=policy(),
    )
    assert a.buyback_lamports == 10_500_000 and a.reason == ""


def test_zero_disables_the_minimum() -> None:
    a = allocate(
        unspent_lamports=1_000,
        executor_balance_lamports=10**12,
        sol_usd=Decimal(150),
        policy=policy(min_buyback_lamports=0),
    )
    assert a.buyback_lamports == 700


def test_an_ads_treasury_transfer_under_the_minimum_is_carried() -> None:
    a = allocate(
        unspent_lamports=20_000_000,
        executor_balance_lamports=10**12,
        sol_usd=Decimal(150),
        policy=policy(min_transfer_lamports=10_000_000),
    )
    assert a.buyback_lamports == 14_000_000
    assert a.ads_lamports == 0 and a.carried_lamports == 6_000_000
    assert "ads-treasury transfer 6000000 lamports is under MIN_BUYBACK_SOL" in a.reason


@given(
    unspent=st.integers(min_value=0, max_value=10**15),
    minimum=st.integers(min_value=0, max_value=10**12),
    transfer=st.integers(min_value=0, max_value=10**12),
)
def test_minimums_never_lose_a_lamport(unspent: int, minimum: int, transfer: int) -> None:
    a = allocate(
        unspent_lamports=unspent,
        executor_balance_lamports=10**16,
        sol_usd=Decimal(150),
        policy=policy(min_buyback_lamports=minimum, min_transfer_lamports=transfer),
    )
    assert a.buyback_lamports + a.ads_lamports + a.carried_lamports == unspent
    assert a.buyback_lamports == 0 or a.buyback_lamports >= minimum
    assert a.ads_lamports == 0 or a.ads_lamports >= transfer
