"""EpochRunner: one epoch, as its list of steps, each recorded before its effects.

    reconcile → claim → detect → collect → allocate → buyback.quote → buyback.guard
              → buyback.send → buyback.settle → ads.sell → ads → anchor → report

Every step saves the epoch's journal (`EpochState`) in the same database transaction as its
other writes, so a crash resumes from the last completed step. Transactions are journaled as
intents before they are first sent; `Wallet.land` is safe to call again with the same bytes, so a
resumed step finds a landed transaction instead of buying twice.

Money rule: an error before any transaction is in flight ends the epoch as failed and carries
everything not yet spent. An error while a transaction is in flight (pending intent) leaves the
epoch unfinished and raises: only a later run, after reconciling the intent, may decide what was
spent. That is what makes double spending impossible.

The larger steps live in their own core modules: claim_step, collecting, buyback_step,
sell_step, ads_step and anchoring; this module drives them in order.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import structlog

from flywheel.ads_step import AdsStep
from flywheel.anchoring import TxMemos, anchor_epoch
from flywheel.buyback_step import BuybackStep
from flywheel.claim_step import ClaimStep
from flywheel.collecting import collect_fees
from flywheel.domain.allocation import allocate
from flywheel.domain.epoch_state import (
    STEPS,
    EpochError,
    EpochMode,
    EpochState,
    EpochStatus,
    final_status,
)
from flywheel.domain.fees import FeeReceipt, ReceiptStatus, screen
from flywheel.domain.policy import EpochPolicy
from flywheel.errors import FlywheelError, InFlight, StateError
from flywheel.intent_journal import BalanceAudit, IntentJournal, in_flight
from flywheel.ports import (
    AdsEngine,
    Anchorer,
    Collector,
    Dex,
    ExecutorBalances,
    FeeClaimer,
    FeeSource,
    PriceFeed,
    ReportSink,
    Store,
    TokenSeller,
    Wallet,
)
from flywheel.sell_step import SellStep

log = structlog.get_logger("flywheel.epoch")

StepObserver = Callable[[str, EpochState], None]


def _adopt(state: EpochState, decided: EpochState) -> None:
    """Make `state` (the runner's object, shared with the caller) what `decided` says."""
    for name in type(state).model_fields:
        setattr(state, name, getattr(decided, name))


def utc_now() -> datetime:
    return datetime.now(UTC)


async def _no_wait(_seconds: float) -> None:
    return None


def new_epoch_id(now: datetime) -> str:
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


class EpochRunner:
    def __init__(
        self,
        *,
        store: Store,
        fee_source: FeeSource,
        prices: PriceFeed,
        dex: Dex,
        wallet: Wallet,
        ads: AdsEngine,
        reports: ReportSink,
        policy: EpochPolicy,
        mode: EpochMode = EpochMode.LIVE,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_step: StepObserver | None = None,
        balances: ExecutorBalances | None = None,
        executor_collects_fees: bool = False,
        anchorer: Anchorer | None = None,
        collector: Collector | None = None,
        fee_funding: str = "same-wallet",
        claimers: tuple[FeeClaimer, ...] = (),
        seller: TokenSeller | None = None,
    ) -> None:
        self.store = store
        self.claimers = claimers
        self.fee_source = fee_source
        self.prices = prices
        self.dex = dex
        self.wallet = wallet
        self.ads = ads
        self.reports = reports
        self.policy = policy
        self.mode = mode
        self.clock = clock
        self.on_step = on_step
        self.anchorer = anchorer
        self.collector = collector
        self.fee_funding = fee_funding
        # The chain checks the journal (live only: a rehearsal's wallet moves nothing).
        self.audit = None
        if balances is not None and mode is EpochMode.LIVE:
            self.audit = BalanceAudit(store, balances, collects_fees=executor_collects_fees)
        self.journal = IntentJournal(store, wallet, self.audit)
        # With anchoring on, every transaction the epoch signs carries its state memo.
        memos = None if anchorer is None else TxMemos(store)
        self.claim_step = ClaimStep(store, dex, self.journal, policy, claimers, memos)
        if mode is EpochMode.SIMULATE:
            sleep = _no_wait  # a rehearsal shows what the slices would do: it waits for nothing
        self.buyback = BuybackStep(
            dex, wallet, self.journal, policy, memos, clock=clock, sleep=sleep
        )
        self.ads_step = AdsStep(store, wallet, ads, self.journal, policy, memos)
        self.sell_step = SellStep(store, seller, self.journal, policy, mode, memos)
        self._steps = self._step_table()
        assert tuple(self._steps) == STEPS

    def _step_table(self) -> dict[str, Callable[[EpochState], Awaitable[None]]]:
        """Each step's name (STEPS, in order) and what runs it."""
        return {
            "reconcile": self._reconcile,
            "claim": self._claim,
            "detect": self._detect,
            "collect": self._collect,
            "allocate": self._allocate,
            "buyback.quote": self.buyback.quote,
            "buyback.guard": self.buyback.guard,
            "buyback.send": self.buyback.send,
            "buyback.settle": self.buyback.settle,
            "ads.sell": self.sell_step.run,
            "ads": self.ads_step.run,
            "anchor": self._anchor,
            "report": self._report,
        }

    # ------------------------------------------------------------------ driving

    def begin_or_resume(self) -> EpochState:
        state = self.store.unfinished_epoch(self.mode)
        if state is not None:
            return state
        now = self.clock()
        previous = self.store.last_finished_epoch(EpochMode.LIVE)
        state = EpochState(
            id=new_epoch_id(now),
            mode=self.mode,
            started_at=now,
            # Always the live history: simulate runs on a fresh copy of the live database, so
            # what it carries in is what the next live epoch would carry in.
            carried_in_lamports=self.store.carried_lamports(EpochMode.LIVE),
            tokens_carried_in=0 if previous is None else previous.tokens_carried_out,
            ads_tokens_carried_in=0 if previous is None else previous.ads_tokens_carried_out,
            destination=self.policy.destination.value,
        )
        self.store.save_epoch(state)
        return state

    async def run(self) -> EpochState:
        """Run (or resume) one epoch to its end and return its final journal."""
        state = self.begin_or_resume()
        bound = log.bind(epoch_id=state.id, mode=state.mode.value)
        if state.steps_done:
            bound.info("epoch.resume", after=state.steps_done[-1])
            try:
                await self.journal.reconcile(state)
            except FlywheelError as exc:
                raise InFlight(
                    f"epoch {state.id} could not reconcile its journal: {exc}; it stays open"
                    " and is reconciled and resumed on the next run"
                ) from exc
        for step in STEPS:
            if step in state.steps_done:
                continue
            if state.failed and step not in ("anchor", "report"):
                # After an error nothing more moves money; what the epoch did is still anchored.
                continue
            self.store.record_step(state.id, step, "started")
            try:
                await self._steps[step](state)
            except FlywheelError as exc:
                if isinstance(exc, StateError):
                    self._reload(state)
                if in_flight(state):
                    self.store.record_step(state.id, step, "interrupted", str(exc))
                    raise InFlight(
                        f"epoch {state.id} stopped at {step} with a transaction in flight: {exc};"
                        " it will be reconciled and resumed on the next run"
                    ) from exc
                bound.warning("epoch.step_failed", step=step, error=str(exc))
                state.errors.append(
                    EpochError(step=step, kind=type(exc).__name__, message=str(exc))
                )
            self._complete(state, step)
        return state

    def _reload(self, state: EpochState) -> None:
        """After a failed database write: the journal in memory becomes the database's again."""
        stored = self.store.epoch(state.id)
        if stored is not None:
            _adopt(state, stored)

    def _complete(self, state: EpochState, step: str) -> None:
        state.steps_done.append(step)
        with self.store.transaction():
            self.store.save_epoch(state)
            self.store.record_step(state.id, step, "done")
        if self.on_step is not None:
            self.on_step(step, state)

    # ------------------------------------------------------------------ steps

    async def _reconcile(self, state: EpochState) -> None:
        """Resolve every journaled transaction, then check the balances, before anything new."""
        await self.journal.reconcile(state)
        if self.audit is not None:
            await self.audit.check(state, "at the start of the epoch")

    async def _claim(self, state: EpochState) -> None:
        """Move each claim source's fees to the executor: journaled, landed once, counted once."""
        await self.claim_step.run(state)

    async def _detect(self, state: EpochState) -> None:
        batch = await self.fee_source.fetch_new(self.store.fee_cursor())
        available, quarantined = self._screen(batch.receipts)
        # Decided on a copy, adopted only once committed: a failed write must leave the journal
        # in memory as the database has it, or a later save would count receipts still
        # available to the next epoch (claimed twice).
        after = state.model_copy(deep=True)
        with self.store.transaction():
            self.store.add_receipts(available, ReceiptStatus.AVAILABLE, batch.new_cursor)
            self.store.add_receipts(quarantined, ReceiptStatus.QUARANTINED, batch.new_cursor)
            if self.store.add_internal_transfers(batch.internal, state.id):
                after.internal_signatures += [t.signature for t in batch.internal]
                after.internal_lamports += sum(t.lamports for t in batch.internal)
            # Accumulate: if a crash repeats this step, what was claimed before stays counted.
            claimed = self.store.claim_available_receipts(state.id)
            after.fees_in_lamports += sum(r.lamports for r in claimed)
            after.receipt_signatures += [r.signature for r in claimed]
            after.quarantined_signatures += [r.signature for r in quarantined]
            after.rejected_fees += self.store.report_rejected_receipts(state.id)
            after.detect_requests += batch.requests
            self.store.save_epoch(after)
        _adopt(state, after)
        if quarantined:
            log.warning(
                "fees.quarantined",
                epoch_id=state.id,
                signatures=state.quarantined_signatures,
                lamports=sum(r.lamports for r in quarantined),
            )

    def _screen(self, receipts: list[FeeReceipt]) -> tuple[list[FeeReceipt], list[FeeReceipt]]:
        """Runbook scenario 7: hold back inflows too large to be plain trading fees."""
        return screen(
            receipts,
            max_single_lamports=self.policy.max_single_fee_lamports,
            max_per_epoch_lamports=self.policy.max_fees_per_epoch_lamports,
        )

    async def _collect(self, state: EpochState) -> None:
        """A separate fee collector's fees into the executor, before anything is spent."""
        state.fee_funding = self.fee_funding
        if self.collector is not None:
            await collect_fees(
                state,
                self.store,
                self.wallet,
                self.collector,
                max_attempts=self.policy.max_settle_attempts,
            )

    async def _allocate(self, state: EpochState) -> None:
        price = await self.prices.sol_usd()
        balance = await self.wallet.balance_lamports()
        # The ads ledger's SOL still in the executor is promised: never the buyback's.
        reserve = self.store.ads_reserve_in_executor_lamports()
        allocation = allocate(
            unspent_lamports=state.input_lamports,
            executor_balance_lamports=balance,
            ads_reserve_lamports=reserve,
            sol_usd=price,
            policy=self.policy.allocation,
        )
        state.sol_usd_price = None if price is None else str(price)
        state.executor_balance_lamports = balance
        state.ads_reserve_in_executor_lamports = reserve
        state.buyback_planned_lamports = allocation.buyback_lamports
        state.ads_planned_lamports = allocation.ads_lamports
        state.allocation_note = allocation.reason

    async def _anchor(self, state: EpochState) -> None:
        """Witness the epoch's outcome on chain (see `anchoring`): a memo a rebuild starts from."""
        if self.anchorer is not None:
            await anchor_epoch(
                state,
                self.store,
                self.wallet,
                self.anchorer,
                max_attempts=self.policy.max_settle_attempts,
            )

    async def _report(self, state: EpochState) -> None:
        if self.audit is not None:
            await self.audit.at_the_end(state)
        state.status = final_status(state.errors)  # an ads failure leaves the buyback standing
        state.finished_at = state.finished_at or self.clock()
        # The report is the step's own effect: it shows the step as done, as it will be.
        written = state.model_copy(update={"steps_done": [*state.steps_done, "report"]})
        try:
            state.report_path = self.reports.write_epoch(written)
        except FlywheelError as exc:
            # The money has moved as the journal says; only the file is missing. The epoch
            # ends failed (so it is looked at), with the reason in the state database.
            log.error("epoch.report_unwritten", epoch_id=state.id, error=str(exc))
            state.status = EpochStatus.FAILED
            state.errors.append(
                EpochError(step="report", kind=type(exc).__name__, message=str(exc))
            )
        log.info(
            "epoch.finished",
            epoch_id=state.id,
            status=state.status.value,
            fees_in=state.fees_in_lamports,
            spent=state.buyback_spent_lamports,
            tokens_bought=state.tokens_bought,
            carried_out=state.carried_out_lamports,
            report=state.report_path,
        )
