"""The flywheel's state as the chain witnesses it: the state memos in the executor's history.

Every transaction the flywheel signs carries a state memo (`flywheel:v2 ...`, see
domain/anchor.py). `read_executor_history` pages the executor's recent signatures and keeps the
memos the executor itself signed, each with what its landed transaction did to the executor
(its own balances); it also lists what the executor signed without a memo after the newest one
(a Jupiter v1 swap, or someone else using the key). `unknown_memos` is the start-up check: a
flywheel transaction the state database does not know means the database is older than the
chain (a restored backup) or another flywheel uses this executor.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction_status import EncodedConfirmedTransactionWithStatusMeta, UiTransaction

from flywheel.domain.anchor import Anchor, after_landing, parse_anchor
from flywheel.errors import OperationalError
from flywheel.persistence.ownership import OwnershipRecords
from flywheel.solana.rpc import RpcClient
from flywheel.solana.sender import landing_from_transaction

SCAN_SIGNATURES = 1000  # how far back the executor's history is read (one page)
_BATCH = 50
# A skip set that is never empty, so a check on a new database reads no history beyond memos.
_NONE = frozenset({""})


@dataclass(frozen=True)
class ChainAnchor:
    """One flywheel transaction on chain: its memo, and the state after it landed."""

    signature: str
    slot: int
    anchor: Anchor  # the memo as signed
    after: Anchor  # the memo's state with the landed transaction's own effects applied
    fee_lamports: int = 0


@dataclass(frozen=True)
class ExecutorHistory:
    memos: list[ChainAnchor] = field(default_factory=list)  # newest first
    # Transactions the executor signed without a state memo after the newest memo (newest first)
    after_newest: list[str] = field(default_factory=list)
    scanned: int = 0

    @property
    def anchors(self) -> list[ChainAnchor]:
        """The closing anchors (kind `epoch`), newest first."""
        return [m for m in self.memos if m.anchor.closing]

    @property
    def newest(self) -> ChainAnchor | None:
        """The newest memo of an epoch: the state a rebuild starts from."""
        return next((m for m in self.memos if m.anchor.epoch_id is not None), None)


def signed_by(tx: EncodedConfirmedTransactionWithStatusMeta | None, key: Pubkey) -> bool:
    if tx is None or tx.transaction.meta is None or tx.transaction.meta.err is not None:
        return False
    inner = tx.transaction.transaction
    if not isinstance(inner, UiTransaction):
        return False
    message = inner.message
    keys = [str(k) for k in getattr(message, "account_keys", [])]
    header = getattr(message, "header", None)
    signers = int(getattr(header, "num_required_signatures", 0)) if header else 0
    return str(key) in keys[:signers]


def _chain_anchor(
    signature: str,
    anchor: Anchor,
    tx: EncodedConfirmedTransactionWithStatusMeta,
    executor: Pubkey,
    mint: Pubkey | None,
) -> ChainAnchor:
    after = anchor
    fee = 0
    if mint is not None:
        landing = landing_from_transaction(signature, tx, executor=executor, mint=mint)
        fee = landing.fee_lamports
        sol_in = landing.sol_delta + landing.fee_lamports
        after = after_landing(anchor, token_delta=landing.token_delta, sol_in=sol_in)
    return ChainAnchor(signature, tx.slot, anchor, after, fee)


async def read_executor_history(
    rpc: RpcClient,
    executor: Pubkey,
    *,
    mint: Pubkey | None = None,
    limit: int = SCAN_SIGNATURES,
    skip: frozenset[str] = frozenset(),
) -> ExecutorHistory:
    """The executor's state memos, newest first. Memos in `skip` (the database knows them) are
    left out unread: the start-up check costs one request when nothing is unknown. With `mint`,
    each memo's state after its transaction landed is read from the transaction's balances."""
    entries = [
        e for e in await rpc.get_signatures_for_address(executor, limit=limit) if e.err is None
    ]
    candidates = [(e, parse_anchor(e.memo)) for e in entries if str(e.signature) not in skip]
    newest_index = next((i for i, (_, a) in enumerate(candidates) if a is not None), None)
    # What must be read in full: every memo candidate (is it the executor's?) and, for a
    # rebuild, whatever came after the newest one (did the executor sign it?).
    wanted: list[Signature] = [e.signature for e, a in candidates if a is not None]
    if not skip:
        recent_end = len(entries) if newest_index is None else newest_index
        wanted += [e.signature for e in entries[:recent_end]]
    txs = await _transactions(rpc, wanted)
    memos: list[ChainAnchor] = []
    for e, a in candidates:
        found = txs.get(str(e.signature))
        if a is not None and found is not None and signed_by(found, executor):
            memos.append(_chain_anchor(str(e.signature), a, found, executor, mint))
    after: list[str] = []
    if memos:
        cut = next(i for i, e in enumerate(entries) if str(e.signature) == memos[0].signature)
        after = [
            str(e.signature)
            for e in entries[:cut]
            if signed_by(txs.get(str(e.signature)), executor)
        ]
    return ExecutorHistory(memos=memos, after_newest=after, scanned=len(entries))


async def _transactions(
    rpc: RpcClient, signatures: list[Signature]
) -> dict[str, EncodedConfirmedTransactionWithStatusMeta | None]:
    unique = list(dict.fromkeys(signatures))
    found: dict[str, EncodedConfirmedTransactionWithStatusMeta | None] = {}
    for start in range(0, len(unique), _BATCH):
        chunk = unique[start : start + _BATCH]
        found.update(zip((str(s) for s in chunk), await rpc.get_transactions(chunk), strict=True))
    return found


def unknown_memos(history: ExecutorHistory, known: set[str]) -> list[ChainAnchor]:
    return [m for m in history.memos if m.signature not in known]


def unknown_memo_problem(found: list[ChainAnchor], db_path: object) -> str:
    newest = found[0]
    epoch = newest.anchor.epoch_id or "none (a sweep)"
    return (
        f"the executor's transaction {newest.signature} ({newest.anchor.kind}) anchors epoch"
        f" {epoch}, which state database {db_path} does not know ({len(found)} such flywheel"
        " transaction(s)): the database is older than the chain (a restored backup, or a new"
        " database after the old one was lost) or another flywheel uses this executor. Nothing"
        " was spent. Stop any other flywheel on this executor, then run `flywheel state rebuild"
        " --replace` to rebuild the state from the chain (runbook: Disaster Recovery)"
    )


async def check_state_against_chain(
    store: OwnershipRecords, rpc: RpcClient, executor: Pubkey
) -> ExecutorHistory:
    """OperationalError when the executor signed a flywheel transaction this database does
    not know (any kind: a swap's memo counts as much as a closing anchor's)."""
    known = store.known_flywheel_signatures()
    history = await read_executor_history(rpc, executor, skip=frozenset(known) or _NONE)
    unknown = unknown_memos(history, known)
    if unknown:
        raise OperationalError(unknown_memo_problem(unknown, store.path))
    return history
