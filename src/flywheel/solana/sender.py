"""Signing once and landing exactly once.

The protocol (see /work/shared/notes/solana.md): a transaction is signed once, its signature,
bytes, lastValidBlockHeight and the finalized slot before its first send are journaled by the
caller BEFORE the first send, and `land()` then re-sends those same bytes until the signature is
confirmed, or until its expiry is proved. Re-signing is never done here: only a provably
expired transaction may be replaced, and that is the caller's decision.

Expiry is proved, never assumed from a null: a node that has lost (or never had) the history
would answer null for a transaction that landed. The proof needs, in each of `EXPIRY_READINGS`
readings taken at different finalized block heights: the node's history (getFirstAvailableBlock
and minimumLedgerSlot) reaching back to the slot before the first send, getSignatureStatuses
with searchTransactionHistory and getTransaction both finding nothing, and the finalized block
height past lastValidBlockHeight. Anything less raises `ExpiryUnproven`: the intent stays in
flight until a node that can prove it is used.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import structlog
from solders.commitment_config import CommitmentLevel
from solders.keypair import Keypair
from solders.message import to_bytes_versioned
from solders.pubkey import Pubkey
from solders.rpc.config import (
    RpcContextConfig,
    RpcSignatureStatusConfig,
    RpcTransactionConfig,
)
from solders.rpc.requests import (
    GetBlockHeight,
    GetFirstAvailableBlock,
    GetSignatureStatuses,
    GetTransaction,
    MinimumLedgerSlot,
)
from solders.rpc.responses import (
    GetBlockHeightResp,
    GetFirstAvailableBlockResp,
    GetSignatureStatusesResp,
    GetTransactionResp,
    MinimumLedgerSlotResp,
)
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from solders.transaction_status import (
    EncodedConfirmedTransactionWithStatusMeta,
    TransactionConfirmationStatus,
    TransactionStatus,
    UiTransaction,
    UiTransactionEncoding,
    UiTransactionTokenBalance,
)

from flywheel.domain.trade import Landing, LandingStatus, PreparedTx, TxKind
from flywheel.errors import (
    ExpiryUnproven,
    FlywheelError,
    GuardRefused,
    OperationalError,
    TemporaryError,
)
from flywheel.solana.rpc import RpcClient

log = structlog.get_logger(__name__)

_LANDED = (TransactionConfirmationStatus.Confirmed, TransactionConfirmationStatus.Finalized)

EXPIRY_READINGS = 2  # readings that must agree, at different finalized block heights
# A blockhash is usable for 150 blocks after its own; a slot is never below its block height.
# So without a journaled slot, lastValidBlockHeight less twice that is below any slot the
# transaction could have landed in (very conservative: it asks for a long history).
_UNKNOWN_SLOT_MARGIN = 300

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class ExpiryEvidence:
    """One reading of everything an expiry proof needs, from one batch."""

    status: TransactionStatus | None
    found: bool  # getTransaction returned a record
    finalized_height: int
    first_available_block: int
    minimum_ledger_slot: int

    @property
    def history_from(self) -> int:
        """The first slot both kinds of history cover: the node knows nothing earlier."""
        return max(self.first_available_block, self.minimum_ledger_slot)


def history_floor(tx: PreparedTx) -> int:
    """The earliest slot `tx` could have landed in: the node's history must reach back to it."""
    if tx.min_slot is not None:
        return tx.min_slot
    return max(0, tx.last_valid_block_height - _UNKNOWN_SLOT_MARGIN)


def sign_versioned(tx: VersionedTransaction, keypair: Keypair) -> VersionedTransaction:
    """Fill the keypair's signature slot; every other slot is kept as it is."""
    message = tx.message
    signers = list(message.account_keys[: message.header.num_required_signatures])
    try:
        index = signers.index(keypair.pubkey())
    except ValueError:
        raise GuardRefused(f"{keypair.pubkey()} is not a signer of this transaction") from None
    signatures = list(tx.signatures)
    signatures[index] = keypair.sign_message(to_bytes_versioned(message))
    return VersionedTransaction.populate(message, signatures)


def prepared_tx(
    kind: TxKind,
    tx: VersionedTransaction,
    last_valid_block_height: int,
    min_slot: int | None = None,
) -> PreparedTx:
    """What the caller journals: the fee payer's signature is the transaction's id.

    `min_slot` is a finalized slot read before the first send: the transaction cannot land in
    it or earlier, so a node whose history reaches back to it would know if it had landed.
    """
    return PreparedTx(
        kind=kind,
        signature=str(tx.signatures[0]),
        raw=bytes(tx),
        last_valid_block_height=last_valid_block_height,
        min_slot=min_slot,
    )


def is_landed(status: TransactionStatus | None) -> bool:
    return status is not None and status.confirmation_status in _LANDED


