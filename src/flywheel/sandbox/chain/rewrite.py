"""Running a transaction for a program LiteSVM does not have, through a rewrite of it.

An emulator (sandbox/pump/) turns a transaction that calls an emulated program into one LiteSVM
can run: each emulated instruction becomes primitive instructions with the same effect (a
system transfer out of a PDA marked as a signer: the chain verifies signatures itself, LiteSVM
does not), plus account writes that no primitive can make (a program-owned account's data),
applied just before and undone if the transaction fails. The chain records the ORIGINAL
transaction, with the balances the rewrite left, as mainnet shows the real program's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from solders.account import Account
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM_PROGRAM_ID
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import TransactionMetadata

from flywheel.sandbox.chain.recorder import Outcome
from flywheel.sandbox.chain.types import SimulationResult

LAMPORTS_PER_SIGNATURE = 5_000  # LiteSVM's, as mainnet's


@dataclass(frozen=True)
class Rewrite:
    tx: VersionedTransaction  # what LiteSVM runs instead
    extra_signers: int  # PDAs marked as signers: LiteSVM charges each, the original does not
    writes: list[tuple[Pubkey, Account]] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)

    @property
    def refund(self) -> int:
        return self.extra_signers * LAMPORTS_PER_SIGNATURE


Rewriter = Callable[[VersionedTransaction], Rewrite | None]


def find_rewrite(rewriters: Sequence[Rewriter], tx: VersionedTransaction) -> Rewrite | None:
    for rewriter in rewriters:
        found = rewriter(tx)
        if found is not None:
            return found
    return None


def _empty() -> Account:
    return Account(0, b"", SYSTEM_PROGRAM_ID, False, 0)


def _apply(svm: LiteSVM, writes: list[tuple[Pubkey, Account]]) -> list[tuple[Pubkey, Account]]:
    """Make the writes; return what undoes them."""
    before = [(key, svm.get_account(key) or _empty()) for key, _ in writes]
    for key, account in writes:
        svm.set_account(key, account)
    return list(reversed(before))


def _refund(svm: LiteSVM, payer: Pubkey, lamports: int) -> None:
    account = _refunded(svm.get_account(payer), lamports)
    if account is not None and lamports > 0:
        svm.set_account(payer, account)


def run_rewritten(svm: LiteSVM, rewrite: Rewrite, payer: Pubkey) -> Outcome:
    undo = _apply(svm, rewrite.writes)
    result = svm.send_transaction(rewrite.tx)
    if isinstance(result, TransactionMetadata):
        err, meta = None, result
    else:
        err, meta = result.err(), result.meta()
        _apply(svm, undo)
    fee = meta.fee()
    if fee > 0:
        _refund(svm, payer, rewrite.refund)
        fee -= rewrite.refund
    return Outcome(err, fee, [*rewrite.logs, *meta.logs()], meta.compute_units_consumed())


def _refunded(account: Account | None, lamports: int) -> Account | None:
    if account is None:
        return None
    return Account(
        account.lamports + lamports,
        account.data,
        account.owner,
        account.executable,
        account.rent_epoch,
    )


def simulate_rewritten(
    simulate: Callable[[VersionedTransaction], SimulationResult],
    svm: LiteSVM,
    rewrite: Rewrite,
    payer: Pubkey,
    addresses: list[Pubkey] | None,
) -> SimulationResult:
    undo = _apply(svm, rewrite.writes)
    try:
        result = simulate(rewrite.tx)
    finally:
        _apply(svm, undo)
    refund = rewrite.refund if result.fee > 0 else 0
    accounts = result.accounts
    if accounts is not None and addresses is not None:
        accounts = [
            _refunded(a, refund) if k == payer else a
            for k, a in zip(addresses, accounts, strict=True)
        ]
    logs = [*rewrite.logs, *result.logs]
    return SimulationResult(result.err, logs, result.units, result.fee - refund, accounts)
