"""The one harness of fakes for the epoch: in-memory implementations of its ports (the real
adapters are tested on the sandbox) and `EpochWorld`, which runs real EpochRunners over them and
a real SQLite file (tests/core for the crash tests, tests/service for the service around it).

`Ledger` plays the chain: balances, a fee history, and the rule that a signature executes at
most once. The fakes are deliberately strict so that the epoch core, not they, is under test.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from flywheel.domain.ads import AdsOutcome, AdsStatus, CampaignSpec
from flywheel.domain.allocation import AllocationPolicy
from flywheel.domain.epoch_state import EpochState, EpochStatus
from flywheel.domain.fees import FeeBatch, FeeReceipt
from flywheel.domain.policy import EpochPolicy
from flywheel.domain.trade import Destination, Landing, LandingStatus, PreparedTx, Quote, TxKind
from flywheel.epoch import EpochRunner
from flywheel.errors import GuardRefused, StaleTransaction
from flywheel.persistence.store import SqliteStore

FEE = 5_000
START_LAMPORTS = 10 * 10**9


class Crash(BaseException):
    """A simulated process death: not an Exception, so nothing in the core catches it."""


@dataclass
class Ledger:
    executor_lamports: int = 10 * 10**9
    executor_tokens: int = 0
    token_supply: int = 10**15
    pool_lamports: int = 1_000 * 10**9
    pool_tokens: int = 10**14
    fees: list[FeeReceipt] = field(default_factory=list)
    executed: dict[str, Landing] = field(default_factory=dict)
    block_height: int = 100
    swaps: int = 0
    burns: int = 0
    ads_treasury_lamports: int = 0
    # Fault switches
    expire_next_sends: int = 0  # the next N transactions never land; their blockhash expires
    fail_next_swaps: int = 0  # the next N swaps fail on-chain (slippage, 6001)
    crash_after_executing: int = 0  # the next N lands execute, then the process "dies"
    stale_next_swaps: int = 0  # the next N swap transactions are stale when the guard looks

    def pay_fee(self, lamports: int, n: int) -> None:
        signature = f"fee-{len(self.fees):06d}-{n}"
        self.fees.append(FeeReceipt(signature=signature, lamports=lamports, slot=len(self.fees)))
        self.executor_lamports += lamports

    def tokens_for(self, in_lamports: int) -> int:
        in_after_fee = in_lamports * 9975 // 10_000
        return self.pool_tokens * in_after_fee // (self.pool_lamports + in_after_fee)


class LedgerFeeSource:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def fetch_new(self, cursor: str | None) -> FeeBatch:
        start = 0 if cursor is None else int(cursor)
        new = self.ledger.fees[start:]
        return FeeBatch(receipts=list(new), new_cursor=str(len(self.ledger.fees)), requests=1)


@dataclass
class FixedPrice:
    price: Decimal | None = Decimal(150)

    async def sol_usd(self) -> Decimal | None:
        return self.price


class LedgerDex:
    def __init__(self, ledger: Ledger, slippage_bps: int = 300) -> None:
        self.ledger = ledger
        self.slippage_bps = slippage_bps
        self.quotes = 0

    async def quote(self, in_lamports: int) -> Quote:
        self.quotes += 1
        out = self.ledger.tokens_for(in_lamports)
        impact = in_lamports * 10_000 // (self.ledger.pool_lamports + in_lamports)
        return Quote(
            in_lamports=in_lamports,
            out_amount=out,
            min_out_amount=out * (10_000 - self.slippage_bps) // 10_000,
            price_impact_bps=impact,
            slippage_bps=self.slippage_bps,
            raw={"inAmount": str(in_lamports), "outAmount": str(out), "n": self.quotes},
        )

    async def swap_transaction(self, quote: Quote) -> bytes:
        body = {"kind": "swap", "in": quote.in_lamports, "out": quote.out_amount, "q": quote.raw}
        return json.dumps(body, sort_keys=True).encode()


class LedgerBurnDex(LedgerDex):
    """A Dex whose swap burns in its own transaction (the SwapAndBurnDex of Jupiter v2)."""

    async def swap_and_burn_transaction(
        self, quote: Quote, burn_amount: int, memo: str | None = None
    ) -> bytes:
        body = {"kind": "swap", "in": quote.in_lamports, "out": quote.out_amount, "q": quote.raw}
        return json.dumps({**body, "burn": burn_amount, "memo": memo}, sort_keys=True).encode()


class LedgerWallet:
    def __init__(self, ledger: Ledger, *, malicious: bool = False) -> None:
        self.ledger = ledger
        self.malicious = malicious
        self.signed = 0

    async def balance_lamports(self) -> int:
        return self.ledger.executor_lamports

    def _sign(self, kind: TxKind, body: bytes) -> PreparedTx:
        self.signed += 1
        raw = body + f"|{self.ledger.block_height}|{self.signed}".encode()
        return PreparedTx(
            kind=kind,
            signature=hashlib.sha256(raw).hexdigest(),
            raw=raw,
            last_valid_block_height=self.ledger.block_height + 150,
        )

    async def prepare_swap(
        self, unsigned_tx: bytes, quote: Quote, *, burn_amount: int = 0
    ) -> PreparedTx:
        if self.malicious:
            raise GuardRefused("simulated SOL decrease exceeds the swap amount plus fees")
        if self.ledger.stale_next_swaps > 0:
            self.ledger.stale_next_swaps -= 1
            raise StaleTransaction("the swap transaction's blockhash expired before signing")
        return self._sign(TxKind.SWAP, unsigned_tx)

    async def prepare_settle(
        self, token_amount: int, destination: Destination, memo: str | None = None
    ) -> PreparedTx:
        body = json.dumps({"kind": destination.value, "amount": token_amount}).encode()
        return self._sign(TxKind.BURN, body)

    async def prepare_sol_transfer(
        self, lamports: int, to: str, memo: str | None = None
    ) -> PreparedTx:
        body = json.dumps({"kind": "ads-transfer", "amount": lamports, "to": to}).encode()
        return self._sign(TxKind.ADS_TRANSFER, body)

    async def land(self, tx: PreparedTx) -> Landing:
        ledger = self.ledger
        if tx.signature in ledger.executed:
            return ledger.executed[tx.signature]
        if ledger.expire_next_sends > 0:
            ledger.expire_next_sends -= 1
            ledger.block_height = tx.last_valid_block_height + 1
            return Landing(signature=tx.signature, status=LandingStatus.EXPIRED)
        body = json.loads(tx.raw.rsplit(b"|", 2)[0])
        if body["kind"] == "swap":
            landing = self._execute_swap(tx.signature, body)
        elif body["kind"] == "ads-transfer":
            ledger.executor_lamports -= body["amount"] + FEE
            ledger.ads_treasury_lamports += body["amount"]
            landing = Landing(
                signature=tx.signature,
                status=LandingStatus.CONFIRMED,
                fee_lamports=FEE,
                sol_delta=-(body["amount"] + FEE),
            )
        else:
            amount = body["amount"]
            assert ledger.executor_tokens >= amount, "burning tokens the executor does not hold"
            ledger.executor_tokens -= amount
            ledger.token_supply -= amount
            ledger.executor_lamports -= FEE
            ledger.burns += 1
            landing = Landing(
                signature=tx.signature,
                status=LandingStatus.CONFIRMED,
                fee_lamports=FEE,
                sol_delta=-FEE,
                token_delta=-amount,
            )
        ledger.executed[tx.signature] = landing
        if ledger.crash_after_executing > 0:
            ledger.crash_after_executing -= 1
            raise Crash("died after the transaction executed, before hearing back")
        return landing

    def _execute_swap(self, signature: str, body: dict[str, int]) -> Landing:
        ledger = self.ledger
        ledger.executor_lamports -= FEE
        if ledger.fail_next_swaps > 0:
            ledger.fail_next_swaps -= 1
            return Landing(
                signature=signature,
                status=LandingStatus.FAILED,
                error="custom program error: 0x1771",
                fee_lamports=FEE,
                sol_delta=-FEE,
            )
        out = ledger.tokens_for(body["in"])
        burn = body.get("burn", 0)  # a swap that burns in its own transaction (LedgerBurnDex)
        assert ledger.executor_tokens + out >= burn, "burning tokens the executor does not hold"
        ledger.executor_lamports -= body["in"]
        ledger.pool_lamports += body["in"]
        ledger.pool_tokens -= out
        ledger.executor_tokens += out - burn
        ledger.token_supply -= burn
        ledger.swaps += 1
        return Landing(
            signature=signature,
            status=LandingStatus.CONFIRMED,
            fee_lamports=FEE,
            sol_delta=-(body["in"] + FEE),
            token_delta=out - burn,
        )


class RecordingAds:
    mode = "dry-run"

    def __init__(self) -> None:
        self.runs: list[tuple[str, CampaignSpec]] = []

    async def run(self, epoch_id: str, spec: CampaignSpec) -> AdsOutcome:
        self.runs.append((epoch_id, spec))
        return AdsOutcome(status=AdsStatus.PLANNED, spec=spec)


class PendingAds:
    """Manual mode's outcome: the spec waits for the operator, committed in the ledger."""

    mode = "manual"

    def __init__(self) -> None:
        self.runs: list[tuple[str, CampaignSpec]] = []

    async def run(self, epoch_id: str, spec: CampaignSpec) -> AdsOutcome:
        self.runs.append((epoch_id, spec))
        return AdsOutcome(status=AdsStatus.PENDING_OPERATOR, spec=spec)


