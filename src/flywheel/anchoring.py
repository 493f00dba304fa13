"""State memos: every transaction of an epoch says where the epoch stands; the anchor step
witnesses its outcome on chain, exactly as the database has it.

`TxMemos` writes the memo each transaction carries (domain/anchor.py: the state if that
transaction lands, as far as signing time knows it). The closing anchor is still its own
memo-only transaction when the epoch changed what no transaction of it states afterwards: the
ads ledger moves without a transaction (accrual into the reserve, a campaign's commitment), a
settle is skipped for HOLD, and a Jupiter v1 swap (API-built) carries no memo. An epoch that
only carried signs nothing and needs no anchor.

The anchor The transaction is journaled as an
intent before it is first sent, so the start-up check always knows our own anchors, and a
crash before it landed is reconciled like any intent. One that provably did not land is
signed again: a second anchor with the same memo would be harmless, a missing one is not.
"""

from __future__ import annotations

from flywheel.domain.anchor import MAX_TX_MEMO_BYTES, Anchor, after_landing, parse_anchor
from flywheel.domain.epoch_state import EpochMode, EpochState, IntentRecord
from flywheel.domain.fees import ReceiptStatus
from flywheel.domain.trade import LandingStatus, PreparedTx, TxKind
from flywheel.errors import OperationalError
from flywheel.ports import Anchorer, Store, Wallet


def epoch_anchor(state: EpochState, store: Store) -> Anchor:
    quarantined = [(r.signature, r.lamports) for r in store.receipts(ReceiptStatus.QUARANTINED)]
    return Anchor(
        epoch_id=state.id,
        cursor=store.fee_cursor(),
        carried_lamports=state.carried_out_lamports,
        ads_available_micro_usd=store.ads_available_micro_usd(),
        ads_reserve_lamports=store.ads_reserve_in_executor_lamports(),
        unsettled_tokens=state.tokens_carried_out,
        quarantined_lamports=sum(n for _, n in quarantined),
        quarantined=tuple(quarantined),
        ads_tokens=state.ads_tokens_carried_out,
    )


