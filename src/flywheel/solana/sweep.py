"""Emptying the executor into another wallet (runbook: compromised executor, key rotation).

Two transactions: first every token the executor holds (SPL Token and Token-2022) goes to the
new wallet's associated token accounts, and emptied SPL accounts are closed so their rent comes
back; then all SOL but the fee. Each transaction is journaled as an intent (the intent journal's
record, in the state database under key `wallet.sweep`) before it is first sent and landed with
the same bytes until confirmed or provably expired, so running the sweep again after a crash never
sends anything twice.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field, ValidationError
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from spl.token.constants import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID
from spl.token.instructions import (
    close_account,
    create_idempotent_associated_token_account,
    get_associated_token_address,
    transfer_checked,
)
from spl.token.models import CloseAccountParams, TransferCheckedParams

from flywheel.anchoring import standing_memo
from flywheel.domain.epoch_state import IntentRecord, IntentStatus
from flywheel.domain.fees import ReceiptStatus, screen
from flywheel.domain.trade import Landing, LandingStatus, PreparedTx, TxKind
from flywheel.errors import OperationalError, StateError
from flywheel.intent_journal import with_landing
from flywheel.persistence.ownership import SWEEP_JOURNAL_KEY
from flywheel.persistence.store import FEE_CURSOR_KEY, SqliteStore
from flywheel.solana.fee_source import START_OF_HISTORY, WalletWatcherFeeSource
from flywheel.solana.guard import LAMPORTS_PER_SIGNATURE
from flywheel.solana.memo import memo_instruction
from flywheel.solana.rpc import RpcClient
from flywheel.solana.sender import Sender, prepared_tx
from flywheel.solana.settle import parse_mint, signed_transaction
from flywheel.solana.tokens import token_snapshot

if TYPE_CHECKING:
    from flywheel.config.settings import Settings

JOURNAL_KEY = SWEEP_JOURNAL_KEY
PENDING_ROTATION_KEY = "wallet.sweep.rotation"
TOKENS_PER_TRANSACTION = 8  # keeps one transaction well under the size and compute limits


@dataclass(frozen=True)
class TokenHolding:
    account: Pubkey
    mint: Pubkey
    program: Pubkey
    amount: int
    decimals: int


@dataclass(frozen=True)
class SweepPlan:
    target: Pubkey
    sol_lamports: int
    tokens: list[TokenHolding]


class SweepIntent(IntentRecord):
    """The intent journal's record of one sweep transaction, with the bytes it is re-sent as."""

    raw: str  # base64 of the signed transaction

    def prepared(self) -> PreparedTx:
        return PreparedTx(
            kind=TxKind(self.kind),
            signature=self.signature,
            raw=base64.b64decode(self.raw),
            last_valid_block_height=self.last_valid_block_height,
        )


class SweepJournalState(BaseModel):
    target: str | None = None
    intents: list[SweepIntent] = Field(default_factory=list)