class MemoryReports:
    def __init__(self) -> None:
        self.written: dict[str, EpochState] = {}

    def write_epoch(self, state: EpochState) -> str:
        self.written[state.id] = state.model_copy(deep=True)
        return f"memory://epoch-{state.id}.json"


class SlowWallet(LedgerWallet):
    """Landing a transaction takes `delay` seconds, as on a real chain: the service's tests need
    an epoch still running while a signal or a second request arrives."""

    def __init__(self, ledger: Ledger, delay: float, *, malicious: bool = False) -> None:
        super().__init__(ledger, malicious=malicious)
        self.delay = delay

    async def land(self, tx: PreparedTx) -> Landing:
        await asyncio.sleep(self.delay)
        return await super().land(tx)


def epoch_policy(**changes: Any) -> EpochPolicy:
    """70% buyback, 30% ads, a $1,000 cap and a 0.05 SOL reserve, with `changes` on top."""
    base: dict[str, Any] = {
        "allocation": AllocationPolicy(
            buyback_percent=70,
            ads_percent=30,
            max_budget_per_epoch_micro_usd=1_000_000_000,  # $1,000
            min_sol_reserve_lamports=50_000_000,
        ),
        "max_price_impact_bps": 300,
        "destination": Destination.BURN,
    }
    base.update(changes)
    return EpochPolicy(**base)


