"""The send step of a sliced buyback: each journaled slice, at its time, bought exactly once.

Per slice, as the one-shot buyback does for its swap: quote (sized to MAX_PRICE_IMPACT_BPS) →
guard (build, check, sign, journal the intent) → send (land the journaled bytes) → count. A slice
is counted in the epoch's totals in the same save that marks it done, from its confirmed intent,
so a crash anywhere resumes it: a pending intent is landed (reconciled by its signature, never
signed again), a confirmed one is counted, a slice with no intent waits for its time and is
quoted. A swap that provably did not execute is re-signed at most `max_swap_attempts` times.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from flywheel.domain.allocation import under_minimum
from flywheel.domain.epoch_state import EpochState, IntentRecord, IntentStatus
from flywheel.domain.slices import SliceRecord, SliceStatus, next_slice
from flywheel.domain.trade import LandingStatus, check_delivery, is_onchain_slippage, our_min_out
from flywheel.errors import OperationalError, SlippageExceeded

if TYPE_CHECKING:
    from flywheel.buyback_step import BuybackStep

log = structlog.get_logger("flywheel.epoch")


async def buy_slices(step: BuybackStep, state: EpochState) -> None:
    """Buy every slice still scheduled, in order; the others were bought or skipped before."""
    while (current := next_slice(state.slices)) is not None:
        await _buy_slice(step, state, current)


def _last_intent(state: EpochState, slice_: SliceRecord) -> IntentRecord | None:
    if not slice_.signatures:
        return None
    last = slice_.signatures[-1]
    return next(r for r in state.swap_intents if r.signature == last)


async def _buy_slice(step: BuybackStep, state: EpochState, slice_: SliceRecord) -> None:
    while True:
        record = _last_intent(state, slice_)
        if record is not None and record.status == IntentStatus.PENDING:
            record = await step.journal.land(state, record)
        if record is not None and record.status == LandingStatus.CONFIRMED:
            _count(step, state, slice_, record)
            return
        if record is None:
            await _wait_for(step, state, slice_)
        else:
            _give_up_after_attempts(step, slice_, record)
            # Expired (provably never executed) or failed on-chain: a fresh quote and a fresh
            # signature are safe once the balances agree.
            await step.journal.before_resign(state, record)
            log.info("buyback.retry", epoch_id=state.id, slice=slice_.index, previous=record.status)
        quote = await step.sized_quote(state, slice_.planned_lamports)
        minimum = step.policy.allocation.min_buyback_lamports
        if quote is None:
            _skip(step, state, slice_, "no amount of it fits MAX_PRICE_IMPACT_BPS")
            return
        if quote.in_lamports < minimum:
            note = under_minimum("slice within MAX_PRICE_IMPACT_BPS", quote.in_lamports, minimum)
            _skip(step, state, slice_, note)
            return
        if not await step.prepare_swap(state, quote, slice_):
            _skip(step, state, slice_, "no amount could be quoted within the limits")
            return


async def _wait_for(step: BuybackStep, state: EpochState, slice_: SliceRecord) -> None:
    """Sleep until the slice's time; a cancellation (SIGTERM) leaves the schedule journaled."""
    delay = max(0.0, (slice_.at - step.clock()).total_seconds())
    log.info("buyback.slice_wait", epoch_id=state.id, slice=slice_.index, seconds=delay)
    # Awaited even at 0 s: every slice yields here, the one point between slices.
    await step.sleep(delay)


def _give_up_after_attempts(step: BuybackStep, slice_: SliceRecord, record: IntentRecord) -> None:
    if len(slice_.signatures) < step.policy.max_swap_attempts:
        return
    what = (
        f"buyback slice {slice_.index} did not land after {len(slice_.signatures)} attempts"
        f" (last: {record.status}{': ' + record.error if record.error else ''})"
    )
    if record.status == LandingStatus.FAILED and is_onchain_slippage(record.error):
        raise SlippageExceeded(f"Slippage exceeds maximum: {what}")
    raise OperationalError(what)


def _skip(step: BuybackStep, state: EpochState, slice_: SliceRecord, note: str) -> None:
    """Nothing bought for this slice: its lamports are not spent and carry."""
    slice_.status, slice_.note = SliceStatus.SKIPPED, note
    step.journal.store.save_epoch(state)
    log.info("buyback.slice_skipped", epoch_id=state.id, slice=slice_.index, note=note)


def _count(step: BuybackStep, state: EpochState, slice_: SliceRecord, record: IntentRecord) -> None:
    """The landed slice into the epoch's totals, saved with its status in one write."""
    quote = slice_.quote
    assert quote is not None, "a slice's swap is journaled with its quote"
    # The landing shows the executor's net change: what the swap gave less our burn.
    out = record.token_delta + slice_.burn_planned
    slice_.lamports_in, slice_.tokens_out = quote.in_lamports, out
    slice_.minimum = our_min_out(quote.out_amount, step.policy.max_slippage_bps)
    slice_.status = SliceStatus.DONE
    state.buyback_spent_lamports += quote.in_lamports
    state.tokens_bought += out
    state.tokens_settled_in_swap += slice_.burn_planned
    # Burnt on landing: settled now, so a window that fails later carries only what is left.
    state.tokens_settled += slice_.burn_planned
    step.journal.store.save_epoch(state)
    log.info(
        "buyback.slice_done",
        epoch_id=state.id,
        slice=slice_.index,
        lamports_in=quote.in_lamports,
        tokens_out=out,
        signature=record.signature,
    )
    check_delivery(quote, out, step.policy.max_slippage_bps)
