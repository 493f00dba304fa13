"""The one money rule: every lamport is bought back, reserved for ads, or carried."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flywheel.domain.allocation import AllocationPolicy, allocate
from flywheel.domain.money import (
    format_sol,
    format_usd,
    lamports_to_micro_usd,
    micro_usd_to_lamports,
    sol_to_lamports,
    usd_to_micro,
)

lamports = st.integers(min_value=0, max_value=10**18)
prices = st.one_of(
    st.none(),
    st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(100_000), places=6),
)
policies = st.builds(
    lambda buyback, cap, reserve: AllocationPolicy(
        buyback_percent=buyback,
        ads_percent=100 - buyback,
        max_budget_per_epoch_micro_usd=cap,
        min_sol_reserve_lamports=reserve,
    ),
    st.integers(min_value=0, max_value=100),
    st.integers(min_value=1, max_value=10**13),
    st.integers(min_value=0, max_value=10**10),
)


@given(unspent=lamports, balance=lamports, price=prices, policy=policies)
def test_every_lamport_is_accounted_for(unspent, balance, price, policy):
    a = allocate(
        unspent_lamports=unspent, executor_balance_lamports=balance, sol_usd=price, policy=policy
    )
    assert a.buyback_lamports + a.ads_lamports + a.carried_lamports == unspent
    assert min(a.buyback_lamports, a.ads_lamports, a.carried_lamports) >= 0
    assert a.spend_lamports <= a.spendable_lamports <= unspent
    # The reserve for transaction fees is never spent.
    assert a.spend_lamports <= max(0, balance - policy.min_sol_reserve_lamports)
    if price is None:
        assert a.spend_lamports == 0
    else:
        # The USD cap holds at the epoch's price.
        assert lamports_to_micro_usd(a.spend_lamports, price) <= (
            policy.max_budget_per_epoch_micro_usd
        )
    # Rounding leftovers are carried: at most one lamport per share is lost to integer division.
    assert a.spendable_lamports - a.spend_lamports <= 1


def test_cap_limits_spend_and_says_why():
    policy = AllocationPolicy(
        buyback_percent=70,
        ads_percent=30,
        max_budget_per_epoch_micro_usd=150_000_000,  # $150
        min_sol_reserve_lamports=50_000_000,
    )
    a = allocate(
        unspent_lamports=5 * 10**9,
        executor_balance_lamports=10 * 10**9,
        sol_usd=Decimal(150),
        policy=policy,
    )
    assert a.spendable_lamports == 10**9  # $150 at $150/SOL
    assert (a.buyback_lamports, a.ads_lamports) == (700_000_000, 300_000_000)
    assert a.carried_lamports == 4 * 10**9
    assert a.reason == "MAX_BUDGET_PER_EPOCH_USD"


def test_no_price_spends_nothing():
    policy = AllocationPolicy(70, 30, 10**9, 0)
    a = allocate(
        unspent_lamports=10**9, executor_balance_lamports=10**10, sol_usd=None, policy=policy
    )
    assert a.spend_lamports == 0 and a.carried_lamports == 10**9
    assert "price" in a.reason


def test_reserve_is_kept():
    policy = AllocationPolicy(50, 50, 10**12, 100)
    a = allocate(
        unspent_lamports=1000, executor_balance_lamports=600, sol_usd=Decimal(1), policy=policy
    )
    assert a.spendable_lamports == 500
    assert a.reason == "executor balance minus MIN_SOL_RESERVE"


@pytest.mark.parametrize(
    ("buyback", "ads"), [(101, -1), (60, 30), (-1, 101)], ids=["over", "sum90", "negative"]
)
def test_policy_rejects_bad_percents(buyback, ads):
    with pytest.raises(ValueError, match="percent"):
        AllocationPolicy(buyback, ads, 1, 0)


def test_conversions_are_exact_and_round_down():
    assert sol_to_lamports(Decimal("0.05")) == 50_000_000
    with pytest.raises(ValueError, match="lamports"):
        sol_to_lamports(Decimal("0.0000000001"))
    assert lamports_to_micro_usd(1, Decimal(150)) == 0  # 0.15 micro-USD rounds down
    assert micro_usd_to_lamports(150_000_000, Decimal(150)) == 10**9
    assert format_sol(1_500_000_001) == "1.500000001 SOL"
    assert format_usd(1_234_567_890) == "$1,234.56"


def test_conversions_stay_exact_past_the_decimal_context():
    # 39 significant digits: Decimal multiplication (28 digits by default) would round these.
    huge = Decimal("123456789012345678901234567890.123456789")
    assert sol_to_lamports(huge) == 123456789012345678901234567890123456789
    assert usd_to_micro(Decimal("0.050000")) == 50_000
    with pytest.raises(ValueError, match="micro-USD"):
        usd_to_micro(Decimal("0.0000001"))
    with pytest.raises(ValueError, match="lamports"):
        sol_to_lamports(Decimal("NaN"))
