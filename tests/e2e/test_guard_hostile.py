"""`flywheel epoch` against a hostile Jupiter, a moving market and a small buyback.

Each hostile swap (docs/sandbox.md's DEX faults) is refused with a message naming what was seen:
nothing signed, the executor's SOL and tokens unchanged on chain, the whole input carried. A
price that moves past MAX_SLIPPAGE_BPS is the market, not an attack: a temporary error whose
message is the runbook's "Slippage exceeds maximum", everything carried; a one-off move is
absorbed by a re-quote. A buyback share under MIN_BUYBACK_SOL is carried until an epoch
reaches it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flywheel.sandbox.faults import Faults
from flywheel.sandbox.runner import Sandbox
from tests.e2e.harness import (
    ChainView,
    check_identity,
    describe,
    finished_epochs,
    flywheel_env,
    report_of,
    run_cli,
)
from tests.sandbox.harness import start_sandbox

pytestmark = pytest.mark.slow

HOSTILE: dict[str, tuple[dict[str, object], str, list[str]]] = {
    "inflated compute budget": (
        {"inflated_compute_budget": True},
        "buyback.guard",
        [
            "inflated compute budget: the swap would pay a priority fee of 1000000000 lamports",
            "(1400000 compute units at 714285714 micro-lamports each)",
            "more than MAX_PRIORITY_FEE_LAMPORTS 1000000",
        ],
    ),
    "loose threshold and a short delivery": (
        {"loose_threshold": True, "short_delivery_bps": 5_000},
        "buyback.quote",
        [
            "quote refused: otherAmountThreshold 1 is below our minimum",
            "our slippage room 50 bps",  # SLIPPAGE_MARGIN_BPS' default, under MAX_SLIPPAGE_BPS
        ],
    ),
    "short delivery": (
        {"short_delivery_bps": 5_000},
        "buyback.guard",
        ["short delivery: executor would receive", "its SOL goes to {pool} +"],
    ),
    # 1% short: within MAX_SLIPPAGE_BPS (300) but past our room (SLIPPAGE_MARGIN_BPS 50).
    "a short delivery within MAX_SLIPPAGE_BPS": (
        {"short_delivery_bps": 100},
        "buyback.guard",
        ["short delivery: executor would receive"],
    ),
    "swap that only moves SOL away": (
        {"sol_only_swap": True},
        "buyback.guard",
        ["no tokens: the swap only moves SOL away", "its SOL goes to {attacker} +"],
    ),
    "overspend": (
        {"overspend_lamports": 5_000_000},
        "buyback.guard",
        ["overspend: executor SOL would go down", "the swap pays {pool} +", "5000000 more"],
    ),
    "extra transfer": (
        {"malicious_swap": True},
        "buyback.guard",
        ["extra transfer: executor SOL", "it goes to {attacker} +", "(the swap pays {pool} +"],
    ),
    "delegate": (
        {"swap_delegate": True},
        "buyback.guard",
        ["delegate: token account {ata}", "would gain delegate {attacker}"],
    ),
    "close authority": (
        {"swap_close_authority": True},
        "buyback.guard",
        ["close authority: token account {ata}", "would gain close authority {attacker}"],
    ),
}
CALM = {name: Faults().as_dict()[name] for name in Faults.names() if name != "seed"}


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    sandbox = start_sandbox(tmp_path_factory.mktemp("sandbox"), faults=Faults(seed=3))
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def faults(box: Sandbox) -> Iterator[Faults]:
    """The module sandbox's faults, all off again after each test."""
    try:
        yield box.faults
    finally:
        box.faults.update(**CALM)


@pytest.mark.parametrize("case", list(HOSTILE))
def test_each_hostile_swap_is_refused_naming_what_was_seen(
    box: Sandbox, faults: Faults, tmp_path: Path, case: str
) -> None:
    switches, step, expected = HOSTILE[case]
    env = flywheel_env(box, tmp_path)
    view = ChainView(box)
    names = {
        "pool": box.pool.address,
        "attacker": box.attacker,
        "ata": box.pool.ata(view.executor),
    }
    box.traders.step(3)
    bookmark = view.next_seq()
    sol, tokens, attacker = view.sol(), view.token_amount(), view.sol(box.attacker)

    faults.update(**switches)
    result = run_cli(["epoch"], tmp_path)
    faults.update(**CALM)

    assert result.returncode == 1, describe(result)
    assert "Traceback" not in result.stderr
    [failed] = finished_epochs(env)
    [error] = report_of(failed)["errors"]
    assert (error["step"], error["kind"]) == (step, "GuardRefused"), error
    for part in expected:
        assert part.format(**names) in error["message"], error["message"]
    # Nothing signed, nothing moved: checked on the chain itself.
    assert view.executor_txs(bookmark) == []
    assert (view.sol(), view.token_amount(), view.sol(box.attacker)) == (sol, tokens, attacker)
    assert failed.buyback_spent_lamports == 0 and failed.ads_reserved_lamports == 0
    assert failed.carried_out_lamports == failed.input_lamports > 0
    check_identity([failed])


