"""Running one transaction on LiteSVM, for real or as a simulation, or failing it the way an
on-chain program would have (an execution check's verdict: the fee is taken, nothing else
changes). The caller (SandboxChain) holds its lock and records what landed."""

from __future__ import annotations

from solders.account import Account
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM_PROGRAM_ID
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import SimulatedTransactionInfo, TransactionMetadata
from solders.transaction_status import InstructionErrorCustom, TransactionErrorInstructionError

from flywheel.sandbox.chain.recorder import Outcome, live
from flywheel.sandbox.chain.rewrite import Rewrite, run_rewritten
from flywheel.sandbox.chain.txinfo import custom_failure_logs
from flywheel.sandbox.chain.types import Settlement, SimulationResult

Verdict = tuple[int, int]  # (instruction index, custom program error code)


def _accounts(svm: LiteSVM, addresses: list[Pubkey] | None) -> list[Account | None] | None:
    return None if addresses is None else [live(svm.get_account(a)) for a in addresses]


def simulate(
    svm: LiteSVM,
    tx: VersionedTransaction,
    keys: list[Pubkey],
    verdict: Verdict | None,
    addresses: list[Pubkey] | None,
) -> SimulationResult:
    """simulateTransaction: the outcome, and `addresses` as they would be after it."""
    result = svm.simulate_transaction(tx)
    fee = result.meta().fee()
    if verdict is not None:
        index, code = verdict
        err = TransactionErrorInstructionError(index, InstructionErrorCustom(code))
        logs = custom_failure_logs(tx, keys, index, code)
        return SimulationResult(err, logs, 0, fee, _accounts(svm, addresses))
    meta = result.meta()
    if isinstance(result, SimulatedTransactionInfo):
        post = dict(result.post_accounts())
        accounts = None
        if addresses is not None:
            accounts = [live(post[a]) if a in post else live(svm.get_account(a)) for a in addresses]
        return SimulationResult(None, meta.logs(), meta.compute_units_consumed(), fee, accounts)
    return SimulationResult(
        result.err(),
        meta.logs(),
        meta.compute_units_consumed(),
        fee,
        _accounts(svm, addresses),
    )


def run(svm: LiteSVM, tx: VersionedTransaction) -> Outcome:
    result = svm.send_transaction(tx)
    if isinstance(result, TransactionMetadata):
        err, meta = None, result
    else:
        err, meta = result.err(), result.meta()
    return Outcome(err, meta.fee(), meta.logs(), meta.compute_units_consumed())


def impose_failure(
    svm: LiteSVM,
    tx: VersionedTransaction,
    keys: list[Pubkey],
    payer: Account | None,
    verdict: Verdict,
) -> Outcome | None:
    """Fail as the program would have: the fee is taken, nothing else changes."""
    index, code = verdict
    fee = svm.simulate_transaction(tx).meta().fee()
    if payer is None or payer.owner != SYSTEM_PROGRAM_ID or payer.lamports < fee:
        return None
    charged = Account(
        payer.lamports - fee, payer.data, payer.owner, payer.executable, payer.rent_epoch
    )
    svm.set_account(keys[0], charged)
    err = TransactionErrorInstructionError(index, InstructionErrorCustom(code))
    return Outcome(err, fee, custom_failure_logs(tx, keys, index, code), 0)


def execute(
    svm: LiteSVM,
    tx: VersionedTransaction,
    keys: list[Pubkey],
    payer_before: Account | None,
    verdict: tuple[int, int] | None,
    rewrite: Rewrite | None,
    settlements: list[Settlement],
) -> Outcome | None:
    """Run `tx` as the chain would: failed by an execution check's verdict, or through an
    emulated program's rewrite, or as it is; the market's settlements (decided before it ran)
    apply only when it landed without error. A check's verdict or a rewrite skips them."""
    plain = verdict is None and rewrite is None
    after = [settle(tx) for settle in settlements] if plain else []
    if verdict is not None:
        outcome = impose_failure(svm, tx, keys, payer_before, verdict)
    elif rewrite is not None:
        outcome = run_rewritten(svm, rewrite, keys[0])
    else:
        outcome = run(svm, tx)
    if outcome is not None and outcome.err is None:
        for apply in after:
            if apply is not None:
                apply()
    return outcome
