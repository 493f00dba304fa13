"""Turning one executed transaction and its before/after account snapshots into a TxRecord."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from solders.account import Account
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction
from solders.transaction_status import TransactionErrorType

from flywheel.sandbox.chain.ledger import TokenBalance, TxRecord
from flywheel.sandbox.chain.tokens import TOKEN_PROGRAMS, parse_token_account
from flywheel.sandbox.chain.txinfo import compute_unit_price, memo_of, version_of, writable_keys

DecimalsOf = Callable[[Pubkey], int | None]


@dataclass(frozen=True)
class Outcome:
    """What execution produced: the runtime's, or the one an execution check imposed."""

    err: TransactionErrorType | None
    fee: int
    logs: list[str]
    units: int


@dataclass(frozen=True)
class Keys:
    """A transaction's account keys with lookup tables resolved (see txinfo.resolve_keys)."""

    all: list[Pubkey]
    loaded_writable: list[Pubkey]
    loaded_readonly: list[Pubkey]


def live(account: Account | None) -> Account | None:
    """A closed account (no lamports, no data) reads as absent, as on a real node."""
    if account is None or (account.lamports == 0 and not account.data):
        return None
    return account


def lamports(account: Account | None) -> int:
    return 0 if account is None else account.lamports


def token_balances(
    keys: list[Pubkey], accounts: list[Account | None], decimals_of: DecimalsOf
) -> list[TokenBalance]:
    out: list[TokenBalance] = []
    for index, (key, account) in enumerate(zip(keys, accounts, strict=True)):
        if account is None or account.owner not in TOKEN_PROGRAMS:
            continue
        holding = parse_token_account(key, account)
        if holding is None:
            continue
        decimals = decimals_of(holding.mint)
        out.append(
            TokenBalance(
                account_index=index,
                account=key,
                mint=holding.mint,
                owner=holding.owner,
                program_id=holding.program_id,
                amount=holding.amount,
                decimals=0 if decimals is None else decimals,
            )
        )
    return out


def build_record(
    *,
    seq: int,
    tx: VersionedTransaction,
    slot: int,
    block_time: int,
    keys: Keys,
    outcome: Outcome,
    pre: list[Account | None],
    post: list[Account | None],
    decimals_of: DecimalsOf,
) -> TxRecord:
    return TxRecord(
        seq=seq,
        signature=tx.signatures[0],
        slot=slot,
        block_time=block_time,
        version=version_of(tx),
        tx=tx,
        account_keys=keys.all,
        loaded_writable=keys.loaded_writable,
        loaded_readonly=keys.loaded_readonly,
        err=outcome.err,
        fee=outcome.fee,
        logs=outcome.logs,
        pre_balances=[lamports(a) for a in pre],
        post_balances=[lamports(a) for a in post],
        pre_token_balances=token_balances(keys.all, pre, decimals_of),
        post_token_balances=token_balances(keys.all, post, decimals_of),
        compute_units=outcome.units,
        memo=memo_of(tx, keys.all),
        compute_unit_price=compute_unit_price(tx),
        writable_keys=writable_keys(tx, keys.loaded_writable),
    )