class SweepJournal:
    """The sweep's intents: the intent journal's records and landing rules (an intent is
    journaled before it is sent and settled from its Landing), kept in the state database's meta
    table under JOURNAL_KEY because a sweep belongs to no epoch."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store

    def load(self) -> SweepJournalState:
        text = self.store.get_meta(JOURNAL_KEY)
        if text is None:
            return SweepJournalState()
        try:
            return SweepJournalState.model_validate_json(text)
        except ValidationError as exc:
            # Never guess past it: a pending sweep transaction may be in there.
            raise StateError(
                f"the sweep journal (meta key {JOURNAL_KEY!r}) is unreadable "
                f"({exc.error_count()} problems); restore the state database from a backup"
            ) from None

    def save(self, journal: SweepJournalState) -> None:
        self.store.set_meta(JOURNAL_KEY, journal.model_dump_json())

    def record(self, target: Pubkey, tx: PreparedTx) -> None:
        journal = self.load()
        journal.target = str(target)
        journal.intents.append(
            SweepIntent(
                kind=tx.kind.value,
                signature=tx.signature,
                raw=base64.b64encode(tx.raw).decode(),
                last_valid_block_height=tx.last_valid_block_height,
            )
        )
        self.save(journal)

    def settle(self, landing: Landing) -> None:
        journal = self.load()
        journal.intents = [
            with_landing(i, landing) if i.signature == landing.signature else i
            for i in journal.intents
        ]
        self.save(journal)

    def pending(self) -> list[PreparedTx]:
        return [i.prepared() for i in self.load().intents if i.status == IntentStatus.PENDING]


class Sweeper:
    def __init__(
        self, rpc: RpcClient, keypair: Keypair, store: SqliteStore, sender: Sender
    ) -> None:
        self.rpc = rpc
        self.keypair = keypair
        self.owner = keypair.pubkey()
        self.store = store
        self.journal = SweepJournal(store)
        self.sender = sender

    async def plan(self, target: Pubkey) -> SweepPlan:
        if target == self.owner:
            raise OperationalError("the new wallet is the executor itself: nothing to sweep")
        tokens: list[TokenHolding] = []
        for program in (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID):
            for keyed in await self.rpc.get_token_accounts_by_owner(self.owner, program_id=program):
                held = token_snapshot(keyed.account)
                if held is None:
                    continue
                mint = parse_mint(held.mint, await self.rpc.get_account_info(held.mint))
                tokens.append(
                    TokenHolding(keyed.pubkey, held.mint, program, held.amount, mint.decimals)
                )
        return SweepPlan(target, await self.rpc.get_balance(self.owner), tokens)

    async def finish_pending(self) -> list[Landing]:
        """Land what an interrupted sweep journaled, with the same bytes."""
        landings = []
        for tx in self.journal.pending():
            landing = await self.sender.land(tx)
            self.journal.settle(landing)
            landings.append(landing)
        return landings

    async def sweep(self, target: Pubkey) -> list[Landing]:
        journal = self.journal.load()
        if journal.target not in (None, str(target)) and self.journal.pending():
            raise OperationalError(
                f"an interrupted sweep to {journal.target} is pending; run it again with "
                "that --to first"
            )
        landings = await self.finish_pending()
        plan = await self.plan(target)
        for start in range(0, len(plan.tokens), TOKENS_PER_TRANSACTION):
            batch = plan.tokens[start : start + TOKENS_PER_TRANSACTION]
            if not any(h.amount > 0 or h.program == TOKEN_PROGRAM_ID for h in batch):
                continue
            landings.append(
                await self._send(target, TxKind.TRANSFER, self._token_ixs(target, batch))
            )
        balance = await self.rpc.get_balance(self.owner)
        if balance > LAMPORTS_PER_SIGNATURE:
            ixs = [
                transfer(
                    TransferParams(
                        from_pubkey=self.owner,
                        to_pubkey=target,
                        lamports=balance - LAMPORTS_PER_SIGNATURE,
                    )
                )
            ]
            landings.append(await self._send(target, TxKind.TRANSFER, ixs))
        return landings

    def _token_ixs(self, target: Pubkey, batch: list[TokenHolding]) -> list[Any]:
        ixs: list[Any] = []
        for holding in batch:
            if holding.amount > 0:
                destination = get_associated_token_address(target, holding.mint, holding.program)
                ixs.append(
                    create_idempotent_associated_token_account(
                        self.owner, target, holding.mint, token_program_id=holding.program
                    )
                )
                ixs.append(
                    transfer_checked(
                        TransferCheckedParams(
                            program_id=holding.program,
                            source=holding.account,
                            mint=holding.mint,
                            dest=destination,
                            owner=self.owner,
                            amount=holding.amount,
                            decimals=holding.decimals,
                            signers=[],
                        )
                    )
                )
            if holding.program == TOKEN_PROGRAM_ID:
                # Token-2022 accounts may hold withheld transfer fees and then refuse to close;
                # their rent stays. SPL accounts close and their rent joins the SOL sweep.
                ixs.append(
                    close_account(
                        CloseAccountParams(
                            program_id=holding.program,
                            account=holding.account,
                            dest=self.owner,
                            owner=self.owner,
                            signers=[],
                        )
                    )
                )
        return ixs

    async def _send(self, target: Pubkey, kind: TxKind, ixs: list[Any]) -> Landing:
        ixs = [*ixs, memo_instruction(standing_memo(self.store, "sweep"), self.owner)]
        min_slot = await self.rpc.finalized_slot()
        blockhash, last_valid = await self.rpc.get_latest_blockhash()
        signed = signed_transaction(self.keypair, ixs, blockhash)
        tx = prepared_tx(kind, signed, last_valid, min_slot)
        self.journal.record(target, tx)  # journaled before it can ever be sent
        landing = await self.sender.land(tx)
        self.journal.settle(landing)
        if landing.status is not LandingStatus.CONFIRMED:
            raise OperationalError(
                f"sweep transaction {tx.signature} {landing.status.value}"
                f"{': ' + landing.error if landing.error else ''}; run the sweep again"
            )
        return landing


async def newest_signature(rpc: RpcClient, address: Pubkey) -> str:
    """Where `address`'s history ends now: a fee cursor that counts nothing older."""
    page = await rpc.get_signatures_for_address(address, limit=1)
    return str(page[0].signature) if page else START_OF_HISTORY


async def prepare_rotation(rpc: RpcClient, store: SqliteStore, new: Pubkey) -> None:
    """The executor is the fee collector: before the sweep, remember where the new wallet's
    history ends, so the sweep itself is examined there (an internal transfer, never a fee)."""
    cursor = await newest_signature(rpc, new)
    store.set_meta(PENDING_ROTATION_KEY, json.dumps({"to": str(new), "cursor": cursor}))


async def finish_rotation(
    settings: Settings, rpc: RpcClient, store: SqliteStore, old: Pubkey, own: frozenset[str]
) -> str | None:
    """After the sweep landed: the state follows it to the new wallet; its address, if any.

    Whatever reached the old wallet since the last detection is detected first (the sweep
    moved it to the new wallet, so it is still owed); then the state is bound to the new
    wallet, with the cursor taken before the sweep."""
    text = store.get_meta(PENDING_ROTATION_KEY)
    if text is None:
        return None
    pending = json.loads(text)
    source = WalletWatcherFeeSource(
        rpc, fee_collector=old, executor=old, start=settings.fee_start, own_addresses=own
    )
    batch = await source.fetch_new(store.fee_cursor())
    available, quarantined = screen(
        batch.receipts,
        max_single_lamports=settings.max_single_fee_lamports,
        max_per_epoch_lamports=settings.max_fees_per_epoch_lamports,
    )
    with store.transaction():
        store.add_receipts(available, ReceiptStatus.AVAILABLE, None)
        store.add_receipts(quarantined, ReceiptStatus.QUARANTINED, None)
        store.add_internal_transfers(batch.internal, None)
        store.bind(collector=str(pending["to"]))
        store.set_meta(FEE_CURSOR_KEY, str(pending["cursor"]))
        store.delete_meta(PENDING_ROTATION_KEY)
    return str(pending["to"])
