"""The claim step: fees that wait in a vault until a transaction of ours moves them out.

For each claim source (FEE_SOURCES other than wallet) the claim is prepared only when it is
worth at least MIN_CLAIM_SOL, journaled as an intent before it is ever sent, landed through the
exactly-once sender, and counted from the confirmed transaction's own balances (its signature is
recorded as counted in the same database transaction), so a crash at any point neither counts a
claim twice nor loses one. A claim that provably did not execute (expired, failed) is prepared
afresh, at most `max_claim_attempts` times.

Fees in the token (token2022): BUYBACK_PERCENT of them are settled like bought tokens, without
a swap; the ads share stays in the executor until the ads.sell step (sell_step) sells it for SOL.
"""

from __future__ import annotations

import structlog

from flywheel.anchoring import TxMemos
from flywheel.domain.epoch_state import EpochState, IntentRecord
from flywheel.domain.policy import EpochPolicy
from flywheel.domain.trade import LandingStatus
from flywheel.errors import OperationalError
from flywheel.intent_journal import NOT_EXECUTED, IntentJournal
from flywheel.ports import Dex, FeeClaimer, Store

log = structlog.get_logger("flywheel.claim")


class ClaimStep:
    def __init__(
        self,
        store: Store,
        dex: Dex,
        journal: IntentJournal,
        policy: EpochPolicy,
        claimers: tuple[FeeClaimer, ...],
        memos: TxMemos | None = None,
    ) -> None:
        self.memos = memos
        self.store = store
        self.dex = dex
        self.journal = journal
        self.policy = policy
        self.claimers = claimers

    async def run(self, state: EpochState) -> None:
        for claimer in self.claimers:
            await self._claim_one(state, claimer)

    async def _claim_one(self, state: EpochState, claimer: FeeClaimer) -> None:
        while True:
            mine = [
                r
                for r in state.claim_intents
                if state.claim_sources.get(r.signature) == claimer.name
            ]
            record = mine[-1] if mine else None
            if record is not None and record.status == "pending":
                record = await self.journal.land(state, record)
            if record is not None and record.status == LandingStatus.CONFIRMED:
                self._count_claim(state, claimer, record)
                return
            if record is not None and record.status not in NOT_EXECUTED:
                return
            if len(mine) >= self.policy.max_claim_attempts:
                last = "" if record is None else f" (last: {record.status} {record.error})"
                raise OperationalError(
                    f"the {claimer.name} claim did not land after {len(mine)} attempts{last};"
                    " the fees stay in the vault for the next epoch"
                )
            # Only a claim that provably did not execute (or none yet) is prepared afresh.
            if not await self._claim_worth_it(state, claimer):
                return
            memo = None if self.memos is None else self.memos.for_tx(state, "claim")
            prepared = await claimer.prepare_claim(memo)
            self.journal.record(state, prepared, "claim", claimer.name)

    async def _claim_worth_it(self, state: EpochState, claimer: FeeClaimer) -> bool:
        amount = await claimer.claimable()
        threshold = self.policy.min_claim_lamports
        if claimer.unit == "tokens" and amount > 0:
            # Tokens are valued at what MIN_CLAIM_SOL would buy of them right now.
            threshold = (await self.dex.quote(threshold)).out_amount
        if amount > 0 and amount >= threshold:
            return True
        note = f"{claimer.name}: {amount} {claimer.unit} claimable, below {threshold}; it waits"
        state.claim_notes.append(note)
        log.info("claim.waits", epoch_id=state.id, source=claimer.name, claimable=amount)
        return False

    def _count_claim(self, state: EpochState, claimer: FeeClaimer, record: IntentRecord) -> None:
        """What the confirmed claim's own balances show arrived, once per signature."""
        if record.signature in state.claim_counted:
            return
        with self.store.transaction():
            state.claim_counted.append(record.signature)
            if claimer.unit == "tokens":
                tokens = max(record.token_delta, 0)
                share = tokens * self.policy.allocation.buyback_percent // 100
                state.fee_tokens_in += tokens
                state.fee_tokens_to_settle += share
                state.fee_tokens_for_ads += tokens - share
            else:
                # The executor pays the claim's fee: what arrived is the change plus the fee.
                arrived = max(record.sol_delta + record.fee_lamports, 0)
                state.fees_in_lamports += arrived
                state.claim_lamports_in += arrived
                state.receipt_signatures.append(record.signature)
            self.store.save_epoch(state)
        log.info(
            "claim.counted",
            epoch_id=state.id,
            source=claimer.name,
            signature=record.signature,
            token_delta=record.token_delta,
            sol_delta=record.sol_delta,
        )
