"""The exactly-once journal of an epoch's transactions.

A transaction is recorded (its signature, bytes and last valid block height) in the same
database transaction that puts it in the epoch's journal, before it can ever be sent. Landing it
goes through `Wallet.land`, which re-sends the same bytes and finds a landed signature instead of
executing it again, so after a crash the journal is simply landed again.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Literal, TypeVar

import structlog

from flywheel.domain.balances import (
    BalanceCheck,
    BalanceReading,
    Checkpoint,
    Inflow,
    Movement,
    check_balances,
)
from flywheel.domain.epoch_state import EpochError, EpochState, IntentRecord, IntentStatus
from flywheel.domain.trade import Landing, LandingStatus, PreparedTx
from flywheel.errors import BalanceMismatch, FlywheelError, OperationalError, TemporaryError
from flywheel.ports import ExecutorBalances, Store, Wallet

log = structlog.get_logger("flywheel.journal")

Slot = Literal["swap", "settle", "ads_transfer", "claim", "sell"]
NOT_EXECUTED = (LandingStatus.EXPIRED, LandingStatus.FAILED)
R = TypeVar("R", bound=IntentRecord)


def intents(state: EpochState) -> list[IntentRecord]:
    singles = (state.settle_intent, state.ads_transfer_intent)
    swaps = [*state.claim_intents, *state.swap_intents, *state.sell_intents]
    return [*swaps, *(r for r in singles if r is not None)]


def in_flight(state: EpochState) -> bool:
    """Whether a journaled transaction may still land: nothing may be decided until it does."""
    return any(intent.status == IntentStatus.PENDING for intent in intents(state))


def find(state: EpochState, signature: str) -> IntentRecord | None:
    return next((r for r in intents(state) if r.signature == signature), None)


def attempts(state: EpochState, slot: Slot) -> int:
    """Transactions of `slot` signed so far, counted in the state so a restart does not reset
    them (an epoch journaled before the count was kept has at least its one intent)."""
    if slot == "swap":
        return len(state.swap_intents)
    if slot == "settle":
        return max(state.settle_attempts, int(state.settle_intent is not None))
    return max(state.ads_transfer_attempts, int(state.ads_transfer_intent is not None))


def _replace(state: EpochState, updated: IntentRecord) -> None:
    state.swap_intents = [
        updated if r.signature == updated.signature else r for r in state.swap_intents
    ]
    state.claim_intents = [
        updated if r.signature == updated.signature else r for r in state.claim_intents
    ]
    state.sell_intents = [
        updated if r.signature == updated.signature else r for r in state.sell_intents
    ]
    if state.settle_intent is not None and state.settle_intent.signature == updated.signature:
        state.settle_intent = updated
    transfer = state.ads_transfer_intent
    if transfer is not None and transfer.signature == updated.signature:
        state.ads_transfer_intent = updated


def with_landing(record: R, landing: Landing) -> R:
    """`record` (or a subclass of it, such as the sweep's) with `landing`'s outcome."""
    return record.model_copy(
        update={
            "status": landing.status.value,
            "error": landing.error,
            "fee_lamports": landing.fee_lamports,
            "sol_delta": landing.sol_delta,
            "token_delta": landing.token_delta,
            "slot": landing.slot,
        }
    )


CHECKPOINT_KEY = "executor.balance_checkpoint"
# Epochs searched for journaled transactions after the checkpoint: it moves at the end of every
# epoch that checks out, and a stopped epoch signs nothing, so the recent ones are enough.
CHECKPOINT_EPOCHS = 100
ACCEPT_COMMAND = "flywheel wallet accept-balances"


def load_checkpoint(store: Store) -> Checkpoint | None:
    text = store.get_meta(CHECKPOINT_KEY)
    if text is None:
        return None
    saved = json.loads(text)
    return Checkpoint(BalanceReading(**saved["reading"]), frozenset(saved["accounted"]))


def save_checkpoint(store: Store, reading: BalanceReading, moved: list[Movement]) -> None:
    """`reading` as the checkpoint; `moved` (every executed transaction now) is in it."""
    text = json.dumps(
        {"reading": asdict(reading), "accounted": sorted(m.signature for m in moved)},
        sort_keys=True,
    )
    store.set_meta(CHECKPOINT_KEY, text)


def every_intent(store: Store, state: EpochState) -> list[IntentRecord]:
    """The epoch's own slots, then what else it journaled (the collect, the anchor memo, a
    claim): every transaction the executor signs moves its SOL, at least by the fee."""
    own = intents(state)
    known = {r.signature for r in own}
    return own + [r for r in store.intent_records(state.id) if r.signature not in known]


def movements(intents_: list[IntentRecord]) -> list[Movement]:
    executed = (LandingStatus.CONFIRMED.value, LandingStatus.FAILED.value)
    return [
        Movement(r.signature, r.slot, r.sol_delta, r.token_delta)
        for r in intents_
        if r.status in executed
    ]


def take_memo(state: EpochState, signature: str) -> None:
    """The state memo just signed into `signature` (if any) is that transaction's."""
    if state.signing_memo is not None:
        state.tx_memos[signature] = state.signing_memo
        state.signing_memo = None


