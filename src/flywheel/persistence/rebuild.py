"""A state database rebuilt from the chain's state memos alone (see domain/anchor.py).

Every flywheel transaction found on chain is journaled as a confirmed intent of its epoch, so
the start-up check knows them all. Each epoch becomes a finished epoch, oldest first (creation
order is what carries), whose carried lamports and unsettled tokens are its closing anchor's or,
for an epoch interrupted before its anchor, its newest transaction's memo with that landed
transaction's own effects (a swap's tokens bought, a burn's tokens gone): the rebuilt state
neither buys again what that swap bought nor forgets it. A last epoch, "rebuilt", holds the
newest state: the ads ledger (budget available, its SOL still in the executor) and the
quarantined receipts the newest closing anchor lists, one by one, so `fees release` works.
Fees after the newest memo's cursor are detected again: they were carried, never spent.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from flywheel.domain.anchor import Anchor
from flywheel.domain.epoch_state import STEPS, EpochMode, EpochState, EpochStatus, IntentRecord
from flywheel.domain.fees import FeeReceipt, ReceiptStatus
from flywheel.domain.trade import PreparedTx, TxKind
from flywheel.persistence.ownership import SWEEP_JOURNAL_KEY
from flywheel.persistence.store import FEE_CURSOR_KEY, SqliteStore

_KINDS = {"epoch": TxKind.ANCHOR} | {k.value: k for k in TxKind}


@dataclass(frozen=True)
class ChainTx:
    """One flywheel transaction as the chain shows it: its memo, the state after it landed."""

    signature: str
    memo: Anchor
    after: Anchor


@dataclass(frozen=True)
class Rebuilt:
    newest: ChainTx
    epochs: int
    # The newest epoch, when it has no closing anchor: rebuilt from its newest transaction
    interrupted: str | None
    quarantined_restored: int  # receipts
    quarantined_missing_lamports: int  # quarantined lamports the memos do not list


def rebuild_from_chain(
    store: SqliteStore,
    txs: Sequence[ChainTx],
    *,
    collector: str,
    mint: str,
    own: dict[str, str | None],
    now: datetime,
) -> Rebuilt:
    """Fill the empty `store` from the flywheel's transactions, newest first."""
    bound = [t for t in txs if t.memo.epoch_id is not None]
    if not bound:
        raise ValueError("no state memo to rebuild from")
    newest = bound[0]
    epochs = _by_epoch(bound)
    interrupted = None
    with store.transaction():
        for epoch_id, its in epochs.items():
            closing = next((t for t in its if t.memo.closing), None)
            final = closing or its[0]
            if closing is None and final is newest:
                interrupted = epoch_id
            store.save_epoch(_epoch(epoch_id, final, closing is not None, now))
            for tx in reversed(its):
                _journal(store, epoch_id, tx)
        rebuilt_id = f"{now:%Y%m%dT%H%M%SZ}-rebuilt"
        store.save_epoch(_epoch(rebuilt_id, newest, True, now, note="the newest state"))
        state = newest.after
        if state.ads_available_micro_usd or state.ads_reserve_lamports:
            store.add_ads_entry(
                rebuilt_id,
                "accrued",
                state.ads_available_micro_usd,
                state.ads_reserve_lamports,
                note=f"rebuilt from {newest.signature}",
            )
        restored = _quarantine(store, txs, state)
        _sweeps(store, [t.signature for t in txs if t.memo.epoch_id is None])
        store.bind(collector=collector, mint=mint)
        for role, address in own.items():
            if address is not None:
                store.add_own_address(address, role)
        if state.cursor is not None:
            store.set_meta(FEE_CURSOR_KEY, state.cursor)
    return Rebuilt(
        newest=newest,
        epochs=len(epochs),
        interrupted=interrupted,
        quarantined_restored=len(restored),
        quarantined_missing_lamports=state.quarantined_lamports - sum(r.lamports for r in restored),
    )


def _by_epoch(txs: Sequence[ChainTx]) -> dict[str, list[ChainTx]]:
    """Epoch id -> its transactions newest first; epochs oldest first."""
    grouped: dict[str, list[ChainTx]] = {}
    for tx in reversed(txs):
        assert tx.memo.epoch_id is not None
        grouped.setdefault(tx.memo.epoch_id, []).insert(0, tx)
    return grouped


def _journal(store: SqliteStore, epoch_id: str, tx: ChainTx) -> None:
    kind = _KINDS.get(tx.memo.kind, TxKind.ANCHOR)
    store.add_intent(epoch_id, PreparedTx(kind, tx.signature, b"", 0))
    store.update_intent(
        tx.signature,
        IntentRecord(
            kind=kind.value, signature=tx.signature, last_valid_block_height=0, status="confirmed"
        ),
    )


def _quarantine(store: SqliteStore, txs: Sequence[ChainTx], state: Anchor) -> list[FeeReceipt]:
    """The quarantined receipts the newest closing anchor lists, if no later memo's total
    differs: one released (and spent) since must never come back as quarantined, to be
    released, and spent, again."""
    if state.quarantined_lamports <= 0:
        return []
    at = next((i for i, t in enumerate(txs) if t.memo.closing), None)
    if at is None:
        return []
    closing = txs[at].memo
    if any(t.memo.quarantined_lamports != closing.quarantined_lamports for t in txs[:at]):
        return []  # the quarantine changed after the anchor: named as a total for review
    receipts = [
        FeeReceipt(sig, lamports, 0, source="rebuilt") for sig, lamports in closing.quarantined
    ]
    store.add_receipts(receipts, ReceiptStatus.QUARANTINED, None)
    return receipts


def _sweeps(store: SqliteStore, signatures: list[str]) -> None:
    """Sweeps belong to no epoch: the sweep journal knows them, as the start-up check needs."""
    if not signatures:
        return
    intents = [
        {
            "kind": TxKind.TRANSFER.value,
            "signature": s,
            "last_valid_block_height": 0,
            "status": "confirmed",
            "raw": "",
        }
        for s in signatures
    ]
    store.set_meta(SWEEP_JOURNAL_KEY, json.dumps({"target": None, "intents": intents}))


def _started_at(epoch_id: str, fallback: datetime) -> datetime:
    """The epoch id begins with its start time (`new_epoch_id`); the rebuild's time if not."""
    try:
        return datetime.strptime(epoch_id.split("-")[0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return fallback


def _epoch(
    epoch_id: str, final: ChainTx, anchored: bool, now: datetime, note: str = ""
) -> EpochState:
    started = _started_at(epoch_id, now)
    what = note or (
        f"anchor {final.signature}"
        if anchored
        else f"its newest transaction, the {final.memo.kind} {final.signature}"
    )
    return EpochState(
        id=epoch_id,
        mode=EpochMode.LIVE,
        started_at=started,
        finished_at=started,
        status=EpochStatus.SUCCEEDED,
        steps_done=list(STEPS),
        carried_in_lamports=final.after.carried_lamports,
        tokens_carried_in=final.after.unsettled_tokens,
        ads_tokens_carried_in=final.after.ads_tokens,
        anchor_signature=final.signature if final.memo.closing else None,
        anchor_memo=final.memo.memo() if final.memo.closing else None,
        allocation_note=f"rebuilt from the chain: {what}",
    )
