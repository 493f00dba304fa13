"""A state database rebuilt from the chain's anchors alone (see domain/anchor.py).

Each anchor becomes a finished epoch, oldest first (creation order is what carries), whose
carried lamports and unsettled tokens are the anchor's; the anchor transactions are journaled
as confirmed intents, so the start-up check knows them; the fee cursor, the wallet binding and
the ads ledger (budget still available, its SOL still in the executor) are the newest anchor's.
Fees after the anchored cursor are detected again: they were carried, never spent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from flywheel.domain.anchor import Anchor
from flywheel.domain.epoch_state import STEPS, EpochMode, EpochState, EpochStatus, IntentRecord
from flywheel.domain.trade import PreparedTx, TxKind
from flywheel.persistence.store import FEE_CURSOR_KEY, SqliteStore


def rebuild_from_anchors(
    store: SqliteStore,
    anchors: Sequence[tuple[str, Anchor]],
    *,
    collector: str,
    mint: str,
    own: dict[str, str | None],
    now: datetime,
) -> Anchor:
    """Fill the empty `store` from (signature, anchor) pairs, newest first; the newest anchor."""
    if not anchors:
        raise ValueError("no anchor to rebuild from")
    newest = anchors[0][1]
    with store.transaction():
        for signature, anchor in reversed(anchors):
            store.save_epoch(_epoch(anchor, signature, now))
            store.add_intent(anchor.epoch_id, PreparedTx(TxKind.ANCHOR, signature, b"", 0))
            store.update_intent(
                signature,
                IntentRecord(
                    kind=TxKind.ANCHOR.value,
                    signature=signature,
                    last_valid_block_height=0,
                    status="confirmed",
                ),
            )
        if newest.ads_available_micro_usd or newest.ads_reserve_lamports:
            store.add_ads_entry(
                newest.epoch_id,
                "accrued",
                newest.ads_available_micro_usd,
                newest.ads_reserve_lamports,
                note=f"rebuilt from the anchor {anchors[0][0]}",
            )
        store.bind(collector=collector, mint=mint)
        for role, address in own.items():
            if address is not None:
                store.add_own_address(address, role)
        if newest.cursor is not None:
            store.set_meta(FEE_CURSOR_KEY, newest.cursor)
    return newest


def _started_at(epoch_id: str, fallback: datetime) -> datetime:
    """The epoch id begins with its start time (`new_epoch_id`); the rebuild's time if not."""
    try:
        return datetime.strptime(epoch_id.split("-")[0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return fallback


def _epoch(anchor: Anchor, signature: str, now: datetime) -> EpochState:
    started = _started_at(anchor.epoch_id, now)
    return EpochState(
        id=anchor.epoch_id,
        mode=EpochMode.LIVE,
        started_at=started,
        finished_at=started,
        status=EpochStatus.SUCCEEDED,
        steps_done=list(STEPS),
        carried_in_lamports=anchor.carried_lamports,
        tokens_carried_in=anchor.unsettled_tokens,
        anchor_signature=signature,
        anchor_memo=anchor.memo(),
        allocation_note=f"rebuilt from the chain: anchor {signature}",
    )