def landing_from_transaction(
    signature: str,
    found: EncodedConfirmedTransactionWithStatusMeta,
    *,
    executor: Pubkey,
    mint: Pubkey,
) -> Landing:
    """The executor's SOL and token changes from a confirmed transaction's balances."""
    meta = found.transaction.meta
    if meta is None:
        raise TemporaryError(f"transaction {signature} has no status metadata yet")
    inner = found.transaction.transaction
    if not isinstance(inner, UiTransaction):
        raise OperationalError(f"transaction {signature} came back in an unexpected encoding")
    keys = [Pubkey.from_string(str(k)) for k in inner.message.account_keys]
    loaded = meta.loaded_addresses
    if loaded is not None:
        keys += list(loaded.writable) + list(loaded.readonly)
    sol_delta = 0
    if executor in keys:
        index = keys.index(executor)
        sol_delta = meta.post_balances[index] - meta.pre_balances[index]

    def held(balances: Sequence[UiTransactionTokenBalance] | None) -> int:
        return sum(
            int(entry.ui_token_amount.amount)
            for entry in balances or []
            if entry.mint == mint and entry.owner == executor
        )

    error = "" if meta.err is None else str(meta.err)
    return Landing(
        signature=signature,
        status=LandingStatus.CONFIRMED if meta.err is None else LandingStatus.FAILED,
        error=error,
        fee_lamports=meta.fee,
        sol_delta=sol_delta,
        token_delta=held(meta.post_token_balances) - held(meta.pre_token_balances),
        slot=found.slot,
    )