class BalanceAudit:
    """The chain checks the journal: before a re-sign, at the start and end of every epoch."""

    def __init__(self, store: Store, reader: ExecutorBalances, *, collects_fees: bool) -> None:
        self.store = store
        self.reader = reader
        self.collects_fees = collects_fees

    async def check(self, state: EpochState, moment: str) -> BalanceCheck | None:
        """The comparison, or None when this reading became the first checkpoint.

        Raises BalanceMismatch with the figures when the chain disagrees with the journal.
        """
        observed = await self.reader.executor_balances()
        checkpoint = load_checkpoint(self.store)
        moved = movements(self._intents_since(state))
        if checkpoint is None or not checkpoint.reading.same_wallet(observed):
            save_checkpoint(self.store, observed, moved)
            log.info("balances.checkpoint_started", epoch_id=state.id, **asdict(observed))
            return None
        result = check_balances(checkpoint, observed, moved, self._inflows())
        if result.stale:
            raise TemporaryError(
                f"{moment}: the RPC node's balances (slot {observed.slot}) are older than a "
                "transaction of ours it should include; the balances are checked again later"
            )
        if not result.ok:
            raise BalanceMismatch(
                f"{moment}: the executor's balances on chain do not match the journal: "
                f"{result.describe()}. Nothing more is spent until this is explained: find the "
                "transactions that moved them (an explorer on the executor's address; a swap "
                "the RPC node hid means SOLANA_RPC_URL is not to be trusted); once explained, "
                f"run `{ACCEPT_COMMAND}` to take the chain's figures as the new checkpoint"
            )
        if result.sol_unexplained > 0:
            log.info(
                "balances.sol_surplus",
                epoch_id=state.id,
                lamports=result.sol_unexplained,
                note="fees not yet detected or a top-up: nothing of ours is missing",
            )
        return result

    async def at_the_end(self, state: EpochState) -> None:
        """The end-of-epoch check: when it checks out, the chain's figures become the next
        checkpoint; a mismatch fails the epoch; a hiccup leaves it to the next start."""
        if any(e.kind == BalanceMismatch.__name__ for e in state.errors):
            return  # already stopped for it: the checkpoint stays where the mismatch began
        try:
            result = await self.check(state, "at the end of the epoch")
        except BalanceMismatch as exc:
            log.error("balances.mismatch", epoch_id=state.id, error=str(exc))
            state.errors.append(
                EpochError(step="report", kind=type(exc).__name__, message=str(exc))
            )
            return
        except FlywheelError as exc:
            log.warning("balances.unchecked", epoch_id=state.id, error=str(exc))
            return
        if result is not None:
            save_checkpoint(self.store, result.observed, movements(self._intents_since(state)))

    def _intents_since(self, state: EpochState) -> list[IntentRecord]:
        found = every_intent(self.store, state)
        for epoch in self.store.epochs(limit=CHECKPOINT_EPOCHS):
            if epoch.id != state.id:
                found += every_intent(self.store, epoch)
        return found

    def _inflows(self) -> list[Inflow]:
        if not self.collects_fees:
            return []
        return [Inflow(r.signature, r.slot, r.lamports) for r in self.store.receipts()]


async def accept_balances(
    store: Store, reader: ExecutorBalances
) -> tuple[Checkpoint | None, BalanceReading]:
    """The operator's answer to a BalanceMismatch: the chain's figures become the checkpoint.

    Refused while a transaction is in flight: its effect would be neither in nor out.
    """
    pending = store.pending_intents()
    if pending:
        raise OperationalError(
            f"{len(pending)} journaled transaction(s) are in flight (first: "
            f"{pending[0][1].signature}): run `flywheel epoch` until they are reconciled,"
            " then accept the balances"
        )
    previous = load_checkpoint(store)
    reading = await reader.executor_balances()
    recent: list[IntentRecord] = []
    for epoch in store.epochs(limit=CHECKPOINT_EPOCHS):
        recent += every_intent(store, epoch)
    save_checkpoint(store, reading, movements(recent))
    return previous, reading


