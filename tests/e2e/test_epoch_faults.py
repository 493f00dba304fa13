"""`flywheel epoch` under the sandbox's faults: dropped sends, RPC 429 storms, blockhash expiry,
and a malicious swap from the DEX.

Under faults an epoch may succeed or fail, but only cleanly: exit 0 or 1, the reason in the
report (or, with a transaction in flight, on stderr and the epoch left open to reconcile),
nothing spent twice, the accounting identity intact; a run with the faults off then finishes.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from flywheel.domain.epoch_state import EpochState, EpochStatus
from flywheel.sandbox.faults import Faults
from flywheel.sandbox.runner import Sandbox
from tests.e2e.harness import (
    ChainView,
    check_identity,
    describe,
    epochs_in,
    finished_epochs,
    flywheel_env,
    report_of,
    run_cli,
)
from tests.sandbox.harness import start_sandbox

pytestmark = pytest.mark.slow

TOKEN_ACCOUNT_LEN = 165


class CountingFaults(Faults):
    """The sandbox's faults, counting how often each rate actually struck."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.struck: Counter[float] = Counter()
        self._count_lock = threading.Lock()

    def roll(self, rate: float) -> bool:
        hit = super().roll(rate)
        if hit:
            with self._count_lock:
                self.struck[rate] += 1
        return hit


class Books:
    """What the chain and the state database must agree on, from a starting point."""

    def __init__(self, box: Sandbox, env: dict[str, str]) -> None:
        self.box, self.env = box, env
        self.view = ChainView(box)
        self.bookmark = self.view.next_seq()
        self.sol = self.view.sol()
        self.supply = self.view.supply()
        self.ata_existed = box.chain.get_account(box.pool.ata(self.view.executor)) is not None

    def check(self, *, settled: bool) -> None:
        """Nothing spent twice, every lamport accounted for; with `settled`, all epochs are
        finished and every token bought was burned."""
        epochs = epochs_in(self.env)
        finished = finished_epochs(self.env)
        if settled:
            assert finished == epochs, "an epoch is still open"
        txs = self.view.executor_txs(self.bookmark)
        landed_swaps = [t.signature for t in txs if t.kind == "swap" and t.ok]
        landed_burns = [t.signature for t in txs if t.kind == "burn" and t.ok]
        assert [t.kind for t in txs if t.kind == "other"] == []
        journal_swaps = [
            i.signature for e in epochs for i in e.swap_intents if i.status == "confirmed"
        ]
        journal_burns = [
            e.settle_intent.signature
            for e in epochs
            if e.settle_intent is not None and e.settle_intent.status == "confirmed"
        ]
        # Every landed transaction is the journal's, once; at most one swap per allocation.
        assert sorted(landed_swaps) == sorted(journal_swaps)
        assert sorted(landed_burns) == sorted(journal_burns)
        for epoch in epochs:
            assert sum(i.status == "confirmed" for i in epoch.swap_intents) <= 1
        assert self.supply - self.view.supply() == sum(e.tokens_settled for e in epochs)
        if settled:
            # Every token bought was settled, by its own epoch or (after a failed burn) a later one.
            assert sum(e.tokens_settled for e in epochs) == sum(e.tokens_bought for e in epochs)
            assert epochs[-1].tokens_carried_out == 0
        if finished:
            check_identity(finished)
        spent = sum(e.buyback_spent_lamports for e in epochs)
        assert (
            spent
            == sum(
                -self.view.executor_delta(t.record) - t.record.fee
                for t in txs
                if t.kind == "swap" and t.ok
            )
            - self._rent()
        )
        network = sum(t.record.fee for t in txs)
        inflows = self.view.fee_inflows(self.bookmark)
        assert self.view.sol() == self.sol + inflows - spent - network - self._rent()

    def _rent(self) -> int:
        exists = self.box.chain.get_account(self.box.pool.ata(self.view.executor)) is not None
        if self.ata_existed or not exists:
            return 0
        return self.box.chain.minimum_balance_for_rent_exemption(TOKEN_ACCOUNT_LEN)


