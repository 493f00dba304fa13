"""The exactly-once journal of an epoch's transactions.

A transaction is recorded (its signature, bytes and last valid block height) in the same
database transaction that puts it in the epoch's journal, before it can ever be sent. Landing it
goes through `Wallet.land`, which re-sends the same bytes and finds a landed signature instead of
executing it again, so after a crash the journal is simply landed again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

from flywheel.domain.epoch_state import EpochState, IntentRecord
from flywheel.domain.trade import Landing, LandingStatus, PreparedTx
from flywheel.errors import OperationalError
from flywheel.ports import Store, Wallet

Slot = Literal["swap", "settle", "ads_transfer", "claim"]
NOT_EXECUTED = (LandingStatus.EXPIRED, LandingStatus.FAILED)


def intents(state: EpochState) -> list[IntentRecord]:
    singles = (state.settle_intent, state.ads_transfer_intent)
    return [*state.claim_intents, *state.swap_intents, *(r for r in singles if r is not None)]


def in_flight(state: EpochState) -> bool:
    """Whether a journaled transaction may still land: nothing may be decided until it does."""
    return any(intent.status == "pending" for intent in intents(state))


def find(state: EpochState, signature: str) -> IntentRecord | None:
    return next((r for r in intents(state) if r.signature == signature), None)


def _replace(state: EpochState, updated: IntentRecord) -> None:
    state.swap_intents = [
        updated if r.signature == updated.signature else r for r in state.swap_intents
    ]
    state.claim_intents = [
        updated if r.signature == updated.signature else r for r in state.claim_intents
    ]
    if state.settle_intent is not None and state.settle_intent.signature == updated.signature:
        state.settle_intent = updated
    transfer = state.ads_transfer_intent
    if transfer is not None and transfer.signature == updated.signature:
        state.ads_transfer_intent = updated


def _with_landing(record: IntentRecord, landing: Landing) -> IntentRecord:
    return record.model_copy(
        update={
            "status": landing.status.value,
            "error": landing.error,
            "fee_lamports": landing.fee_lamports,
            "sol_delta": landing.sol_delta,
            "token_delta": landing.token_delta,
        }
    )


class IntentJournal:
    def __init__(self, store: Store, wallet: Wallet) -> None:
        self.store = store
        self.wallet = wallet

    def record(
        self, state: EpochState, prepared: PreparedTx, slot: Slot, source: str = ""
    ) -> IntentRecord:
        """Journal `prepared` with the epoch's other changes, before it is ever sent.

        `source`: for a claim, the fee source it claims for."""
        record = IntentRecord(
            kind=prepared.kind.value,
            signature=prepared.signature,
            last_valid_block_height=prepared.last_valid_block_height,
        )
        with self.store.transaction():
            self.store.add_intent(state.id, prepared)
            if slot == "swap":
                state.swap_intents.append(record)
            elif slot == "claim":
                state.claim_intents.append(record)
                state.claim_sources[record.signature] = source
            elif slot == "settle":
                state.settle_intent = record
            else:
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
                )
                self.store.update_intent(tx.signature, _with_landing(orphan, landing))

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
        """Land one transaction of `slot`, re-preparing only after one provably did not execute."""
        attempts = 0
        while True:
            record = state.settle_intent if slot == "settle" else state.ads_transfer_intent
            if record is None or record.status in NOT_EXECUTED:
                attempts += 1
                if attempts > max_attempts:
                    last = "" if record is None else f" (last: {record.status} {record.error})"
                    raise OperationalError(f"{what} failed {max_attempts} times{last}; {then}")
                record = self.record(state, await prepare(), slot)
            if record.status == "pending":
                record = await self.land(state, record)
            if record.status == LandingStatus.CONFIRMED:
                return record

    def _settle(self, state: EpochState, landing: Landing) -> IntentRecord:
        record = find(state, landing.signature)
        assert record is not None, "only the epoch's own intents are settled into its journal"
        updated = _with_landing(record, landing)
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