@dataclass
class EpochWorld:
    """One ledger (the chain) and a state file; every epoch runs a fresh EpochRunner on them.

    `run()` opens the file as a new process would (the crash tests); the service keeps one store
    open (`open()`) and triggers `run_epoch`, which pays a new fee first.
    """

    db: Path
    policy: EpochPolicy = field(default_factory=epoch_policy)
    ledger: Ledger = field(default_factory=lambda: Ledger(executor_lamports=START_LAMPORTS))
    ads: RecordingAds = field(default_factory=lambda: RecordingAds())
    reports: MemoryReports = field(default_factory=lambda: MemoryReports())
    price: FixedPrice = field(default_factory=lambda: FixedPrice())
    failing: bool = False  # the guard refuses every swap: epochs with fees fail
    land_delay: float = 0.0
    fee_per_epoch: int = 10**9  # what `run_epoch` pays before each epoch
    store: SqliteStore | None = None
    runs: int = 0
    now: Callable[[], float] | None = None  # the epochs' clock (started_at, finished_at)

    @classmethod
    def at(cls, tmp_path: Path, **policy_changes: Any) -> EpochWorld:
        return cls(db=tmp_path / "state.sqlite", policy=epoch_policy(**policy_changes))

    def open(self) -> SqliteStore:
        self.store = SqliteStore.open(self.db)
        return self.store

    def runner(
        self,
        store: SqliteStore | None = None,
        on_step: Callable[[str, EpochState], None] | None = None,
        wallet: LedgerWallet | None = None,
    ) -> EpochRunner:
        store = store or self.store
        assert store is not None, "open() the world or pass a store"
        clock: dict[str, Any] = {}
        if self.now is not None:
            now = self.now
            clock["clock"] = lambda: datetime.fromtimestamp(now(), UTC)
        return EpochRunner(
            store=store,
            fee_source=LedgerFeeSource(self.ledger),
            prices=self.price,
            dex=LedgerDex(self.ledger),
            wallet=wallet or SlowWallet(self.ledger, self.land_delay, malicious=self.failing),
            ads=self.ads,
            reports=self.reports,
            policy=self.policy,
            on_step=on_step,
            **clock,
        )

    async def run(self, on_step: Callable[[str, EpochState], None] | None = None) -> EpochState:
        with SqliteStore.open(self.db) as store:
            return await self.runner(store, on_step).run()

    async def run_epoch(self) -> EpochState:
        """The service's EpochTrigger: new fees arrive, then one epoch runs (or resumes)."""
        self.runs += 1
        if self.fee_per_epoch:
            self.ledger.pay_fee(self.fee_per_epoch, self.runs)
        return await self.runner().run()

    async def balance(self) -> int:
        return self.ledger.executor_lamports

    def finished(self) -> list[EpochState]:
        with SqliteStore.open(self.db) as store:
            epochs = [e for e in store.epochs(limit=1000) if e.status != EpochStatus.RUNNING]
        return sorted(epochs, key=lambda e: e.started_at)

    def check_accounting(self) -> None:
        """detected = spent + reserved + carried, and the ledger agrees to the lamport."""
        epochs = self.finished()
        detected = sum(e.fees_in_lamports for e in epochs)
        spent = sum(e.buyback_spent_lamports for e in epochs)
        reserved = sum(e.ads_reserved_lamports for e in epochs)
        carried = epochs[-1].carried_out_lamports if epochs else 0
        assert detected == spent + reserved + carried
        for previous, current in itertools.pairwise(epochs):
            assert current.carried_in_lamports == previous.carried_out_lamports
        network_fees = FEE * len(self.ledger.executed)
        fees_paid = sum(r.lamports for r in self.ledger.fees)
        assert self.ledger.executor_lamports == START_LAMPORTS + fees_paid - spent - network_fees