def assert_clean(result_code: int, stderr: str, env: dict[str, str]) -> EpochState | None:
    """Exit 0 or 1; a failure is explained in its report, or on stderr when left in flight."""
    assert result_code in (0, 1), stderr
    assert "Traceback" not in stderr
    epochs = epochs_in(env)
    latest = epochs[-1]
    if latest.status is EpochStatus.RUNNING:
        assert result_code == 1
        assert "in flight" in stderr, stderr
        return None
    report = report_of(latest)
    if result_code == 0:
        assert latest.status is EpochStatus.SUCCEEDED and report["errors"] == []
    else:
        assert latest.status is EpochStatus.FAILED and report["errors"]
        assert all(error["message"] for error in report["errors"])
    return latest


@pytest.fixture(scope="module")
def faulty() -> CountingFaults:
    return CountingFaults(seed=1)


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory, faulty: CountingFaults) -> Iterator[Sandbox]:
    """Slots advance by themselves (20 ms each), so blockhashes really expire."""
    sandbox = start_sandbox(tmp_path_factory.mktemp("sandbox"), slot_ms=20, faults=faulty)
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def faults(faulty: CountingFaults) -> Iterator[CountingFaults]:
    """The module sandbox's faults, all off again after each test."""
    faulty.struck.clear()
    try:
        yield faulty
    finally:
        faulty.update(
            drop_sends_rate=0.0,
            rpc_429_rate=0.0,
            blockhash_lifetime_blocks=150,
            malicious_swap=False,
        )


def finish_calmly(books: Books, env_dir: Path) -> None:
    """With the faults off, one more epoch leaves everything finished and settled."""
    calm = run_cli(["epoch"], env_dir)
    assert calm.returncode == 0, describe(calm)
    books.check(settled=True)
    epochs = finished_epochs(books.env)
    assert sum(e.buyback_spent_lamports for e in epochs) > 0
    # FEE_START=all: every fee ever paid to the collector was detected, exactly once.
    receipts = [s for e in epochs for s in e.receipt_signatures]
    assert sorted(receipts) == sorted(str(f.signature) for f in books.box.traders.fees)


def test_drops_429_storms_and_expiry_at_once_end_cleanly(
    box: Sandbox, faults: CountingFaults, tmp_path: Path
) -> None:
    env = flywheel_env(box, tmp_path)
    books = Books(box, env)
    box.traders.step(3)
    # 5 s blockhashes (250 slots of 20 ms): a dropped send can outlive its blockhash, and a
    # run of 429s (Retry-After 1 s) can make a swap stale before it is signed. Seed 6 drops
    # two sends and lands the epoch; other seeds fail it cleanly (both are asserted below).
    faults.reseed(6)
    faults.update(
        drop_sends_rate=0.5,
        rpc_429_rate=0.3,
        rpc_retry_after_seconds=1,
        blockhash_lifetime_blocks=250,
    )
    stormy = run_cli(["epoch"], tmp_path)
    assert_clean(stormy.returncode, stormy.stderr, env)
    assert faults.struck[0.3] > 0, "no 429 was answered"
    books.check(settled=False)
    faults.update(drop_sends_rate=0.0, rpc_429_rate=0.0, blockhash_lifetime_blocks=150)
    finish_calmly(books, tmp_path)


