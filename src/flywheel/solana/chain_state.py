"""The flywheel's state as the chain witnesses it: the executor's anchor memos.

`read_executor_history` pages the executor's recent signatures, keeps the anchors (memo
`flywheel:v1 ...`, see domain/anchor.py) that the executor itself signed, and lists what the
executor signed after the newest one (an epoch interrupted after it spent). `unknown_anchors`
is the start-up check: an anchor the state database does not know means the database is older
than the chain (a restored backup) or another flywheel uses this executor.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction_status import EncodedConfirmedTransactionWithStatusMeta, UiTransaction

from flywheel.domain.anchor import Anchor, parse_anchor
from flywheel.domain.trade import TxKind
from flywheel.errors import OperationalError
from flywheel.persistence.ownership import OwnershipRecords
from flywheel.solana.rpc import RpcClient

SCAN_SIGNATURES = 1000  # how far back the executor's history is read (one page)
_BATCH = 50
# A skip set that is never empty, so a check on a new database reads no history beyond anchors.
_NONE = frozenset({""})


@dataclass(frozen=True)
class ChainAnchor:
    signature: str
    slot: int
    anchor: Anchor


@dataclass(frozen=True)
class ExecutorHistory:
    anchors: list[ChainAnchor] = field(default_factory=list)  # newest first
    # Transactions the executor signed after the newest anchor (newest first)
    after_newest: list[str] = field(default_factory=list)
    scanned: int = 0

    @property
    def newest(self) -> ChainAnchor | None:
        return self.anchors[0] if self.anchors else None


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


async def read_executor_history(
    rpc: RpcClient,
    executor: Pubkey,
    *,
    limit: int = SCAN_SIGNATURES,
    skip: frozenset[str] = frozenset(),
) -> ExecutorHistory:
    """The executor's anchors, newest first. Anchors in `skip` (the database knows them) are
    left out unread: the start-up check costs one request when nothing is unknown."""
    entries = [
        e for e in await rpc.get_signatures_for_address(executor, limit=limit) if e.err is None
    ]
    candidates = [(e, parse_anchor(e.memo)) for e in entries if str(e.signature) not in skip]
    newest_index = next((i for i, (_, a) in enumerate(candidates) if a is not None), None)
    # What must be read in full: every anchor candidate (is it the executor's?) and, for a
    # rebuild, whatever came after the newest one (did the executor sign it?).
    wanted: list[Signature] = [e.signature for e, a in candidates if a is not None]
    if not skip:
        recent_end = len(entries) if newest_index is None else newest_index
        wanted += [e.signature for e in entries[:recent_end]]
    txs = await _transactions(rpc, wanted)
    anchors = [
        ChainAnchor(str(e.signature), e.slot, a)
        for e, a in candidates
        if a is not None and signed_by(txs.get(str(e.signature)), executor)
    ]
    cut = len(entries)
    if anchors:
        cut = next(i for i, e in enumerate(entries) if str(e.signature) == anchors[0].signature)
    after = [
        str(e.signature) for e in entries[:cut] if signed_by(txs.get(str(e.signature)), executor)
    ]
    if not anchors:
        after = []  # no anchor at all: nothing is "after" it (a new or unanchored executor)
    return ExecutorHistory(anchors=anchors, after_newest=after, scanned=len(entries))


async def _transactions(
    rpc: RpcClient, signatures: list[Signature]
) -> dict[str, EncodedConfirmedTransactionWithStatusMeta | None]:
    unique = list(dict.fromkeys(signatures))
    found: dict[str, EncodedConfirmedTransactionWithStatusMeta | None] = {}
    for start in range(0, len(unique), _BATCH):
        chunk = unique[start : start + _BATCH]
        found.update(zip((str(s) for s in chunk), await rpc.get_transactions(chunk), strict=True))
    return found


def unknown_anchors(history: ExecutorHistory, known: set[str]) -> list[ChainAnchor]:
    return [a for a in history.anchors if a.signature not in known]


def unknown_anchor_problem(found: list[ChainAnchor], db_path: object) -> str:
    newest = found[0]
    return (
        f"the executor's transaction {newest.signature} anchors epoch {newest.anchor.epoch_id},"
        f" which state database {db_path} does not know ({len(found)} such anchor(s)): the"
        " database is older than the chain (a restored backup, or a new database after the old"
        " one was lost) or another flywheel uses this executor. Nothing was spent. Stop any"
        " other flywheel on this executor, then run `flywheel state rebuild --replace` to"
        " rebuild the state from the chain (runbook: Disaster Recovery)"
    )


async def check_state_against_chain(
    store: OwnershipRecords, rpc: RpcClient, executor: Pubkey
) -> ExecutorHistory:
    """OperationalError when the executor anchored a state this database does not know."""
    known = store.intent_signatures(TxKind.ANCHOR.value)
    history = await read_executor_history(rpc, executor, skip=frozenset(known) or _NONE)
    unknown = unknown_anchors(history, known)
    if unknown:
        raise OperationalError(unknown_anchor_problem(unknown, store.path))
    return history
