"""Sliced buybacks on the epoch's fakes: the schedule, each slice bought once, crashes between
slices and during a slice's landing, a cancelled wait, and the one-shot path left as it was.

The ledger plays the chain (a signature executes at most once); a real SQLite file holds the
journal, and every resume is a fresh EpochRunner on it, as a new process would be.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flywheel.domain.epoch_state import EpochMode, EpochState, EpochStatus
from flywheel.domain.slices import SliceStatus, plan_slices, slice_count
from flywheel.domain.trade import PreparedTx, Quote
from flywheel.epoch import EpochRunner
from flywheel.persistence.store import SqliteStore
from tests.core.fakes import (
    Crash,
    EpochWorld,
    Ledger,
    LedgerBurnDex,
    LedgerDex,
    LedgerWallet,
    epoch_policy,
)

WINDOW = 1  # second: the tests' window, short so they stay fast


def _sliced(tmp_path: Path, slices: int = 4, window: int = WINDOW) -> EpochWorld:
    world = EpochWorld.at(tmp_path, buyback_slices=slices, buyback_window_seconds=window)
    world.ledger.pay_fee(2 * 10**9, 1)
    return world


async def _run(world: EpochWorld, hook: Callable[[EpochRunner], None]) -> EpochState:
    with SqliteStore.open(world.db) as store:
        runner = world.runner(store)
        hook(runner)
        return await runner.run()


def _check_totals(epoch: EpochState) -> None:
    done = [s for s in epoch.slices if s.status is SliceStatus.DONE]
    assert epoch.buyback_spent_lamports == sum(s.lamports_in for s in done)
    assert epoch.tokens_bought == sum(s.tokens_out for s in done)
    for s in done:
        assert s.tokens_out >= s.minimum > 0
        assert len(s.signatures) == 1


def test_a_buyback_is_bought_in_its_slices_at_their_times_inside_the_window(
    tmp_path: Path,
) -> None:
    world = _sliced(tmp_path)
    epoch = asyncio.run(world.run())
    assert epoch.status is EpochStatus.SUCCEEDED, epoch.errors
    assert world.ledger.swaps == 4 and len(epoch.slices) == 4
    assert all(s.status is SliceStatus.DONE for s in epoch.slices)
    assert epoch.buyback_spent_lamports == epoch.buyback_planned_lamports
    _check_totals(epoch)
    times = [s.at for s in epoch.slices]
    assert times == sorted(times)
    # The window opens when the quote step decides, moments after the epoch started.
    latest = epoch.started_at + timedelta(seconds=WINDOW + 0.5)
    assert all(epoch.started_at <= t <= latest for t in times)
    assert epoch.finished_at is not None and epoch.finished_at >= times[-1]
    # Every slice's tokens are settled: one burn after the last slice (a v1-like Dex).
    assert world.ledger.burns == 1 and epoch.tokens_settled == epoch.tokens_bought
    assert not epoch.window_open
    world.check_accounting()


def test_one_slice_is_the_one_shot_buyback_with_no_schedule(tmp_path: Path) -> None:
    world = _sliced(tmp_path, slices=1)
    epoch = asyncio.run(world.run())
    assert epoch.status is EpochStatus.SUCCEEDED
    assert epoch.slices == [] and epoch.quote is not None and world.ledger.swaps == 1


class DyingWallet(LedgerWallet):
    """Dies (a Crash) when asked to sign swap number `die_at`: after the slices before it."""

    def __init__(self, ledger: Ledger, die_at: int, *, after_executing: bool = False) -> None:
        super().__init__(ledger)
        self.die_at, self.after_executing, self.swaps_signed = die_at, after_executing, 0

    async def prepare_swap(
        self, unsigned_tx: bytes, quote: Quote, *, burn_amount: int = 0
    ) -> PreparedTx:
        self.swaps_signed += 1
        if self.swaps_signed == self.die_at:
            if not self.after_executing:
                raise Crash("between slices: the next slice not yet signed")
            # This one is signed, journaled and executed; the process dies before hearing back.
            self.ledger.crash_after_executing = 1
        return await super().prepare_swap(unsigned_tx, quote, burn_amount=burn_amount)


def _journaled(world: EpochWorld) -> EpochState:
    with SqliteStore.open(world.db) as store:
        state = store.unfinished_epoch(EpochMode.LIVE)
    assert state is not None
    return state


@pytest.mark.parametrize("after_executing", [False, True], ids=["between", "during-send"])
def test_a_crash_in_the_window_resumes_the_journaled_schedule_and_never_rebuys(
    tmp_path: Path, after_executing: bool
) -> None:
    world = _sliced(tmp_path)
    with SqliteStore.open(world.db) as store:
        dying = DyingWallet(world.ledger, 3, after_executing=after_executing)
        with pytest.raises(Crash):
            asyncio.run(world.runner(store, wallet=dying).run())
    journaled = _journaled(world)
    assert journaled.window_open
    schedule = [(s.at, s.planned_lamports) for s in journaled.slices]
    assert [s.status for s in journaled.slices[:2]] == [SliceStatus.DONE] * 2
    assert world.ledger.swaps == (3 if after_executing else 2)

    epoch = asyncio.run(world.run())
    assert epoch.id == journaled.id and epoch.status is EpochStatus.SUCCEEDED, epoch.errors
    assert [(s.at, s.planned_lamports) for s in epoch.slices] == schedule
    assert world.ledger.swaps == 4  # none bought twice, none lost
    _check_totals(epoch)
    world.check_accounting()


def test_a_cancelled_wait_leaves_the_window_journaled_and_the_next_run_finishes_it(
    tmp_path: Path,
) -> None:
    world = _sliced(tmp_path, slices=3, window=30)

    async def cancel_while_waiting() -> None:
        with SqliteStore.open(world.db) as store:
            task = asyncio.create_task(world.runner(store).run())
            for _ in range(200):
                await asyncio.sleep(0.01)
                state = store.unfinished_epoch(EpochMode.LIVE)
                if state is not None and state.slices:
                    break
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(cancel_while_waiting())
    journaled = _journaled(world)
    assert journaled.window_open and world.ledger.swaps < 3

    def no_wait(runner: EpochRunner) -> None:
        async def sleep(_seconds: float) -> None:
            return None

        runner.buyback.sleep = sleep  # the window's time passes at once

    epoch = asyncio.run(_run(world, no_wait))
    assert epoch.id == journaled.id and epoch.status is EpochStatus.SUCCEEDED
    assert world.ledger.swaps == 3
    _check_totals(epoch)


def test_slices_too_small_for_min_buyback_are_fewer(tmp_path: Path) -> None:
    assert slice_count(10, 4, 3) == 3
    assert slice_count(10, 4, 20) == 1
    assert slice_count(10, 4, 0) == 4
    assert slice_count(10, 1, 0) == 1


def test_a_schedule_splits_every_lamport_and_stays_in_its_window() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    planned = plan_slices(1_000_003, 4, start=start, window_seconds=60)
    assert sum(s.planned_lamports for s in planned) == 1_000_003
    assert [s.index for s in planned] == [0, 1, 2, 3]
    assert all(start <= s.at <= start + timedelta(seconds=60) for s in planned)
    with pytest.raises(ValueError, match="cannot split 3 lamports into 4 slices"):
        plan_slices(3, 4, start=start, window_seconds=60)


class LyingDex(LedgerDex):
    """Answers honestly until quote number `lie_at`, then with another input than asked."""

    def __init__(self, ledger: Ledger, lie_at: int) -> None:
        super().__init__(ledger)
        self.lie_at = lie_at

    async def quote(self, in_lamports: int) -> Quote:
        honest = await super().quote(in_lamports)
        if self.quotes < self.lie_at:
            return honest
        return dataclasses.replace(honest, in_lamports=in_lamports * 2)


def test_a_lying_quote_for_a_later_slice_stops_the_window_and_keeps_what_was_bought(
    tmp_path: Path,
) -> None:
    world = _sliced(tmp_path, slices=3, window=0)
    with SqliteStore.open(world.db) as store:
        runner = world.runner(store)
        runner.buyback.dex = LyingDex(world.ledger, lie_at=2)
        epoch = asyncio.run(runner.run())
    assert epoch.status is EpochStatus.FAILED
    assert [e.kind for e in epoch.errors] == ["GuardRefused"]
    assert "differs from the" in epoch.errors[0].message
    assert world.ledger.swaps == 1  # the first slice; nothing after the lie
    assert [s.status for s in epoch.slices] == [
        SliceStatus.DONE,
        SliceStatus.SCHEDULED,
        SliceStatus.SCHEDULED,
    ]
    assert not epoch.window_open  # the epoch is over: no window any more
    assert epoch.buyback_spent_lamports == epoch.slices[0].lamports_in
    assert epoch.carried_out_lamports == epoch.input_lamports - epoch.buyback_spent_lamports - (
        epoch.ads_reserved_lamports
    )
    world.check_accounting()


def test_an_expired_slice_is_signed_again_once_and_a_failed_one_too(tmp_path: Path) -> None:
    world = _sliced(tmp_path, slices=3, window=0)
    world.ledger.expire_next_sends = 1  # the first slice's first swap never lands
    epoch = asyncio.run(world.run())
    assert epoch.status is EpochStatus.SUCCEEDED, epoch.errors
    assert [len(s.signatures) for s in epoch.slices] == [2, 1, 1]
    assert world.ledger.swaps == 3 and len(epoch.swap_intents) == 4
    _check_totals_by_last(epoch)
    world.check_accounting()


def test_a_slice_the_market_keeps_failing_stops_the_window_as_slippage(tmp_path: Path) -> None:
    world = _sliced(tmp_path, slices=2, window=0)
    world.ledger.fail_next_swaps = 3  # the first slice fails on chain three times (6001)
    epoch = asyncio.run(world.run())
    assert epoch.status is EpochStatus.FAILED
    assert [e.kind for e in epoch.errors] == ["SlippageExceeded"]
    assert len(epoch.slices[0].signatures) == 3 and world.ledger.swaps == 0
    assert epoch.buyback_spent_lamports == 0
    world.check_accounting()


def _check_totals_by_last(epoch: EpochState) -> None:
    """Totals equal the sums, each slice counted from its last (landed) swap only."""
    assert epoch.buyback_spent_lamports == sum(s.lamports_in for s in epoch.slices)
    assert epoch.tokens_bought == sum(s.tokens_out for s in epoch.slices)
    landed = {r.signature for r in epoch.swap_intents if r.status == "confirmed"}
    assert landed == {s.signatures[-1] for s in epoch.slices}


class MarketTurnsWallet(LedgerWallet):
    """After the first slice's swap, the market moves past the room: every swap fails (6001)."""

    def __init__(self, ledger: Ledger) -> None:
        super().__init__(ledger)
        self.swaps_signed = 0

    async def prepare_swap(
        self, unsigned_tx: bytes, quote: Quote, *, burn_amount: int = 0
    ) -> PreparedTx:
        self.swaps_signed += 1
        if self.swaps_signed == 2:
            self.ledger.fail_next_swaps = 100
        return await super().prepare_swap(unsigned_tx, quote, burn_amount=burn_amount)


