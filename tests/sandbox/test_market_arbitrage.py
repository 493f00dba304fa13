"""The sandbox's arbitrage: the pool pulled back to a drifting reference price, seeded."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

from solders.keypair import Keypair

from flywheel.sandbox.jupiter.dex import SOL_MINT, sign_as
from flywheel.sandbox.runner import Sandbox
from tests.sandbox.harness import start_sandbox
from tests.sandbox.market_helpers import SOL, mid, send_public, tokens_of, victim_buy

BPS = Decimal(10_000)


def trade(sandbox: Sandbox, lamports: int) -> None:
    """A buy straight to the chain, as the sandbox's own traders make them."""
    chain, pool = sandbox.chain, sandbox.pool
    wallet = Keypair()
    chain.airdrop(wallet.pubkey(), lamports + SOL)
    quote = pool.quote(chain, SOL_MINT, pool.mint, lamports, 100)
    tx, _ = pool.build_swap(
        chain, wallet.pubkey(), quote, compute_unit_limit=200_000, compute_unit_price=0
    )
    chain.send(sign_as(tx, wallet))


def gap_bps(sandbox: Sandbox) -> Decimal:
    reference = sandbox.market.arbitrage.reference_at(sandbox.chain.slot())
    return abs(mid(sandbox) / reference - 1) * BPS


def test_arbitrage_restores_the_price_within_two_slots(tmp_path: Path) -> None:
    sandbox = start_sandbox(tmp_path, arbitrage=True)
    try:
        sandbox.market.step()  # the reference starts at the pool's mid
        trade(sandbox, 3 * SOL)  # ~6% up
        assert gap_bps(sandbox) > 500
        assert sandbox.market.step() is None  # it sees the gap, and reacts a slot later
        assert sandbox.market.arbitrage.trades == []
        for _ in range(2):
            sandbox.chain.advance(1)
            sandbox.market.step()
        assert gap_bps(sandbox) <= 3  # the threshold (2 bps) plus a slot of drift
        [restore, *_] = sandbox.market.arbitrage.trades
        assert restore.sold_tokens and restore.amount > 0
    finally:
        sandbox.stop()


def test_arbitrage_buys_back_a_dump_and_follows_the_drift(tmp_path: Path) -> None:
    sandbox = start_sandbox(tmp_path, arbitrage=True)
    try:
        arbitrage = sandbox.market.arbitrage
        start = arbitrage.reference_at(sandbox.chain.slot())
        trader = Keypair()
        sandbox.chain.airdrop(trader.pubkey(), 20 * SOL)
        send_public(sandbox, victim_buy(sandbox, 10 * SOL, 100, marker=False, wallet=trader).tx)
        sandbox.chain.advance(1)
        sandbox.market.step()  # the pump is sold into
        tokens = tokens_of(sandbox, trader.pubkey())
        assert tokens > 0
        gaps = []
        for _ in range(60):
            sandbox.chain.advance(1)
            sandbox.market.step()
            gaps.append(gap_bps(sandbox))
        assert max(gaps) <= 3
        moved = abs(arbitrage.reference_at(sandbox.chain.slot()) / start - 1) * BPS
        assert moved > 0  # the reference walks; the pool went with it
        assert any(not t.sold_tokens for t in arbitrage.trades)  # and was bought up at times
    finally:
        sandbox.stop()


def run_market(tmp_path: Path, seed: int) -> tuple[list[Decimal], list[tuple[int, int, int]]]:
    """References over 30 slots and the sandwiches of three victims, for `seed`."""
    sandbox = start_sandbox(tmp_path, seed=seed, arbitrage=True, searcher=True)
    try:
        references = []
        for i in range(30):
            if i % 10 == 0:
                send_public(sandbox, victim_buy(sandbox, SOL, 300, marker=False).tx)
            sandbox.chain.advance(1)
            sandbox.market.step()
            references.append(sandbox.market.arbitrage.reference_at(sandbox.chain.slot()))
        sandwiches = [
            (s.front_lamports, s.profit_lamports, s.victim_tokens_lost)
            for s in sandbox.market.searcher.sandwiches
        ]
        return references, sandwiches
    finally:
        sandbox.stop()


def test_the_market_is_deterministic_under_its_seed(tmp_path: Path) -> None:
    first = run_market(tmp_path / "a", seed=7)
    again = run_market(tmp_path / "b", seed=7)
    other = run_market(tmp_path / "c", seed=8)
    assert first == again
    assert len(first[1]) == 3
    assert first[0] != other[0]  # another seed walks another way


def test_arbitrage_is_off_by_default_and_idle_while_off(tmp_path: Path) -> None:
    sandbox = start_sandbox(tmp_path)
    try:
        trade(sandbox, 3 * SOL)
        price = mid(sandbox)
        for _ in range(3):
            sandbox.chain.advance(1)
            assert sandbox.market.step() is None
        assert mid(sandbox) == price
        sandbox.faults.update(arbitrage=True)  # switched on at run time
        sandbox.market.step()  # the reference starts where the pool is now
        trade(sandbox, SOL)
        sandbox.chain.advance(1)
        assert sandbox.market.step() is None  # it sees the gap in this slot
        sandbox.chain.advance(1)
        assert sandbox.market.step() is not None  # and closes it in the next
        assert gap_bps(sandbox) <= 3
    finally:
        sandbox.stop()


def test_arbitrage_with_a_clock_restores_on_its_own(tmp_path: Path) -> None:
    sandbox = start_sandbox(tmp_path, slot_ms=50, arbitrage=True)
    try:
        for _ in range(100):  # the market's thread starts the reference
            if sandbox.market.arbitrage.reference is not None:
                break
            time.sleep(0.02)
        trade(sandbox, 3 * SOL)
        assert gap_bps(sandbox) > 500
        deadline = time.monotonic() + 10  # a loaded machine may run the thread late
        while gap_bps(sandbox) > 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert gap_bps(sandbox) <= 5  # by the market's own thread: nobody called step()
        assert sandbox.market.arbitrage.trades
    finally:
        sandbox.stop()
