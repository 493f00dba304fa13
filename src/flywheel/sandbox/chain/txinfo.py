"""Facts about a transaction's message: its keys (lookup tables resolved), fees, memo, logs."""

from __future__ import annotations

from collections.abc import Callable

from solders.account import Account
from solders.address_lookup_table_account import AddressLookupTable
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.transaction import Transaction, VersionedTransaction

from flywheel.sandbox.chain.ledger import TxVersion
from flywheel.sandbox.chain.types import InvalidTransaction

COMPUTE_BUDGET_ID = Pubkey.from_string("ComputeBudget111111111111111111111111111111")
MEMO_IDS = frozenset(
    {
        Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"),
        Pubkey.from_string("Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo"),
    }
)
_SET_COMPUTE_UNIT_PRICE = 3


def normalize(tx: Transaction | VersionedTransaction) -> VersionedTransaction:
    if isinstance(tx, Transaction):
        return VersionedTransaction.from_legacy(tx)
    return tx


def resolve_keys(
    tx: VersionedTransaction, load: Callable[[Pubkey], Account | None]
) -> tuple[list[Pubkey], list[Pubkey], list[Pubkey]]:
    """(all keys, loaded writable, loaded readonly), in the runtime's order."""
    message = tx.message
    static = list(message.account_keys)
    if not isinstance(message, MessageV0) or not message.address_table_lookups:
        return static, [], []
    writable: list[Pubkey] = []
    readonly: list[Pubkey] = []
    for lookup in message.address_table_lookups:
        account = load(lookup.account_key)
        if account is None:
            raise InvalidTransaction(f"address lookup table {lookup.account_key} not found")
        addresses = AddressLookupTable.deserialize(bytes(account.data)).addresses
        try:
            writable += [addresses[i] for i in lookup.writable_indexes]
            readonly += [addresses[i] for i in lookup.readonly_indexes]
        except IndexError as exc:
            raise InvalidTransaction("address lookup table index out of range") from exc
    return static + writable + readonly, writable, readonly


def writable_keys(tx: VersionedTransaction, loaded_writable: list[Pubkey]) -> frozenset[Pubkey]:
    message = tx.message
    header = message.header
    keys = list(message.account_keys)
    signed = header.num_required_signatures
    out = set(loaded_writable)
    for i, key in enumerate(keys):
        if i < signed:
            if i < signed - header.num_readonly_signed_accounts:
                out.add(key)
        elif i < len(keys) - header.num_readonly_unsigned_accounts:
            out.add(key)
    return frozenset(out)


def compute_unit_price(tx: VersionedTransaction) -> int:
    """Micro-lamports per compute unit set by a ComputeBudget instruction, else 0."""
    message = tx.message
    keys = list(message.account_keys)
    for ix in message.instructions:
        if ix.program_id_index >= len(keys) or keys[ix.program_id_index] != COMPUTE_BUDGET_ID:
            continue
        data = bytes(ix.data)
        if len(data) == 9 and data[0] == _SET_COMPUTE_UNIT_PRICE:
            return int.from_bytes(data[1:9], "little")
    return 0


def memo_of(tx: VersionedTransaction, keys: list[Pubkey]) -> str | None:
    """getSignaturesForAddress's memo: each memo as "[<length>] <text>", joined by "; "."""
    parts: list[str] = []
    for ix in tx.message.instructions:
        if ix.program_id_index < len(keys) and keys[ix.program_id_index] in MEMO_IDS:
            text = bytes(ix.data).decode("utf-8", errors="replace")
            parts.append(f"[{len(bytes(ix.data))}] {text}")
    return "; ".join(parts) if parts else None


def custom_failure_logs(
    tx: VersionedTransaction, keys: list[Pubkey], index: int, code: int
) -> list[str]:
    """The log lines a program failing with a custom error leaves behind."""
    instructions = tx.message.instructions
    if not 0 <= index < len(instructions):
        raise ValueError(f"execution check named instruction {index}, which does not exist")
    logs: list[str] = []
    for ix in instructions[:index]:
        program = keys[ix.program_id_index]
        logs += [f"Program {program} invoke [1]", f"Program {program} success"]
    program = keys[instructions[index].program_id_index]
    logs += [
        f"Program {program} invoke [1]",
        f"Program {program} failed: custom program error: {code:#x}",
    ]
    return logs


def version_of(tx: VersionedTransaction) -> TxVersion:
    return "legacy" if isinstance(tx.message, Message) else 0
