"""The balance check's arithmetic: what the journal says the executor must hold."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from flywheel.domain.balances import (
    BalanceReading,
    Checkpoint,
    Inflow,
    Movement,
    check_balances,
)

EXECUTOR, MINT = "Executor1111", "Mint1111"


def reading(sol: int, tokens: int, slot: int) -> BalanceReading:
    return BalanceReading(EXECUTOR, MINT, sol, tokens, slot)


def checkpoint(sol: int = 10_000, tokens: int = 0, slot: int = 100, *accounted: str) -> Checkpoint:
    return Checkpoint(reading(sol, tokens, slot), frozenset(accounted))


SWAP = Movement("swap", 110, sol_delta=-1_005_000, token_delta=700)
BURN = Movement("burn", 111, sol_delta=-5_000, token_delta=-700)


def test_a_swap_and_its_burn_explain_the_balances() -> None:
    check = check_balances(checkpoint(2_000_000), reading(990_000, 0, 120), [SWAP, BURN])
    assert check.expected_sol == 990_000 and check.expected_tokens == 0
    assert check.ok and not check.stale


def test_tokens_nothing_explains_are_a_mismatch_either_way() -> None:
    hidden_swap = check_balances(checkpoint(2_000_000), reading(995_000, 700, 120), [])
    assert not hidden_swap.ok and hidden_swap.tokens_unexplained == 700
    assert hidden_swap.sol_unexplained == -1_005_000
    assert "+700 unexplained" in hidden_swap.describe()
    taken = check_balances(checkpoint(tokens=50), reading(10_000, 20, 120), [])
    assert not taken.ok and taken.tokens_unexplained == -30


def test_missing_sol_stops_but_a_surplus_does_not() -> None:
    assert not check_balances(checkpoint(), reading(9_999, 0, 120), []).ok
    surplus = check_balances(checkpoint(), reading(12_000, 0, 120), [])
    assert surplus.ok and surplus.sol_unexplained == 2_000


def test_detected_fees_are_named_only_after_the_checkpoint_slot() -> None:
    fees = [
        Inflow("in-checkpoint", 100, 500),  # same slot: may be in the figures, left out
        Inflow("after", 101, 700),
        Inflow("later-than-reading", 130, 900),
    ]
    check = check_balances(checkpoint(), reading(10_700, 0, 120), [], fees)
    assert [i.signature for i in check.inflows] == ["after"]
    assert check.expected_sol == 10_700 and check.ok
    # A named fee that is not there is SOL missing: something took it.
    assert not check_balances(checkpoint(), reading(10_000, 0, 120), [], fees).ok


def test_transactions_in_the_checkpoint_are_not_counted_twice() -> None:
    # Many transactions can land in the reading's slot: the checkpoint names them.
    same_slot = Movement("swap", 100, sol_delta=-1_005_000, token_delta=700)
    base = checkpoint(995_000, 700, 100, "swap")
    assert check_balances(base, reading(995_000, 700, 100), [same_slot]).ok
    assert not check_balances(checkpoint(2_000_000), reading(995_000, 700, 100), []).ok


def test_a_reading_older_than_our_last_transaction_is_stale() -> None:
    check = check_balances(checkpoint(2_000_000), reading(2_000_000, 0, 105), [SWAP])
    assert check.stale


@given(
    sol=st.integers(0, 10**12),
    tokens=st.integers(0, 10**15),
    moves=st.lists(
        st.tuples(st.integers(-(10**9), 10**9), st.integers(-(10**9), 10**9)), max_size=8
    ),
    extra_tokens=st.integers(-(10**6), 10**6),
    extra_sol=st.integers(-(10**6), 10**6),
)
def test_only_what_the_journal_names_is_explained(
    sol: int,
    tokens: int,
    moves: list[tuple[int, int]],
    extra_tokens: int,
    extra_sol: int,
) -> None:
    movements = [Movement(f"tx{i}", 101 + i, s, t) for i, (s, t) in enumerate(moves)]
    observed_sol = sol + sum(s for s, _ in moves) + extra_sol
    observed_tokens = tokens + sum(t for _, t in moves) + extra_tokens
    check = check_balances(
        checkpoint(sol, tokens), reading(observed_sol, observed_tokens, 200), movements
    )
    assert check.tokens_unexplained == extra_tokens
    assert check.sol_unexplained == extra_sol
    assert check.ok == (extra_tokens == 0 and extra_sol >= 0)
