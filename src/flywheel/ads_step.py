"""The ads step: this epoch's ads share accrues in the ledger; a campaign once it is enough.

The share is booked (accrued, in micro-USD at the epoch's SOL price) in the same database
transaction that records it as reserved, so it is never carried as well. With ADS_TREASURY_PUBKEY it
is then sent there exactly once. A campaign is made when the ledger's available budget reaches
ADS_MIN_BUDGET_USD, and committed in the ledger with the engine's outcome; a resumed epoch that
already committed one makes no second. A dry-run plan commits nothing: the budget keeps accruing
and each plan shows the whole of it, what a campaign made now would have.
"""

from __future__ import annotations

from collections.abc import Awaitable
from decimal import Decimal

from flywheel.anchoring import TxMemos
from flywheel.domain.ads import AdsOutcome, AdsStatus, CampaignSpec, usd_display
from flywheel.domain.epoch_state import EpochState
from flywheel.domain.money import lamports_to_micro_usd
from flywheel.domain.policy import EpochPolicy
from flywheel.domain.trade import PreparedTx
from flywheel.intent_journal import IntentJournal
from flywheel.ports import AdsEngine, Store, Wallet


class AdsStep:
    def __init__(
        self,
        store: Store,
        wallet: Wallet,
        ads: AdsEngine,
        journal: IntentJournal,
        policy: EpochPolicy,
        memos: TxMemos | None = None,
    ) -> None:
        self.memos = memos
        self.store = store
        self.wallet = wallet
        self.ads = ads
        self.journal = journal
        self.policy = policy

    async def run(self, state: EpochState) -> None:
        """Accrue this epoch's ads budget in the ledger; make a campaign once it is enough."""
        if self.store.has_ads_entry(state.id, "committed") and state.ads is not None:
            return  # resumed after the campaign was made and committed
        # The epoch's ads share of the SOL, plus what the sale of the ads tokens brought.
        lamports = state.ads_planned_lamports + state.ads_sale_lamports
        if lamports > 0 and state.sol_usd_price is not None:
            micro = lamports_to_micro_usd(lamports, Decimal(state.sol_usd_price))
            with self.store.transaction():
                if not self.store.has_ads_entry(state.id, "accrued"):
                    self.store.add_ads_entry(state.id, "accrued", micro, lamports)
                # From here the SOL is the ads reserve (in the executor or the ads treasury):
                # accounted for by the ledger, not carried, whatever the engine does next.
                # (The sale's SOL never was the epoch's input: not in the SOL identity.)
                state.ads_reserved_lamports = state.ads_planned_lamports
                self.store.save_epoch(state)
            if self.policy.ads_treasury is not None:
                await self._send_ads_share(state, lamports, self.policy.ads_treasury)
        # Budget accrued by earlier epochs (or kept after a failed launch) counts too, so it
        # does not wait for an epoch that has an ads share of its own.
        available = self.store.ads_available_micro_usd()
        if available <= 0:
            state.ads = AdsOutcome(status=AdsStatus.SKIPPED)
            return
        if available < self.policy.ads_min_budget_micro_usd:
            state.ads = AdsOutcome(
                status=AdsStatus.ACCRUED,
                detail={
                    "available_micro_usd": available,
                    "min_budget_micro_usd": self.policy.ads_min_budget_micro_usd,
                },
            )
            return
        spec = CampaignSpec(
            budget_usd=usd_display(available),
            budget_micro_usd=available,
            duration_hours=self.policy.ads_duration_hours,
            targeting=self.policy.ads_targeting,
            post_id=self.policy.ads_post_id,
            objective=self.policy.ads_objective,
        )
        outcome = await self.ads.run(state.id, spec)
        with self.store.transaction():
            state.ads = outcome
            # A dry-run plan (planned) shows what would launch and commits nothing: the budget
            # keeps accruing, as it would until a campaign is really made.
            planned = outcome.status is AdsStatus.PLANNED
            if not planned and not self.store.has_ads_entry(state.id, "committed"):
                self.store.add_ads_entry(
                    state.id,
                    "committed",
                    available,
                    0,
                    campaign_id=outcome.campaign_id,
                    note=f"{self.ads.mode}: {outcome.status.value}",
                )
            self.store.save_epoch(state)

    async def _send_ads_share(self, state: EpochState, lamports: int, to: str) -> None:
        def prepare() -> Awaitable[PreparedTx]:
            memo = None
            if self.memos is not None:  # landed, the SOL leaves the executor's ads reserve
                memo = self.memos.for_tx(state, "ads-transfer", reserve_leaves=lamports)
            return self.wallet.prepare_sol_transfer(lamports, to, memo)

        await self.journal.land_once(
            state,
            "ads_transfer",
            prepare,
            max_attempts=self.policy.max_settle_attempts,
            what=f"sending the ads share to {to}",
            then="it stays in the executor as the ads reserve",
        )
