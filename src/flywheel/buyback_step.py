"""The buyback steps: quote → guard → send → settle, each resumable from the epoch's journal.

quote sizes the buy to MAX_PRICE_IMPACT_BPS and carries it whole when that leaves less than
MIN_BUYBACK_SOL. guard builds the swap, has the wallet check and sign it, and journals it as an
intent before it can ever be sent; a stale or slipped build is quoted afresh (nothing was
signed). send lands the journaled swap exactly once; one that provably did not execute is
quoted and signed afresh, at most `max_swap_attempts` times, and what it delivered is checked
against the quote. settle burns (or sends) what was bought plus what earlier epochs could not
settle, unless the swap burnt it in its own transaction.

With BUYBACK_SLICES > 1, quote journals the slices' schedule instead (`domain.slices`) and send
buys them one by one inside the window (`buyback_slices`), each quoted, guarded, journaled,
landed exactly once and counted on its own.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import structlog

from flywheel.anchoring import TxMemos
from flywheel.buyback_slices import buy_slices
from flywheel.domain.allocation import under_minimum
from flywheel.domain.epoch_state import EpochState
from flywheel.domain.impact import largest_within_impact
from flywheel.domain.policy import EpochPolicy
from flywheel.domain.slices import SliceRecord, plan_slices, slice_count
from flywheel.domain.trade import (
    Destination,
    LandingStatus,
    PreparedTx,
    Quote,
    check_delivery,
    check_quote,
    is_onchain_slippage,
)
from flywheel.errors import OperationalError, SlippageExceeded, StaleTransaction
from flywheel.intent_journal import IntentJournal
from flywheel.ports import Dex, SwapAndBurnDex, Wallet

# The epoch's own logger: these are the epoch's events, as they were before the steps moved.
log = structlog.get_logger("flywheel.epoch")


Sleep = Callable[[float], Awaitable[None]]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class BuybackStep:
    def __init__(
        self,
        dex: Dex,
        wallet: Wallet,
        journal: IntentJournal,
        policy: EpochPolicy,
        memos: TxMemos | None = None,
        *,
        clock: Callable[[], datetime] = _utc_now,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.memos = memos
        self.dex = dex
        self.wallet = wallet
        self.journal = journal
        self.policy = policy
        # The window's clock and its wait between slices (a cancellation ends the wait: the
        # service's SIGTERM path); injectable so tests run a window of a second.
        self.clock = clock
        self.sleep = sleep

    async def quote(self, state: EpochState) -> None:
        if state.buyback_planned_lamports <= 0:
            return
        if self._plan_slices(state):
            return
        quote = await self.sized_quote(state, state.buyback_planned_lamports)
        minimum = self.policy.allocation.min_buyback_lamports
        if quote is not None and quote.in_lamports < minimum:
            # Sized down to the impact limit, it no longer justifies its fees: carried whole.
            note = under_minimum("buyback within MAX_PRICE_IMPACT_BPS", quote.in_lamports, minimum)
            state.allocation_note = "; ".join(filter(None, [state.allocation_note, note]))
            quote = None
        state.quote = quote

    def _plan_slices(self, state: EpochState) -> bool:
        """Journal the slices' schedule (saved with this step, before the first slice)."""
        if state.slices:
            return True  # a resumed quote step keeps the schedule it journaled
        count = slice_count(
            state.buyback_planned_lamports,
            self.policy.buyback_slices,
            self.policy.allocation.min_buyback_lamports,
        )
        if count <= 1:
            return False  # one slice is today's one-shot buyback, unchanged
        state.slices = plan_slices(
            state.buyback_planned_lamports,
            count,
            start=self.clock(),
            window_seconds=self.policy.buyback_window_seconds,
        )
        log.info(
            "buyback.window",
            epoch_id=state.id,
            slices=count,
            first=state.slices[0].at.isoformat(),
            last=state.slices[-1].at.isoformat(),
        )
        return True

    async def sized_quote(self, state: EpochState, in_lamports: int) -> Quote | None:
        state.quote_attempts += 1
        first = await self._checked_quote(in_lamports)
        limit = self.policy.max_price_impact_bps
        if first.price_impact_bps <= limit:
            return first
        log.warning(
            "Price impact exceeds maximum",
            epoch_id=state.id,
            price_impact_bps=first.price_impact_bps,
            max_price_impact_bps=limit,
            in_lamports=in_lamports,
        )
        state.price_impact_limited = True
        return await largest_within_impact(first, self._checked_quote, max_impact_bps=limit)

    async def _checked_quote(self, in_lamports: int) -> Quote:
        """A quote that is the one we asked for, with a threshold no looser than our own."""
        quote = await self.dex.quote(in_lamports)
        check_quote(
            quote, asked_lamports=in_lamports, max_slippage_bps=self.policy.max_slippage_bps
        )
        return quote

    async def guard(self, state: EpochState) -> None:
        if state.slices:
            return  # each slice is guarded when its time comes, in the send step
        if state.quote is None or state.swap_intents:
            return  # an intent already journaled (crash after it) is the send step's to land
        await self.prepare_swap(state, state.quote)

    async def prepare_swap(
        self, state: EpochState, quote: Quote, slice_: SliceRecord | None = None
    ) -> bool:
        """Build, guard, sign and journal a swap; False when no amount can be quoted any more.

        For a slice, the slice records the quote, the burn and the signature, journaled with
        the intent in one database transaction."""
        for attempt in range(1, self.policy.max_swap_attempts + 1):
            burn = self._burn_in_swap(state, quote)
            try:
                prepared = await self._guarded_swap(state, quote, burn)
                break
            except (StaleTransaction, SlippageExceeded) as exc:
                # Nothing was signed; a fresh quote builds a fresh transaction. A price that
                # moved past MAX_SLIPPAGE_BPS is the market, not an attack: never GuardRefused.
                slipped = isinstance(exc, SlippageExceeded)
                if slipped:
                    log.warning("Slippage exceeds maximum", epoch_id=state.id, attempt=attempt)
                if attempt == self.policy.max_swap_attempts and slipped:
                    raise SlippageExceeded(
                        f"{exc} (still after {attempt} quotes); nothing was signed and the "
                        "spend is carried to the next epoch"
                    ) from exc
                if attempt == self.policy.max_swap_attempts:
                    raise
                log.info("buyback.stale_swap", epoch_id=state.id, attempt=attempt)
                fresh = await self.sized_quote(state, quote.in_lamports)
                if fresh is None:
                    if slice_ is None:
                        state.quote = None
                    return False
                quote = fresh
        if slice_ is None:
            state.quote = quote
            state.swap_burn_planned = burn
        else:
            # Its figures, not the API's raw answer (the swap is built): the journal stays small.
            slice_.quote, slice_.burn_planned = dataclasses.replace(quote, raw={}), burn
            slice_.signatures.append(prepared.signature)
        # Journaled before it can ever be sent: a crash after this line is reconciled.
        self.journal.record(state, prepared, "swap")
        return True

    def _burn_in_swap(self, state: EpochState, quote: Quote) -> int:
        """The burn the swap carries: the tokens it guarantees plus those carried in (v2 only)."""
        if Destination(state.destination) is not Destination.BURN:
            return 0
        if not isinstance(self.dex, SwapAndBurnDex):
            return 0
        # The tokens carried in go with the first swap that burns (a slice's, or the only one).
        carried = state.tokens_carried_in if state.tokens_settled_in_swap == 0 else 0
        return carried + quote.min_out_amount

    async def _guarded_swap(self, state: EpochState, quote: Quote, burn: int) -> PreparedTx:
        # The memo goes in only where we compose the transaction (v2); a v1 swap is Jupiter's
        # as built, and the epoch's closing anchor witnesses it (docs/state.md).
        composed = isinstance(self.dex, SwapAndBurnDex)
        memo = None
        if composed and self.memos is not None:
            memo = self.memos.for_tx(state, "swap", spends=quote.in_lamports)
        if burn > 0 or memo is not None:
            assert isinstance(self.dex, SwapAndBurnDex)
            unsigned = await self.dex.swap_and_burn_transaction(quote, burn, memo)
            return await self.wallet.prepare_swap(unsigned, quote, burn_amount=burn)
        unsigned = await self.dex.swap_transaction(quote)
        return await self.wallet.prepare_swap(unsigned, quote)

    async def send(self, state: EpochState) -> None:
        if state.slices:
            await buy_slices(self, state)
            return
        while state.swap_intents:
            current = state.swap_intents[-1]
            if current.status == "pending":
                current = await self.journal.land(state, current)
            if current.status == LandingStatus.CONFIRMED:
                assert state.quote is not None
                state.buyback_spent_lamports = state.quote.in_lamports
                # The landing shows the executor's net change: what the swap gave less our burn.
                state.tokens_settled_in_swap = state.swap_burn_planned
                # Burnt on landing: settled even if the delivery check below fails the epoch.
                state.tokens_settled = state.swap_burn_planned
                state.tokens_bought = current.token_delta + state.swap_burn_planned
                check_delivery(state.quote, state.tokens_bought, self.policy.max_slippage_bps)
                return
            if len(state.swap_intents) >= self.policy.max_swap_attempts:
                what = (
                    f"buyback swap did not land after {len(state.swap_intents)} attempts"
                    f" (last: {current.status}{': ' + current.error if current.error else ''})"
                )
                if current.status == LandingStatus.FAILED and is_onchain_slippage(current.error):
                    # The market kept moving past MAX_SLIPPAGE_BPS: temporary, the spend carries.
                    raise SlippageExceeded(f"Slippage exceeds maximum: {what}")
                raise OperationalError(what)
            # Expired (provably never executed) or failed on-chain (only the fee was paid):
            # a fresh quote and a fresh signature are now safe, once the balances agree.
            await self.journal.before_resign(state, current)
            log.info("buyback.retry", epoch_id=state.id, previous=current.status)
            quote = await self.sized_quote(state, state.buyback_planned_lamports)
            if quote is None or not await self.prepare_swap(state, quote):
                state.quote = None
                return

    async def settle(self, state: EpochState) -> None:
        """Burn (or send) what this epoch bought plus what earlier epochs could not settle."""
        destination = Destination(state.destination)
        if state.tokens_settled_in_swap > 0:
            # Burnt in the swap's own transaction; the rest goes with the next one.
            state.tokens_settled = state.tokens_settled_in_swap
            return
        amount = state.tokens_to_settle
        if amount <= 0:
            return
        if destination is not Destination.HOLD:
            await self.journal.land_once(
                state,
                "settle",
                lambda: self.wallet.prepare_settle(amount, destination, self._settle_memo(state)),
                max_attempts=self.policy.max_settle_attempts,
                what=f"settling {amount} tokens ({destination.value})",
                then="they stay in the executor and the next epoch settles them",
            )
        state.tokens_settled = amount

    def _settle_memo(self, state: EpochState) -> str | None:
        if self.memos is None:
            return None
        kind = "burn" if Destination(state.destination) is Destination.BURN else "transfer"
        return self.memos.for_tx(state, kind)
