"""What SandboxChain raises and returns, apart from history records (see ledger.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from solders.account import Account
from solders.signature import Signature
from solders.transaction import Transaction, VersionedTransaction
from solders.transaction_status import TransactionErrorFieldless, TransactionErrorType

# (instruction_index, custom_error_code) to fail the transaction, or None to let it run.
ExecutionCheck = Callable[[VersionedTransaction | Transaction], tuple[int, int] | None]
# Sees a transaction before it runs; what it returns runs right after, if it succeeded (the
# market's execution-time pricing settles a swap to the curve there).
Settlement = Callable[[VersionedTransaction], Callable[[], None] | None]
# Wraps a send on a watched path ("public", "jito"): called with the chain lock held and the
# function that executes the transaction (the market's searcher).
SendInterceptor = Callable[[VersionedTransaction, str, Callable[[], Signature]], Signature]


class ChainError(Exception):
    """Base of the sandbox chain's refusals."""


class InvalidTransaction(ChainError):
    """The transaction is malformed (it fails sanitization); the RPC answers -32602."""


class SignatureVerificationFailure(ChainError):
    """A signature does not verify; the RPC answers -32003 as a real node does."""

    def __init__(self) -> None:
        super().__init__("Transaction signature verification failure")


class PreflightFailure(ChainError):
    """The preflight simulation failed; the RPC answers -32002 with these details."""

    def __init__(self, err: TransactionErrorType, logs: list[str], units: int) -> None:
        self.err = err
        self.logs = list(logs)
        self.units = units
        super().__init__(f"Transaction simulation failed: {err}")


class BlockhashNotFound(PreflightFailure):
    """The blockhash is unknown or older than its lifetime."""

    def __init__(self) -> None:
        super().__init__(TransactionErrorFieldless.BlockhashNotFound, [], 0)


class AlreadyProcessed(PreflightFailure):
    """These exact bytes (this signature) already landed."""

    def __init__(self) -> None:
        super().__init__(TransactionErrorFieldless.AlreadyProcessed, [], 0)


@dataclass(frozen=True)
class SimulationResult:
    """A simulation's outcome; `accounts` follows the order of the addresses asked for."""

    err: TransactionErrorType | None
    logs: list[str]
    units: int
    fee: int
    accounts: list[Account | None] | None = None

    @property
    def ok(self) -> bool:
        return self.err is None
