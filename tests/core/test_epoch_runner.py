"""The epoch core, driven through in-memory ports over a real SQLite store.

The crash tests kill the epoch after every step (and inside the two sends), start a new runner
on the same state file, and check that every effect happened exactly once and that
detected = bought back + reserved for ads + carried.
"""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from flywheel.domain.allocation import AllocationPolicy
from flywheel.domain.epoch_state import STEPS, EpochMode, EpochState, EpochStatus
from flywheel.domain.fees import ReceiptStatus
from flywheel.errors import InFlight
from flywheel.persistence.store import SqliteStore
from tests.core.fakes import (
    START_LAMPORTS,
    Crash,
    EpochWorld,
    LedgerWallet,
    epoch_policy,
)


async def test_epoch_buys_back_burns_and_plans_ads(tmp_path):
    world = EpochWorld.at(tmp_path)
    for n in range(5):
        world.ledger.pay_fee(200_000_000, n)  # 5 x 0.2 SOL
    state = await world.run()

    assert state.status == EpochStatus.SUCCEEDED, state.errors
    assert state.steps_done == list(STEPS)
    assert state.fees_in_lamports == 10**9
    assert state.buyback_spent_lamports == 700_000_000
    assert state.ads_reserved_lamports == 300_000_000
    assert state.tokens_bought > 0 and state.tokens_settled == state.tokens_bought
    assert world.ledger.swaps == 1 and world.ledger.burns == 1
    assert world.ledger.token_supply == 10**15 - state.tokens_bought
    assert world.ads.runs[0][1].budget_micro_usd == 45_000_000  # 0.3 SOL at $150
    assert world.reports.written[state.id].status == EpochStatus.SUCCEEDED
    assert world.reports.written[state.id].steps_done == list(STEPS)  # the report lists itself
    world.check_accounting()

    second = await world.run()
    assert second.fees_in_lamports == 0 and second.buyback_spent_lamports == 0
    assert world.ledger.swaps == 1, "a second epoch with no new fees spends nothing"
    world.check_accounting()


@pytest.mark.parametrize("crash_step", STEPS)
async def test_crash_after_any_step_resumes_with_every_effect_once(tmp_path, crash_step):
    world = EpochWorld.at(tmp_path)
    for n in range(3):
        world.ledger.pay_fee(300_000_000, n)

    def crash(step: str, state: EpochState) -> None:
        if step == crash_step:
            raise Crash(step)

    with pytest.raises(Crash):
        await world.run(on_step=crash)
    state = await world.run()

    assert state.status == EpochStatus.SUCCEEDED, state.errors
    assert world.ledger.swaps == 1 and world.ledger.burns == 1
    # The ads engine is asked once per epoch, never again by a resumed one. A crash after
    # `report` means the epoch had finished: the re-run is a new, empty epoch, and a dry-run
    # plan commits nothing, so that one plans the same available budget again.
    epochs_asked = [epoch_id for epoch_id, _ in world.ads.runs]
    assert len(set(epochs_asked)) == len(epochs_asked)
    assert len(epochs_asked) == (2 if crash_step == "report" else 1)
    assert sum(e.fees_in_lamports for e in world.finished()) == 900_000_000
    world.check_accounting()


@pytest.mark.parametrize("crashes_before_reply", [1, 2], ids=["in-swap-send", "in-burn-send"])
async def test_crash_inside_a_send_never_sends_twice(tmp_path, crashes_before_reply):
    world = EpochWorld.at(tmp_path)
    world.ledger.pay_fee(10**9, 0)
    # The swap (and for the second case, the burn too) executes, then the process dies.
    if crashes_before_reply == 2:

        def crash_at_settle(step: str, state: EpochState) -> None:
            if step == "buyback.send":
                world.ledger.crash_after_executing = 1

        with pytest.raises(Crash):
            await world.run(on_step=crash_at_settle)
    else:
        world.ledger.crash_after_executing = 1
        with pytest.raises(Crash):
            await world.run()
    state = await world.run()

    assert state.status == EpochStatus.SUCCEEDED, state.errors
    assert world.ledger.swaps == 1 and world.ledger.burns == 1
    assert state.tokens_settled == state.tokens_bought > 0
    world.check_accounting()