def test_a_window_failing_after_a_slice_burnt_in_its_swap_carries_only_what_is_left(
    tmp_path: Path,
) -> None:
    """v2: each slice burns its minimum as it lands; a later failure must not carry those
    tokens again (the next epoch would burn tokens that are gone)."""
    world = _sliced(tmp_path, slices=3, window=0)
    supply = world.ledger.token_supply
    with SqliteStore.open(world.db) as store:
        runner = world.runner(store, wallet=MarketTurnsWallet(world.ledger))
        runner.buyback.dex = LedgerBurnDex(world.ledger)
        failed = asyncio.run(runner.run())
    assert failed.status is EpochStatus.FAILED
    assert [e.kind for e in failed.errors] == ["SlippageExceeded"]
    first = failed.slices[0]
    assert first.status is SliceStatus.DONE and first.burn_planned > 0
    assert supply - world.ledger.token_supply == first.burn_planned == failed.tokens_settled
    # What the executor holds is exactly what the journal carries, no more.
    assert world.ledger.executor_tokens == failed.tokens_carried_out > 0

    world.ledger.fail_next_swaps = 0
    world.policy = epoch_policy()  # the next epoch is a one-shot v2 buy that burns the rest
    with SqliteStore.open(world.db) as store:
        runner = world.runner(store)
        runner.buyback.dex = LedgerBurnDex(world.ledger)
        world.ledger.pay_fee(10**9, 2)
        after = asyncio.run(runner.run())
    assert after.status is EpochStatus.SUCCEEDED, after.errors
    assert after.tokens_carried_in == failed.tokens_carried_out
    burnt = failed.tokens_settled + after.tokens_settled
    assert supply - world.ledger.token_supply == burnt
    assert world.ledger.executor_tokens == after.tokens_carried_out
    world.check_accounting()


def test_slices_sized_under_min_buyback_by_the_impact_limit_are_skipped_and_carried(
    tmp_path: Path,
) -> None:
    base = epoch_policy()
    allocation = dataclasses.replace(base.allocation, min_buyback_lamports=2 * 10**8)
    world = EpochWorld.at(
        tmp_path,
        allocation=allocation,
        buyback_slices=2,
        max_price_impact_bps=0,  # only a sliver of the pool fits: under MIN_BUYBACK_SOL
    )
    world.ledger.pay_fee(2 * 10**9, 1)
    epoch = asyncio.run(world.run())
    assert epoch.status is EpochStatus.SUCCEEDED, epoch.errors
    assert [s.status for s in epoch.slices] == [SliceStatus.SKIPPED] * 2
    assert all("MIN_BUYBACK_SOL" in s.note for s in epoch.slices), [s.note for s in epoch.slices]
    assert world.ledger.swaps == 0 and epoch.buyback_spent_lamports == 0
    assert epoch.carried_out_lamports == epoch.input_lamports - epoch.ads_reserved_lamports
    assert epoch.price_impact_limited
    world.check_accounting()
