"""The ads.sell step: the ads share of fee tokens (token2022) sold for SOL, exactly once.

Fees in the token: the claim step settles BUYBACK_PERCENT of them and keeps the ADS_PERCENT
share in the executor. This step sells that share (and whatever earlier epochs kept) through the
guarded DEX path in the other direction, before the ads step, so the SOL becomes ads budget:
the ads step books it in the ads ledger (micro-USD at the epoch's SOL price) with the epoch's
own ads share, as the ads reserve.

Quoted, checked against our own minimum (outAmount less min(MAX_SLIPPAGE_BPS,
SLIPPAGE_MARGIN_BPS)), guarded, journaled as an intent before it can ever be sent, landed
exactly once, and counted from the confirmed transaction's own balances (tokens out, SOL in
net of its fee). A sale that provably did not
execute (expired, failed) is quoted and signed afresh, at most `max_swap_attempts` times (as
the buyback's swap). Worth less than MIN_CLAIM_SOL, or with no SOL price, the tokens keep
carrying. A rehearsal (simulate) quotes and guards the sale and sends nothing.
"""

from __future__ import annotations

import structlog

from flywheel.anchoring import TxMemos
from flywheel.domain.epoch_state import EpochMode, EpochState, IntentRecord
from flywheel.domain.policy import EpochPolicy
from flywheel.domain.sale import check_sell_quote
from flywheel.domain.trade import LandingStatus, PreparedTx
from flywheel.errors import OperationalError, SlippageExceeded, StaleTransaction
from flywheel.intent_journal import NOT_EXECUTED, IntentJournal
from flywheel.ports import Store, TokenSeller

log = structlog.get_logger("flywheel.epoch")


class SellStep:
    def __init__(
        self,
        store: Store,
        seller: TokenSeller | None,
        journal: IntentJournal,
        policy: EpochPolicy,
        mode: EpochMode = EpochMode.LIVE,
        memos: TxMemos | None = None,
    ) -> None:
        self.memos = memos
        self.store = store
        self.seller = seller
        self.journal = journal
        self.policy = policy
        self.simulate = mode is EpochMode.SIMULATE

    async def run(self, state: EpochState) -> None:
        if self.seller is None:
            return
        while True:
            record = state.sell_intents[-1] if state.sell_intents else None
            if record is not None and record.status == "pending":
                record = await self.journal.land(state, record)
            if record is not None and record.status == LandingStatus.CONFIRMED:
                self._count(state, record)
                return
            if record is not None and record.status not in NOT_EXECUTED:
                return
            if len(state.sell_intents) >= self.policy.max_swap_attempts:
                last = "" if record is None else f" (last: {record.status} {record.error})"
                raise OperationalError(
                    f"the sale of the ads tokens did not land after {len(state.sell_intents)}"
                    f" attempts{last}; the tokens stay in the executor for the next epoch"
                )
            # Only a sale that provably did not execute (or none yet) is prepared afresh.
            await self.journal.before_resign(state, record)
            prepared = await self._prepare(state, self.seller)
            if prepared is None:
                return
            self.journal.record(state, prepared, "sell")

    async def _prepare(self, state: EpochState, seller: TokenSeller) -> PreparedTx | None:
        """A guarded, signed sale of the ads tokens; None when they keep carrying."""
        amount = state.ads_tokens_for_sale
        if amount <= 0:
            return None
        if state.sol_usd_price is None:
            # The SOL could not be booked as ads budget: the tokens wait for a price.
            self._waits(state, f"{amount} ads tokens not sold: no SOL price this epoch")
            return None
        for attempt in range(1, self.policy.max_swap_attempts + 1):
            quote = await seller.quote_sell(amount)
            ours = check_sell_quote(
                quote, asked_tokens=amount, max_slippage_bps=self.policy.max_slippage_bps
            )
            minimum = self.policy.min_claim_lamports
            if quote.out_lamports < minimum:
                self._waits(
                    state,
                    f"{amount} ads tokens would sell for {quote.out_lamports} lamports, below"
                    f" MIN_CLAIM_SOL ({minimum}); they carry",
                )
                return None
            try:
                memo = None
                if self.memos is not None:  # landed, the tokens leave the ads share
                    memo = self.memos.for_tx(state, "sell", ads_tokens_sold=amount)
                prepared, sol_change = await seller.prepare_sell(quote, memo)
            except (StaleTransaction, SlippageExceeded) as exc:
                # Nothing was signed: a fresh quote builds a fresh sale.
                log.info("sell.requote", epoch_id=state.id, attempt=attempt, reason=str(exc))
                if attempt == self.policy.max_swap_attempts:
                    raise
                continue
            state.sell_quote, state.sell_min_lamports = quote, ours
            if self.simulate:
                # Planned, not sent: the rehearsal shows what the live epoch would sell.
                state.ads_tokens_sold, state.ads_sale_lamports = amount, max(sol_change, 0)
                state.sell_notes.append("simulated: the sale was guarded, not sent")
                return None
            return prepared
        return None  # unreachable: the last attempt returns or raises

    def _waits(self, state: EpochState, note: str) -> None:
        state.sell_notes.append(note)
        log.info("sell.waits", epoch_id=state.id, note=note)

    def _count(self, state: EpochState, record: IntentRecord) -> None:
        """What the confirmed sale's own balances show: tokens out, SOL in net of its fee."""
        if state.sale_signature == record.signature:
            return
        with self.store.transaction():
            state.sale_signature = record.signature
            state.ads_tokens_sold = max(-record.token_delta, 0)
            state.ads_sale_lamports = max(record.sol_delta, 0)
            self.store.save_epoch(state)
        received = record.sol_delta + record.fee_lamports
        if received < state.sell_min_lamports:
            # Landed: the SOL is ours and counted; the route is what needs a look.
            state.sell_notes.append(
                f"the sale paid {received} lamports, less than our minimum"
                f" {state.sell_min_lamports}: investigate the route"
            )
        log.info(
            "sell.counted",
            epoch_id=state.id,
            signature=record.signature,
            tokens_sold=state.ads_tokens_sold,
            lamports=state.ads_sale_lamports,
        )
