"""The transaction guard's checks on the message itself, before anything runs.

- the executor pays the fee and must sign; every other required signature is already valid;
- the compute budget pays at most MAX_PRIORITY_FEE_LAMPORTS (an unknown budget instruction is
  refused rather than guessed at);
- Jito's "do not front-run" marker, if present, is exactly ours and read-only.
`flywheel.solana.guard_checks` re-exports these; the checks on the swap's effect live there.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from solders.compute_budget import ID as COMPUTE_BUDGET_PROGRAM_ID
from solders.message import Message, MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from flywheel.errors import GuardRefused

MAX_COMPUTE_UNIT_LIMIT = 1_400_000
DEFAULT_INSTRUCTION_COMPUTE_UNIT_LIMIT = 200_000
_REQUEST_HEAP_FRAME = 1
_SET_COMPUTE_UNIT_LIMIT = 2
_SET_COMPUTE_UNIT_PRICE = 3
_SET_LOADED_ACCOUNTS_DATA_SIZE_LIMIT = 4
_HARMLESS_BUDGET_TAGS = (
    bytes([_REQUEST_HEAP_FRAME]),
    bytes([_SET_LOADED_ACCOUNTS_DATA_SIZE_LIMIT]),
)
# Jito's "do not front-run" marker, which our composed swaps carry read-only.
JITO_DONTFRONT = Pubkey.from_string("jitodontfront111111111111111111111111111111")
_MICRO_LAMPORTS_PER_LAMPORT = 1_000_000


@dataclass(frozen=True)
class ComputeBudget:
    unit_limit: int
    unit_price_micro_lamports: int

    @property
    def priority_fee_lamports(self) -> int:
        # The runtime rounds the priority fee up to a whole lamport.
        return -(-self.unit_limit * self.unit_price_micro_lamports // _MICRO_LAMPORTS_PER_LAMPORT)


def compute_budget(message: Message | MessageV0) -> ComputeBudget:
    """The compute unit limit and price a message asks for (the runtime's defaults otherwise).

    A compute-budget instruction we do not know (the deprecated RequestUnits carried its own
    fee) is refused rather than guessed at.
    """
    keys = list(message.account_keys)
    limit: int | None = None
    price = 0
    other_instructions = 0
    for ix in message.instructions:
        if keys[ix.program_id_index] != COMPUTE_BUDGET_PROGRAM_ID:
            other_instructions += 1
            continue
        data = bytes(ix.data)
        if data[:1] == bytes([_SET_COMPUTE_UNIT_LIMIT]) and len(data) >= 5:
            limit = struct.unpack_from("<I", data, 1)[0]
        elif data[:1] == bytes([_SET_COMPUTE_UNIT_PRICE]) and len(data) >= 9:
            price = struct.unpack_from("<Q", data, 1)[0]
        elif data[:1] not in (
            bytes([_REQUEST_HEAP_FRAME]),
            bytes([_SET_LOADED_ACCOUNTS_DATA_SIZE_LIMIT]),
        ):
            raise GuardRefused(f"unknown compute budget instruction {data[:9].hex()}")
    if limit is None:
        limit = DEFAULT_INSTRUCTION_COMPUTE_UNIT_LIMIT * other_instructions
    return ComputeBudget(
        unit_limit=min(limit, MAX_COMPUTE_UNIT_LIMIT), unit_price_micro_lamports=price
    )


def check_priority_fee(budget: ComputeBudget, max_priority_fee_lamports: int) -> int:
    """The priority fee the budget pays, refused above MAX_PRIORITY_FEE_LAMPORTS."""
    fee = budget.priority_fee_lamports
    if fee > max_priority_fee_lamports:
        raise GuardRefused(
            f"inflated compute budget: the swap would pay a priority fee of {fee} lamports "
            f"({budget.unit_limit} compute units at {budget.unit_price_micro_lamports} "
            f"micro-lamports each), more than MAX_PRIORITY_FEE_LAMPORTS "
            f"{max_priority_fee_lamports}"
        )
    return fee


def check_signers(tx: VersionedTransaction, executor: Pubkey) -> None:
    """The executor pays and signs; any other signer has already signed this exact message."""
    message = tx.message
    if not isinstance(message, Message | MessageV0):
        # Newer formats carry fees outside compute-budget instructions: not understood here.
        raise GuardRefused(f"unsupported message format {type(message).__name__}")
    keys = list(message.account_keys)
    required = message.header.num_required_signatures
    if not keys or keys[0] != executor:
        payer = keys[0] if keys else "nobody"
        raise GuardRefused(f"fee payer is {payer}, not the executor {executor}")
    if required < 1:
        raise GuardRefused("the transaction requires no signature from the executor")
    signed = to_bytes_versioned(message)
    signatures = list(tx.signatures)
    if len(signatures) != required:
        raise GuardRefused(
            f"the transaction carries {len(signatures)} signatures for {required} signers"
        )
    for index in range(1, required):
        if not signatures[index].verify(keys[index], signed):
            raise GuardRefused(f"co-signer {keys[index]} has not validly signed the transaction")


def check_mev_marker(message: Message | MessageV0) -> bool:
    """Whether the swap carries Jito's marker; refused unless it is exactly ours, read-only."""
    keys = list(message.account_keys)
    for index, key in enumerate(keys):
        if not str(key).startswith("jitodontfront"):
            continue
        if key != JITO_DONTFRONT:
            raise GuardRefused(f"unexpected marker account {key}: only {JITO_DONTFRONT} is ours")
        header = message.header
        signers = header.num_required_signatures
        writable = index < signers - header.num_readonly_signed_accounts or (
            signers <= index < len(keys) - header.num_readonly_unsigned_accounts
        )
        if index < signers or writable:
            raise GuardRefused(f"the MEV marker {key} must be a read-only, non-signer account")
    return JITO_DONTFRONT in keys