class Sender:
    """Lands prepared transactions for one executor and one token mint."""

    def __init__(
        self,
        rpc: RpcClient,
        executor: Pubkey,
        mint: Pubkey,
        *,
        resend_interval: float = 2.0,
        max_duration: float = 120.0,
        fetch_attempts: int = 10,
        poll_interval: float = 0.4,
        submit_swap: Callable[[bytes], Awaitable[None]] | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._rpc = rpc
        # Swaps may go through a Jito block engine instead; status still comes from the RPC.
        self._submit_swap = submit_swap
        self._executor = executor
        self._mint = mint
        self.resend_interval = resend_interval
        # Status is checked about once a slot, so a landed transaction is seen at once; the
        # same bytes are re-sent only every `resend_interval`.
        self.poll_interval = min(poll_interval, resend_interval)
        self.max_duration = max_duration
        self._fetch_attempts = fetch_attempts
        self._sleep = sleep

    async def finalized_slot(self) -> int:
        """The finalized slot now: journaled with a transaction signed after it (its min_slot)."""
        return await self._rpc.finalized_slot()

    async def _poll(self, signature: Signature) -> tuple[TransactionStatus | None, int]:
        """(status, block height) in one round trip.

        The expiry proof reads the block height at `finalized`: a confirmed block can in rare
        cases be abandoned, a finalized one cannot, so a transaction judged expired stays so.
        """
        statuses, height = await self._rpc.batch(
            [
                GetSignatureStatuses(
                    [signature], RpcSignatureStatusConfig(search_transaction_history=True), 0
                ),
                GetBlockHeight(RpcContextConfig(commitment=CommitmentLevel.Finalized), 1),
            ],
            [GetSignatureStatusesResp, GetBlockHeightResp],
        )
        return statuses.value[0], height.value

    async def lookup(self, signature: str) -> Landing | None:
        """The landing of a confirmed signature, or None if it is not (yet) confirmed."""
        sig = Signature.from_string(signature)
        status = (await self._rpc.get_signature_statuses([sig]))[0]
        return await self._landed(sig) if is_landed(status) else None

    async def _landed(self, signature: Signature) -> Landing:
        # A status can be visible a moment before getTransaction has the record.
        for attempt in range(self._fetch_attempts):
            found = await self._rpc.get_transaction(signature)
            if found is not None:
                return landing_from_transaction(
                    str(signature), found, executor=self._executor, mint=self._mint
                )
            if attempt + 1 < self._fetch_attempts:
                await self._sleep(min(self.resend_interval, 0.5))
        raise TemporaryError(f"transaction {signature} is confirmed but not yet retrievable")

    async def land(self, tx: PreparedTx) -> Landing:
        """Send the same bytes until confirmed, failed on-chain, or provably expired.

        Raises TemporaryError if none of these is known within `max_duration`: the caller
        must call again later with the same `tx`, never re-sign.
        """
        signature = Signature.from_string(tx.signature)
        decoded = VersionedTransaction.from_bytes(tx.raw)
        if not decoded.signatures or decoded.signatures[0] != signature:
            raise OperationalError(f"prepared transaction {tx.signature} does not match its bytes")
        deadline = time.monotonic() + self.max_duration
        sends = 0
        last_send = -math.inf
        last_error: FlywheelError | None = None
        while True:
            try:
                status, height = await self._poll(signature)
                if is_landed(status):
                    return await self._landed(signature)
                if height > tx.last_valid_block_height:
                    landing = await self._prove_expired(signature, tx, sends, deadline)
                    if landing is not None:
                        return landing
                    # Seen but not yet confirmed, or the node went back: its block may still
                    # be confirmed; wait.
                elif time.monotonic() - last_send >= self.resend_interval:
                    await self._send(tx, sends)
                    sends += 1
                    last_send = time.monotonic()
            except TemporaryError as exc:
                last_error = exc
            if time.monotonic() >= deadline:
                raise TemporaryError(
                    f"transaction {tx.signature} neither landed nor expired within "
                    f"{self.max_duration:.0f} s ({sends} sends; valid until block height "
                    f"{tx.last_valid_block_height}); call land() again with the same transaction"
                ) from last_error
            await self._sleep(self.poll_interval)

    async def _evidence(self, signature: Signature) -> ExpiryEvidence:
        config = RpcTransactionConfig(
            encoding=UiTransactionEncoding.Json,
            commitment=CommitmentLevel.Confirmed,
            max_supported_transaction_version=0,
        )
        statuses, found, height, first, minimum = await self._rpc.batch(
            [
                GetSignatureStatuses(
                    [signature], RpcSignatureStatusConfig(search_transaction_history=True), 0
                ),
                GetTransaction(signature, config, 1),
                GetBlockHeight(RpcContextConfig(commitment=CommitmentLevel.Finalized), 2),
                GetFirstAvailableBlock(3),
                MinimumLedgerSlot(4),
            ],
            [
                GetSignatureStatusesResp,
                GetTransactionResp,
                GetBlockHeightResp,
                GetFirstAvailableBlockResp,
                MinimumLedgerSlotResp,
            ],
        )
        return ExpiryEvidence(
            status=statuses.value[0],
            found=found.value is not None,
            finalized_height=int(height.value),
            first_available_block=int(first.value),
            minimum_ledger_slot=int(minimum.value),
        )

    async def _prove_expired(
        self, signature: Signature, tx: PreparedTx, sends: int, deadline: float
    ) -> Landing | None:
        """EXPIRED when proved, the landing when one shows up, None to keep waiting.

        Raises ExpiryUnproven when the node's history is too short to prove anything.
        """
        floor = history_floor(tx)
        heights: list[int] = []
        while len(heights) < EXPIRY_READINGS:
            if heights:
                if time.monotonic() >= deadline:
                    return None  # the node's finalized height stands still: land() gives up
                await self._sleep(self.resend_interval)
            evidence = await self._evidence(signature)
            if evidence.found or is_landed(evidence.status):
                return await self._landed(signature)
            if evidence.status is not None:
                return None
            if evidence.finalized_height <= tx.last_valid_block_height:
                return None  # a node behind a load balancer that is further back
            if evidence.history_from > floor:
                raise ExpiryUnproven(
                    f"transaction {tx.signature} looks expired (finalized block height "
                    f"{evidence.finalized_height} > last valid {tx.last_valid_block_height}) but "
                    f"this RPC node's history starts at slot {evidence.history_from} "
                    f"(getFirstAvailableBlock {evidence.first_available_block}, "
                    f"minimumLedgerSlot {evidence.minimum_ledger_slot}), after slot {floor} "
                    "where it may have landed, so it cannot prove the transaction never landed."
                    " Nothing new is signed until it can: point SOLANA_RPC_URL at a node with "
                    f"full transaction history (an archive RPC) reaching back to slot {floor}, "
                    "then run `flywheel epoch` again"
                )
            if not heights or evidence.finalized_height > heights[-1]:
                heights.append(evidence.finalized_height)
        log.info("tx.expired", signature=tx.signature, sends=sends, heights=heights)
        return Landing(
            signature=tx.signature,
            status=LandingStatus.EXPIRED,
            error=(
                f"blockhash expired: finalized block height {heights[-1]} > last valid "
                f"{tx.last_valid_block_height}; no status and no transaction in "
                f"{EXPIRY_READINGS} readings at heights {heights} from a node whose history "
                f"reaches back to slot {floor}"
            ),
        )

    async def _send(self, tx: PreparedTx, sends: int) -> None:
        try:
            if tx.kind is TxKind.SWAP and self._submit_swap is not None:
                await self._submit_swap(tx.raw)
            else:
                await self._rpc.send_raw_transaction(tx.raw)
        except OperationalError as exc:
            # A refusal (bad signature, malformed) means these bytes can never land; keep
            # polling so the outcome is still decided by the blockhash's expiry.
            if sends == 0:
                log.warning("tx.send_refused", signature=tx.signature, error=str(exc))