def test_expired_blockhashes_are_resigned_only_after_expiry(
    box: Sandbox, faults: CountingFaults, tmp_path: Path
) -> None:
    env = flywheel_env(box, tmp_path)
    books = Books(box, env)
    box.traders.step(3)
    # Only sends roll the dice here; seed 8 drops the first swap and the first burn: both must
    # expire (1.5 s blockhashes, re-sends every 2 s) and be signed anew, then land once.
    faults.reseed(8)
    faults.update(drop_sends_rate=0.5, blockhash_lifetime_blocks=75)
    expiring = run_cli(["epoch"], tmp_path)
    epoch = assert_clean(expiring.returncode, expiring.stderr, env)
    assert faults.struck[0.5] > 0, "no send was dropped"
    assert epoch is not None
    statuses = [i.status for i in epoch.swap_intents]
    assert "expired" in statuses, statuses
    assert statuses.count("confirmed") <= 1
    books.check(settled=False)
    faults.update(drop_sends_rate=0.0, blockhash_lifetime_blocks=150)
    finish_calmly(books, tmp_path)


def test_a_burn_that_keeps_expiring_fails_the_epoch_cleanly(
    box: Sandbox, faults: CountingFaults, tmp_path: Path
) -> None:
    env = flywheel_env(box, tmp_path)
    books = Books(box, env)
    box.traders.step(3)
    # Seed 42 lands the swap, then drops the burn three times: every attempt expires.
    faults.reseed(42)
    faults.update(drop_sends_rate=0.5, blockhash_lifetime_blocks=75)
    result = run_cli(["epoch"], tmp_path)
    faults.update(drop_sends_rate=0.0, blockhash_lifetime_blocks=150)
    epoch = assert_clean(result.returncode, result.stderr, env)
    assert result.returncode == 1 and epoch is not None
    [error] = epoch.errors
    assert error.step == "buyback.settle" and "expired" in error.message
    assert [i.status for i in epoch.swap_intents] == ["confirmed"]  # bought once, not again
    assert epoch.tokens_bought > 0 and epoch.tokens_settled == 0
    books.check(settled=False)

    assert epoch.tokens_carried_out == epoch.tokens_bought

    calm = run_cli(["epoch"], tmp_path)
    assert calm.returncode == 0, describe(calm)
    # The next epoch burns what the failed one bought: nothing is left in the executor.
    settled = finished_epochs(env)[-1]
    assert settled.tokens_carried_in == epoch.tokens_bought
    assert settled.tokens_settled >= epoch.tokens_bought
    assert books.view.token_amount() == 0
    books.check(settled=True)


def test_the_guard_refuses_a_malicious_swap_and_the_next_epoch_buys(
    box: Sandbox, faults: CountingFaults, tmp_path: Path
) -> None:
    env = flywheel_env(box, tmp_path)
    books = Books(box, env)
    view = books.view
    attacker_before = view.sol(box.attacker)
    box.traders.step(3)
    fees_in = view.fee_inflows(books.bookmark)
    faults.update(malicious_swap=True)
    refused = run_cli(["epoch"], tmp_path)
    faults.update(malicious_swap=False)
    assert refused.returncode == 1, describe(refused)
    [failed] = finished_epochs(env)
    report = report_of(failed)
    assert report["status"] == "failed"
    [error] = report["errors"]
    assert error["step"] == "buyback.guard" and error["kind"] == "GuardRefused"
    assert view.sol(box.attacker) == attacker_before
    assert view.executor_txs(books.bookmark) == []  # nothing signed, nothing sent
    assert view.sol() == books.sol + fees_in  # not a lamport left the wallet
    assert failed.buyback_spent_lamports == 0 and failed.ads_reserved_lamports == 0
    assert failed.carried_out_lamports == failed.input_lamports > 0

    honest = run_cli(["epoch"], tmp_path)
    assert honest.returncode == 0, describe(honest)
    epochs = finished_epochs(env)
    assert len(epochs) == 2
    retry = epochs[1]
    assert retry.carried_in_lamports == failed.carried_out_lamports
    assert retry.buyback_planned_lamports > 0
    assert retry.buyback_spent_lamports == retry.buyback_planned_lamports
    assert [t.kind for t in view.executor_txs(books.bookmark)] == ["swap", "burn"]
    assert view.sol(box.attacker) == attacker_before
    books.check(settled=True)
