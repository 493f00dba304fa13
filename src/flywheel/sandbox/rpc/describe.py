"""The validator's wording of the transaction errors the sandbox produces most.

A real node puts this text in the JSON-RPC error message; the sandbox says it the same way so a
client sees what it would see against mainnet.
"""

from __future__ import annotations

from solders.transaction_status import (
    InstructionErrorCustom,
    TransactionErrorFieldless,
    TransactionErrorInstructionError,
    TransactionErrorInsufficientFundsForRent,
    TransactionErrorType,
)

from flywheel.sandbox.rpc.encode import error_json


def describe(err: TransactionErrorType) -> str:
    """The validator's wording for the errors the sandbox produces most."""
    if err == TransactionErrorFieldless.BlockhashNotFound:
        return "Blockhash not found"
    if err == TransactionErrorFieldless.AlreadyProcessed:
        return "This transaction has already been processed"
    if err == TransactionErrorFieldless.AccountNotFound:
        return "Attempt to debit an account but found no record of a prior credit."
    if err == TransactionErrorFieldless.InsufficientFundsForFee:
        return "Insufficient funds for fee"
    if isinstance(err, TransactionErrorInsufficientFundsForRent):
        return (
            f"Transaction results in an account ({err.account_index}) "
            "with insufficient funds for rent"
        )
    if isinstance(err, TransactionErrorInstructionError):
        index, inner = err.index, err.err
        if isinstance(inner, InstructionErrorCustom):
            return f"Error processing Instruction {index}: custom program error: {inner.code:#x}"
        return f"Error processing Instruction {index}: {inner}"
    return str(error_json(err))
