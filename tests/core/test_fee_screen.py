"""Runbook scenario 7's screen: MAX_FEES_PER_EPOCH_SOL holds back only the inflows beyond it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from flywheel.domain.fees import FeeReceipt, screen


def fees(*amounts: int) -> list[FeeReceipt]:
    return [FeeReceipt(f"sig-{n}", lamports, slot=n) for n, lamports in enumerate(amounts)]


def test_fees_under_the_cap_are_spent_and_the_inflows_beyond_it_quarantined() -> None:
    receipts = fees(10, 20, 30, 5)
    available, quarantined = screen(receipts, max_single_lamports=None, max_per_epoch_lamports=35)
    # 10 + 20 fit; 30 straddles the cap (quarantined whole); 5 comes after it: held too.
    assert available == receipts[:2]
    assert quarantined == receipts[2:]


def test_a_fee_that_exactly_reaches_the_cap_is_spent() -> None:
    receipts = fees(10, 25)
    available, quarantined = screen(receipts, max_single_lamports=None, max_per_epoch_lamports=35)
    assert (available, quarantined) == (receipts, [])


def test_the_single_cap_holds_one_inflow_and_does_not_use_up_the_epoch_cap() -> None:
    receipts = fees(10, 1_000, 20)
    available, quarantined = screen(receipts, max_single_lamports=100, max_per_epoch_lamports=30)
    assert available == [receipts[0], receipts[2]]
    assert quarantined == [receipts[1]]


def test_no_caps_spend_everything() -> None:
    receipts = fees(1, 10**12)
    assert screen(receipts, max_single_lamports=None, max_per_epoch_lamports=None) == (
        receipts,
        [],
    )


@given(
    st.lists(st.integers(min_value=1, max_value=10**10), max_size=30),
    st.one_of(st.none(), st.integers(min_value=1, max_value=10**10)),
    st.one_of(st.none(), st.integers(min_value=0, max_value=10**11)),
)
def test_every_inflow_is_either_available_or_quarantined_and_the_cap_holds(
    amounts: list[int], single: int | None, cap: int | None
) -> None:
    receipts = fees(*amounts)
    available, quarantined = screen(
        receipts, max_single_lamports=single, max_per_epoch_lamports=cap
    )
    assert sorted(available + quarantined, key=lambda r: r.slot) == receipts
    if cap is not None:
        assert sum(r.lamports for r in available) <= cap
    if single is not None:
        assert all(r.lamports <= single for r in available)
    # Spent in order: the available ones are a prefix of the inflows under the single cap.
    normal = [r for r in receipts if single is None or r.lamports <= single]
    assert normal[: len(available)] == available