class TxMemos:
    """The state memo of each transaction an epoch signs (see the module docstring)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def for_tx(
        self,
        state: EpochState,
        kind: str,
        *,
        spends: int = 0,
        reserve_leaves: int = 0,
        ads_tokens_sold: int = 0,
    ) -> str:
        """`spends`: the lamports this transaction spends that the epoch has not yet booked
        (a swap's input); `reserve_leaves`: ads-reserve SOL it moves out of the executor;
        `ads_tokens_sold`: ads-share fee tokens it sells (the ads.sell step's sale)."""
        closing = epoch_anchor(state, self.store)
        anchor = Anchor(
            epoch_id=state.id,
            kind=kind,
            cursor=closing.cursor,
            carried_lamports=max(closing.carried_lamports - spends, 0),
            ads_available_micro_usd=closing.ads_available_micro_usd,
            ads_reserve_lamports=max(closing.ads_reserve_lamports - reserve_leaves, 0),
            unsettled_tokens=closing.unsettled_tokens,
            quarantined_lamports=closing.quarantined_lamports,
            ads_tokens=max(closing.ads_tokens - ads_tokens_sold, 0),
        )
        text = anchor.memo(MAX_TX_MEMO_BYTES)
        state.signing_memo = text  # journaled with the intent (`take_memo`)
        return text


def standing_memo(store: Store, kind: str) -> str:
    """The memo of a transaction outside any epoch (a sweep): the state as the last epoch
    left it."""
    last = store.last_finished_epoch(EpochMode.LIVE)
    quarantined = sum(r.lamports for r in store.receipts(ReceiptStatus.QUARANTINED))
    return Anchor(
        epoch_id=None,
        kind=kind,
        cursor=store.fee_cursor(),
        carried_lamports=store.carried_lamports(EpochMode.LIVE),
        ads_available_micro_usd=store.ads_available_micro_usd(),
        ads_reserve_lamports=store.ads_reserve_in_executor_lamports(),
        unsettled_tokens=0 if last is None else last.tokens_carried_out,
        quarantined_lamports=quarantined,
        ads_tokens=0 if last is None else last.ads_tokens_carried_out,
    ).memo(MAX_TX_MEMO_BYTES)


def needs_anchor(state: EpochState, store: Store) -> bool:
    """Whether the epoch did what detecting its fees again could not undo (it spent, reserved
    for ads, bought or settled tokens, or committed ads budget) and its own transactions' memos
    do not already say where it ended. An epoch that only carried needs none: rebuilt from the
    state before it, its fees are detected again and carried."""
    moved = bool(
        state.buyback_spent_lamports
        or state.ads_reserved_lamports
        or state.tokens_bought
        or state.tokens_settled
        or store.has_ads_entry(state.id, "committed")
    )
    return moved and not memos_suffice(state, store)


def memos_suffice(state: EpochState, store: Store) -> bool:
    """Whether the epoch's newest landed transaction's memo, with that transaction's own
    balances applied (as a rebuild reads it), is exactly the closing anchor's state, with no
    quarantined fee to list."""
    landed = [
        r
        for r in store.intent_records(state.id)
        if r.status == LandingStatus.CONFIRMED and r.kind != TxKind.ANCHOR.value
    ]
    if not landed or landed[-1].signature not in state.tx_memos:
        return False  # nothing signed, or the newest is a v1 swap (no memo)
    last = landed[-1]
    memo = parse_anchor(state.tx_memos[last.signature])
    if memo is None:
        return False
    derived = after_landing(
        memo, token_delta=last.token_delta, sol_in=last.sol_delta + last.fee_lamports
    )
    closing = epoch_anchor(state, store)
    return closing.quarantined_lamports == 0 and _figures(derived) == _figures(closing)


def _figures(anchor: Anchor) -> tuple[object, ...]:
    return (
        anchor.epoch_id,
        anchor.cursor,
        anchor.carried_lamports,
        anchor.ads_available_micro_usd,
        anchor.ads_reserve_lamports,
        anchor.unsettled_tokens,
        anchor.quarantined_lamports,
        anchor.ads_tokens,
    )


async def anchor_epoch(
    state: EpochState, store: Store, wallet: Wallet, anchorer: Anchorer, *, max_attempts: int
) -> None:
    if state.anchor_signature is None and not needs_anchor(state, store):
        return
    signature = state.anchor_signature
    status = None if signature is None else store.intent_status(signature)
    if status == LandingStatus.CONFIRMED:
        return
    memo = epoch_anchor(state, store).memo()
    for _ in range(max_attempts):
        if status != "pending":
            prepared = await anchorer.prepare_anchor(memo)
            with store.transaction():  # journaled before it can ever be sent
                store.add_intent(state.id, prepared)
                state.anchor_signature, state.anchor_memo = prepared.signature, memo
                store.save_epoch(state)
        tx = _pending(store, state.anchor_signature)
        landing = await wallet.land(tx)
        store.update_intent(
            tx.signature,
            IntentRecord(
                kind=tx.kind.value,
                signature=tx.signature,
                last_valid_block_height=tx.last_valid_block_height,
                status=landing.status.value,
                error=landing.error,
                fee_lamports=landing.fee_lamports,
                sol_delta=landing.sol_delta,  # the memo's fee: the balance audit counts it
                token_delta=landing.token_delta,
                slot=landing.slot,
            ),
        )
        if landing.status is LandingStatus.CONFIRMED:
            return
        status = landing.status.value
    raise OperationalError(
        f"the anchor memo of epoch {state.id} did not land ({status}); the state is not"
        " witnessed on chain until a later epoch anchors it"
    )


def _pending(store: Store, signature: str | None) -> PreparedTx:
    for _, tx in store.pending_intents():
        if tx.signature == signature:
            return tx
    raise OperationalError(f"anchor intent {signature} is not pending in the journal")