async def test_expired_swap_is_requoted_and_resigned_only_after_expiry(tmp_path):
    world = EpochWorld.at(tmp_path)
    world.ledger.pay_fee(10**9, 0)
    world.ledger.expire_next_sends = 1
    state = await world.run()
    assert state.status == EpochStatus.SUCCEEDED
    assert [i.status for i in state.swap_intents] == ["expired", "confirmed"]
    assert world.ledger.swaps == 1
    world.check_accounting()


async def test_failed_swap_pays_only_the_fee_and_is_retried(tmp_path):
    world = EpochWorld.at(tmp_path)
    world.ledger.pay_fee(10**9, 0)
    world.ledger.fail_next_swaps = 1
    state = await world.run()
    assert [i.status for i in state.swap_intents] == ["failed", "confirmed"]
    assert world.ledger.swaps == 1
    world.check_accounting()


async def test_swaps_that_keep_failing_fail_the_epoch_and_carry_everything(tmp_path):
    world = EpochWorld.at(tmp_path)
    world.ledger.pay_fee(10**9, 0)
    world.ledger.fail_next_swaps = 10
    state = await world.run()
    assert state.status == EpochStatus.FAILED
    assert state.errors[0].step == "buyback.send"
    assert "did not land after 3 attempts" in state.errors[0].message
    # 6001 on chain each time: the market, a temporary error with the runbook's words.
    assert state.errors[0].kind == "SlippageExceeded"
    assert state.errors[0].message.startswith("Slippage exceeds maximum: ")
    assert state.buyback_spent_lamports == 0 and state.ads_reserved_lamports == 0
    assert state.carried_out_lamports == 10**9
    world.check_accounting()


async def test_guard_refusal_fails_the_epoch_and_nothing_leaves(tmp_path):
    world = EpochWorld.at(tmp_path)
    world.failing = True
    world.ledger.pay_fee(10**9, 0)
    state = await world.run()
    assert state.status == EpochStatus.FAILED
    assert state.errors[0].kind == "GuardRefused"
    assert world.ledger.executed == {}
    assert world.ledger.executor_lamports == START_LAMPORTS + 10**9
    assert world.reports.written[state.id].errors == state.errors
    world.check_accounting()

    world.failing = False
    following = await world.run()
    assert following.carried_in_lamports == 10**9
    assert following.buyback_spent_lamports == 700_000_000
    world.check_accounting()


async def test_no_sol_price_spends_nothing_and_carries(tmp_path):
    world = EpochWorld.at(tmp_path)
    world.price.price = None
    world.ledger.pay_fee(10**9, 0)
    state = await world.run()
    assert state.buyback_planned_lamports == 0 and state.ads_planned_lamports == 0
    assert state.carried_out_lamports == 10**9
    assert "no SOL/USD price" in state.allocation_note
    assert world.ledger.executed == {}
    world.check_accounting()


async def test_price_impact_limit_buys_less_and_carries_the_rest(tmp_path):
    world = EpochWorld.at(tmp_path, max_price_impact_bps=50)
    world.ledger.pay_fee(20 * 10**9, 0)  # 14 SOL buyback into a 1,000 SOL pool: ~1.4% impact
    world.policy = epoch_policy(
        max_price_impact_bps=50,
        allocation=AllocationPolicy(70, 30, 10**12, 50_000_000),
    )
    with capture_logs() as logs:
        state = await world.run()
    assert any(entry["event"] == "Price impact exceeds maximum" for entry in logs)
    assert state.price_impact_limited
    assert state.quote is not None and state.quote.price_impact_bps <= 50
    assert 0 < state.buyback_spent_lamports < state.buyback_planned_lamports
    world.check_accounting()


async def test_a_buyback_sized_below_min_buyback_sol_is_carried(tmp_path):
    world = EpochWorld.at(
        tmp_path,
        max_price_impact_bps=50,  # sized down to a few SOL, under the minimum below
        allocation=AllocationPolicy(70, 30, 10**12, 50_000_000, min_buyback_lamports=10 * 10**9),
    )
    world.ledger.pay_fee(20 * 10**9, 0)
    state = await world.run()
    assert state.price_impact_limited and state.quote is None
    assert state.buyback_planned_lamports > 0 and state.buyback_spent_lamports == 0
    assert "is under MIN_BUYBACK_SOL (10000000000 lamports): carried" in state.allocation_note
    assert world.ledger.swaps == 0
    world.check_accounting()


