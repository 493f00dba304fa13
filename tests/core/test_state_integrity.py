"""Issue 11, items 5-6: a failed write leaves memory and database alike; a state file that
vanished or was replaced stops the epoch before its next step; the ads reserve in the
executor is never spent by the allocation. A real SQLite file throughout; the failing write is
SQLite's own (a trigger that aborts), not a patched method."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from flywheel.domain.allocation import AllocationPolicy, allocate
from flywheel.domain.epoch_state import EpochStatus
from flywheel.errors import StateError
from flywheel.persistence.store import SqliteStore
from tests.core.fakes import EpochWorld

FAIL_CLAIMS = """
CREATE TRIGGER refuse_claims BEFORE UPDATE ON epochs
WHEN json_extract(NEW.state, '$.fees_in_lamports') > 0
BEGIN SELECT RAISE(ABORT, 'disk I/O error (injected)'); END
"""


def sql(db: Path, statement: str) -> None:
    conn = sqlite3.connect(db)
    try:
        conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


async def test_a_failed_write_in_detect_claims_no_receipt_twice(tmp_path: Path) -> None:
    world = EpochWorld.at(tmp_path)
    for n in range(3):
        world.ledger.pay_fee(100_000_000, n)
    with SqliteStore.open(world.db):
        pass  # the schema exists, so the trigger can be installed
    sql(world.db, FAIL_CLAIMS)

    failed = await world.run()

    assert failed.status == EpochStatus.FAILED
    assert failed.fees_in_lamports == 0, "memory must not keep what the database rolled back"
    assert failed.receipt_signatures == []
    assert world.ledger.swaps == 0
    sql(world.db, "DROP TRIGGER refuse_claims")
    spent = await world.run()
    assert spent.status == EpochStatus.SUCCEEDED, spent.errors
    assert spent.fees_in_lamports == 300_000_000
    counted = [s for e in world.finished() for s in e.receipt_signatures]
    assert sorted(counted) == sorted(r.signature for r in world.ledger.fees)
    world.check_accounting()


@pytest.mark.parametrize("how", ["deleted", "replaced"])
async def test_a_state_file_gone_from_under_the_store_stops_before_the_next_step(
    tmp_path: Path, how: str
) -> None:
    world = EpochWorld.at(tmp_path)
    world.ledger.pay_fee(100_000_000, 0)
    with SqliteStore.open(world.db) as store:
        runner = world.runner(store)
        world.db.unlink()
        if how == "replaced":
            with SqliteStore.open(world.db):
                pass  # another, empty state file at the same path
        with pytest.raises(StateError, match=f"was {how}"):
            await runner.run()
    assert world.ledger.swaps == 0


def test_the_ads_reserve_in_the_executor_is_not_spendable() -> None:
    policy = AllocationPolicy(
        buyback_percent=70,
        ads_percent=30,
        max_budget_per_epoch_micro_usd=10**12,
        min_sol_reserve_lamports=1_000,
    )
    from decimal import Decimal

    # 10,000 in the executor: 1,000 operating reserve, 6,000 the ads ledger's.
    plan = allocate(
        unspent_lamports=9_000,
        executor_balance_lamports=10_000,
        sol_usd=Decimal(150),
        policy=policy,
        ads_reserve_lamports=6_000,
    )
    assert plan.spendable_lamports == 3_000
    assert plan.carried_lamports == 9_000 - plan.spend_lamports
    assert "ads reserve" in plan.reason


async def test_allocation_subtracts_what_earlier_epochs_reserved_for_ads(tmp_path: Path) -> None:
    world = EpochWorld.at(tmp_path)
    world.ledger.executor_lamports = 0
    world.ledger.pay_fee(1_000_000_000, 0)
    first = await world.run()
    reserved = first.ads_reserved_lamports
    assert reserved > 0
    # The executor now holds the ads reserve and the operating reserve, and fees to carry.
    world.ledger.pay_fee(200_000_000, 1)
    second = await world.run()
    balance = second.executor_balance_lamports
    assert balance is not None
    assert second.ads_reserve_in_executor_lamports == reserved
    spendable = balance - 50_000_000 - reserved
    assert second.buyback_planned_lamports + second.ads_planned_lamports <= spendable