class IntentJournal:
    def __init__(self, store: Store, wallet: Wallet, audit: BalanceAudit | None = None) -> None:
        self.store = store
        self.wallet = wallet
        self.audit = audit

    async def before_resign(self, state: EpochState, record: IntentRecord | None) -> None:
        """An expired transaction may be replaced only if the balances show it did nothing."""
        if self.audit is not None and record is not None and record.status == "expired":
            await self.audit.check(state, f"before re-signing the expired {record.kind}")

    def record(
        self, state: EpochState, prepared: PreparedTx, slot: Slot, source: str = ""
    ) -> IntentRecord:
        """Journal `prepared` with the epoch's other changes, before it is ever sent.

        `source`: for a claim, the fee source it claims for."""
        record = IntentRecord(
            kind=prepared.kind.value,
            signature=prepared.signature,
            last_valid_block_height=prepared.last_valid_block_height,
            min_slot=prepared.min_slot,
        )
        with self.store.transaction():
            self.store.add_intent(state.id, prepared)
            take_memo(state, prepared.signature)
            if slot == "swap":
                state.swap_intents.append(record)
            elif slot == "sell":
                state.sell_intents.append(record)
            elif slot == "claim":
                state.claim_intents.append(record)
                state.claim_sources[record.signature] = source
            elif slot == "settle":
                state.settle_attempts = attempts(state, slot) + 1
                state.settle_intent = record
            else:
                state.ads_transfer_attempts = attempts(state, slot) + 1
                state.ads_transfer_intent = record
            self.store.save_epoch(state)
        return record

    async def land(self, state: EpochState, record: IntentRecord) -> IntentRecord:
        """Land a pending intent by its journaled bytes and record the outcome."""
        tx = self._journaled(record.signature)
        return self._settle(state, await self.wallet.land(tx))

    async def reconcile(self, state: EpochState) -> None:
        """Resolve every pending intent in the journal before anything new is decided."""
        for epoch_id, tx in self.store.pending_intents():
            landing = await self.wallet.land(tx)
            if epoch_id == state.id and find(state, tx.signature) is not None:
                self._settle(state, landing)
            else:
                orphan = IntentRecord(
                    kind=tx.kind.value,
                    signature=tx.signature,
                    last_valid_block_height=tx.last_valid_block_height,
                    min_slot=tx.min_slot,
                )
                self.store.update_intent(tx.signature, with_landing(orphan, landing))

    async def land_once(
        self,
        state: EpochState,
        slot: Literal["settle", "ads_transfer"],
        prepare: Callable[[], Awaitable[PreparedTx]],
        *,
        max_attempts: int,
        what: str,
        then: str,
    ) -> IntentRecord:
        """Land one transaction of `slot`, re-preparing only after one provably did not execute.

        Attempts are counted in the state: `max_attempts` holds across crashes and restarts.
        """
        while True:
            record = state.settle_intent if slot == "settle" else state.ads_transfer_intent
            if record is None or record.status in NOT_EXECUTED:
                if attempts(state, slot) >= max_attempts:
                    last = "" if record is None else f" (last: {record.status} {record.error})"
                    raise OperationalError(f"{what} failed {max_attempts} times{last}; {then}")
                await self.before_resign(state, record)
                record = self.record(state, await prepare(), slot)
            if record.status == IntentStatus.PENDING:
                record = await self.land(state, record)
            if record.status == LandingStatus.CONFIRMED:
                return record

    def _settle(self, state: EpochState, landing: Landing) -> IntentRecord:
        record = find(state, landing.signature)
        assert record is not None, "only the epoch's own intents are settled into its journal"
        updated = with_landing(record, landing)
        with self.store.transaction():
            self.store.update_intent(landing.signature, updated)
            _replace(state, updated)
            self.store.save_epoch(state)
        return updated

    def _journaled(self, signature: str) -> PreparedTx:
        for _, tx in self.store.pending_intents():
            if tx.signature == signature:
                return tx
        raise OperationalError(f"intent {signature} is not in the journal")
