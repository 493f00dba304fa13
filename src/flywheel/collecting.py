"""The collect step: exactly the fees detected this epoch move from a separate fee collector to
the executor, once, before anything is spent.

What an earlier epoch could not collect (the collector held less, or the transfer did not land)
stays owed and is collected with the next epoch's fees. The transfer is journaled as an intent
before it is first sent; a pending one is landed with the same bytes, and only one that
provably did not execute is signed again.
"""

from __future__ import annotations

import structlog

from flywheel.anchoring import TxMemos
from flywheel.domain.epoch_state import EpochState, IntentRecord
from flywheel.domain.trade import Landing, LandingStatus, PreparedTx
from flywheel.errors import OperationalError
from flywheel.intent_journal import take_memo
from flywheel.ports import Collector, Store, Wallet

log = structlog.get_logger("flywheel.collect")


async def collect_fees(
    state: EpochState, store: Store, wallet: Wallet, collector: Collector, *, max_attempts: int
) -> None:
    if state.collect_target_lamports is None:
        with store.transaction():
            state.collect_target_lamports = store.collect_owed_lamports() + state.fees_in_lamports
            # Owed until a transfer is confirmed: whatever happens next, nothing is forgotten.
            store.set_collect_owed_lamports(state.collect_target_lamports)
            store.save_epoch(state)
    target = state.collect_target_lamports
    status = (
        None if state.collect_signature is None else store.intent_status(state.collect_signature)
    )
    if status == LandingStatus.CONFIRMED or target <= 0:
        return
    for _ in range(max_attempts):
        if status != "pending":
            lamports = min(target, await collector.collectable_lamports())
            if lamports <= 0:
                break
            memo = TxMemos(store).for_tx(state, "collect")
            prepared = await collector.prepare_collect(lamports, memo)
            with store.transaction():  # journaled before it can ever be sent
                store.add_intent(state.id, prepared)
                take_memo(state, prepared.signature)
                state.collect_signature = prepared.signature
                state.collected_lamports = lamports
                store.save_epoch(state)
        tx = _pending(store, state.collect_signature)
        landing = await wallet.land(tx)
        with store.transaction():
            store.update_intent(tx.signature, _record(tx, landing))
            if landing.status is LandingStatus.CONFIRMED:
                store.set_collect_owed_lamports(target - state.collected_lamports)
                store.save_epoch(state)
                if state.collected_lamports < target:
                    log.warning(
                        "collect.short",
                        epoch_id=state.id,
                        owed=target - state.collected_lamports,
                    )
                return
        status = landing.status.value
    with store.transaction():
        state.collected_lamports = 0
        store.set_collect_owed_lamports(target)
        store.save_epoch(state)
    raise OperationalError(
        f"collecting {target} lamports of fees from the fee collector did not succeed"
        f" ({status or 'the collector holds nothing above its rent'}); nothing is spent, the"
        " fees are carried and the next epoch collects them"
    )


def _record(tx: PreparedTx, landing: Landing) -> IntentRecord:
    # The deltas let the balance audit explain the executor's SOL after the collect.
    return IntentRecord(
        kind=tx.kind.value,
        signature=tx.signature,
        last_valid_block_height=tx.last_valid_block_height,
        status=landing.status.value,
        error=landing.error,
        fee_lamports=landing.fee_lamports,
        sol_delta=landing.sol_delta,
        token_delta=landing.token_delta,
        slot=landing.slot,
    )


def _pending(store: Store, signature: str | None) -> PreparedTx:
    for _, tx in store.pending_intents():
        if tx.signature == signature:
            return tx
    raise OperationalError(f"collect intent {signature} is not pending in the journal")