async def test_anomalous_fee_is_quarantined_not_spent(tmp_path):
    world = EpochWorld.at(tmp_path, max_single_fee_lamports=5 * 10**9)
    world.ledger.pay_fee(10**9, 0)
    world.ledger.pay_fee(50 * 10**9, 1)  # a whale transfer, not a trading fee
    state = await world.run()
    assert state.fees_in_lamports == 10**9
    assert state.quarantined_signatures == [world.ledger.fees[1].signature]
    with SqliteStore.open(world.db) as store:
        assert [r.signature for r in store.receipts(ReceiptStatus.QUARANTINED)] == [
            world.ledger.fees[1].signature
        ]
        assert store.release_receipt(world.ledger.fees[1].signature)
    released = await world.run()
    assert released.fees_in_lamports == 50 * 10**9


async def test_an_error_while_a_swap_is_in_flight_keeps_the_epoch_open(tmp_path):
    world = EpochWorld.at(tmp_path)
    world.ledger.pay_fee(10**9, 0)

    class RpcDown(LedgerWallet):
        async def land(self, tx):
            from flywheel.errors import TemporaryError

            raise TemporaryError("RPC node unavailable")

    with SqliteStore.open(world.db) as store:
        runner = world.runner(store, wallet=RpcDown(world.ledger))
        with pytest.raises(InFlight, match="in flight"):
            await runner.run()
        assert store.unfinished_epoch(EpochMode.LIVE) is not None
    state = await world.run()
    assert state.status == EpochStatus.SUCCEEDED
    assert world.ledger.swaps == 1
    world.check_accounting()


async def test_tokens_a_failed_burn_left_are_burned_by_the_next_epoch(tmp_path):
    world = EpochWorld.at(tmp_path)
    world.ledger.pay_fee(10**9, 0)

    def burns_expire(step: str, state: EpochState) -> None:
        if step == "buyback.send":
            world.ledger.expire_next_sends = 3  # every burn attempt of this epoch expires

    failed = await world.run(on_step=burns_expire)
    assert failed.status == EpochStatus.FAILED
    assert failed.errors[0].step == "buyback.settle"
    assert "the next epoch settles them" in failed.errors[0].message
    assert failed.tokens_carried_out == failed.tokens_bought > 0
    assert world.ledger.executor_tokens == failed.tokens_bought

    following = await world.run()  # spends what the failure carried, settles both purchases
    assert following.status == EpochStatus.SUCCEEDED
    assert following.tokens_carried_in == failed.tokens_bought
    assert following.tokens_settled == failed.tokens_bought + following.tokens_bought
    assert following.tokens_carried_out == 0
    assert world.ledger.executor_tokens == 0
    assert world.ledger.token_supply == 10**15 - failed.tokens_bought - following.tokens_bought
    world.check_accounting()


async def test_a_swap_that_went_stale_before_signing_is_rebuilt_not_refused(tmp_path):
    world = EpochWorld.at(tmp_path)
    world.ledger.pay_fee(10**9, 0)
    world.ledger.stale_next_swaps = 2
    state = await world.run()
    assert state.status == EpochStatus.SUCCEEDED, state.errors
    assert state.quote_attempts == 3  # the first quote, then one per stale transaction
    assert world.ledger.swaps == 1
    world.check_accounting()


async def test_a_swap_that_stays_stale_fails_the_epoch_as_temporary_and_carries(tmp_path):
    world = EpochWorld.at(tmp_path)
    world.ledger.pay_fee(10**9, 0)
    world.ledger.stale_next_swaps = 10
    state = await world.run()
    assert state.status == EpochStatus.FAILED
    assert state.errors[0].kind == "StaleTransaction"
    assert state.carried_out_lamports == 10**9
    assert world.ledger.executed == {}
    world.check_accounting()