def test_a_price_moving_past_the_slippage_is_a_temporary_error_and_carries_everything(
    box: Sandbox, faults: Faults, tmp_path: Path
) -> None:
    env = flywheel_env(box, tmp_path)
    view = ChainView(box)
    box.traders.step(3)
    bookmark = view.next_seq()
    sol, tokens = view.sol(), view.token_amount()

    faults.update(price_move_bps=500)  # every swap: the market runs away from each quote
    result = run_cli(["epoch"], tmp_path)
    faults.update(**CALM)

    assert result.returncode == 1, describe(result)
    [failed] = finished_epochs(env)
    [error] = report_of(failed)["errors"]
    assert error["step"] == "buyback.guard"
    assert error["kind"] == "SlippageExceeded"  # a TemporaryError: never GuardRefused
    assert error["message"].startswith("Slippage exceeds maximum: ")
    assert "6001" in error["message"] and "still after 3 quotes" in error["message"]
    assert failed.quote_attempts == 3
    assert view.executor_txs(bookmark) == []
    assert (view.sol(), view.token_amount()) == (sol, tokens)
    assert failed.buyback_spent_lamports == 0 and failed.ads_reserved_lamports == 0
    assert failed.carried_out_lamports == failed.input_lamports > 0


def test_a_one_off_price_move_is_absorbed_by_one_requote(
    box: Sandbox, faults: Faults, tmp_path: Path
) -> None:
    env = flywheel_env(box, tmp_path)
    view = ChainView(box)
    box.traders.step(3)
    bookmark = view.next_seq()

    faults.update(price_move_bps=500, price_move_once=True)
    result = run_cli(["epoch"], tmp_path)

    assert result.returncode == 0, describe(result)
    [epoch] = finished_epochs(env)
    assert report_of(epoch)["errors"] == []
    assert epoch.quote_attempts == 2  # the stale quote and its one re-quote
    assert epoch.buyback_spent_lamports == epoch.buyback_planned_lamports > 0
    assert epoch.tokens_bought > 0
    assert [t.kind for t in view.executor_txs(bookmark) if t.ok] == ["swap", "burn"]


def test_a_move_within_the_slippage_needs_no_requote(
    box: Sandbox, faults: Faults, tmp_path: Path
) -> None:
    # A room of 300 bps (SLIPPAGE_MARGIN_BPS as loose as MAX_SLIPPAGE_BPS): 100 bps fit in it.
    env = flywheel_env(box, tmp_path, SLIPPAGE_MARGIN_BPS="300")
    box.traders.step(3)
    faults.update(price_move_bps=100)  # under MAX_SLIPPAGE_BPS 300 (the price, not the output)
    result = run_cli(["epoch"], tmp_path)
    assert result.returncode == 0, describe(result)
    [epoch] = finished_epochs(env)
    assert epoch.quote_attempts == 1 and epoch.tokens_bought > 0


def test_a_move_past_the_margin_is_requoted_never_bought_at_the_looser_maximum(
    box: Sandbox, faults: Faults, tmp_path: Path
) -> None:
    """SLIPPAGE_MARGIN_BPS (50 by default) is the room, not MAX_SLIPPAGE_BPS (300): a swap
    the price moved 100 bps against between quote and send is re-quoted at the new price."""
    env = flywheel_env(box, tmp_path)
    box.traders.step(3)
    faults.update(price_move_bps=100, price_move_once=True)
    result = run_cli(["epoch"], tmp_path)
    assert result.returncode == 0, describe(result)
    [epoch] = finished_epochs(env)
    assert epoch.quote_attempts == 2 and epoch.tokens_bought > 0
    assert epoch.quote is not None and epoch.quote.slippage_bps == 50


def test_a_buyback_under_min_buyback_sol_is_carried_and_the_epoch_reaching_it_buys(
    box: Sandbox, faults: Faults, tmp_path: Path
) -> None:
    view = ChainView(box)
    box.traders.step(3)
    # A fresh history: only what arrives from here on (FEE_START=now on this new database).
    env = flywheel_env(box, tmp_path, FEE_START="now", MIN_BUYBACK_SOL="0.02")
    first = run_cli(["epoch"], tmp_path)
    assert first.returncode == 0, describe(first)
    bookmark = view.next_seq()

    box.traders.step(2)
    small = run_cli(["epoch"], tmp_path)
    assert small.returncode == 0, describe(small)
    carried = finished_epochs(env)[-1]
    assert 0 < carried.input_lamports * 70 // 100 < 20_000_000, "the fees were not small"
    assert carried.buyback_planned_lamports == 0 and carried.buyback_spent_lamports == 0
    note = report_of(carried)["allocation"]["note"]
    assert "is under MIN_BUYBACK_SOL (20000000 lamports): carried" in note
    assert [t.kind for t in view.executor_txs(bookmark)] == []

    # Fees pile up until an epoch's buyback share reaches the minimum; that one buys.
    for _ in range(20):
        box.traders.step(3)
        later = run_cli(["epoch"], tmp_path)
        assert later.returncode == 0, describe(later)
        latest = finished_epochs(env)[-1]
        if latest.buyback_spent_lamports > 0:
            break
    assert latest.buyback_spent_lamports >= 20_000_000
    assert latest.carried_in_lamports >= carried.carried_out_lamports
    assert "swap" in [t.kind for t in view.executor_txs(bookmark)]
    check_identity(finished_epochs(env)[1:])
