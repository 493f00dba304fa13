"""Execution-time pricing: a swap on the pool is settled to the curve as it stands when it runs.

The sandbox's swap is plain transfers of amounts fixed when the swap was quoted; the pool's
check only refuses it below its minimum. On a real AMM an exact-in swap gets what the curve
gives at execution, so whatever moved the pool in between (a front-run, an arbitrage) moves the
fill. While the market is on, this settlement does that: before a pool swap runs it prices the
memo's input on the reserves of that moment; right after, it moves the difference between what
the transfers paid and what the curve gives between the user and the vault (tokens for a buy,
lamports for a sell), inside the transaction's own effects, so its recorded balances show the
settled amounts. With nothing in between the two are equal and nothing moves.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from solders.account import Account
from solders.pubkey import Pubkey
from solders.token.state import TokenAccount
from solders.transaction import VersionedTransaction

from flywheel.sandbox.chain.runtime import SandboxChain
from flywheel.sandbox.jupiter.dex import MEMO_PROGRAM_ID, SandboxPool, SwapMemo
from flywheel.sandbox.market.swaps import buy, sell

_AMOUNT = slice(64, 72)  # a token account's amount (u64 LE), SPL and Token-2022 alike


def memo_of(pool: SandboxPool, tx: VersionedTransaction) -> tuple[SwapMemo, Pubkey, bool] | None:
    """(the swap's memo, its user, whether it is a buy) for a swap on `pool`."""
    message = tx.message
    keys = list(message.account_keys)
    if pool.address not in keys:
        return None
    for ix in message.instructions:
        if keys[ix.program_id_index] != MEMO_PROGRAM_ID:
            continue
        memo = SwapMemo.parse(bytes(ix.data))
        if memo is not None and memo.pool == pool.address:
            return memo, keys[0], not message.is_signer(keys.index(pool.address))
    return None


class CurveSettlement:
    """Registered on the chain; idle while `enabled()` is false."""

    def __init__(self, chain: SandboxChain, pool: SandboxPool, enabled: Callable[[], bool]) -> None:
        self.chain = chain
        self.pool = pool
        self.enabled = enabled

    def install(self) -> None:
        self.chain.settlements.append(self.before)

    def before(self, tx: VersionedTransaction) -> Callable[[], None] | None:
        if not self.enabled():
            return None
        found = memo_of(self.pool, tx)
        if found is None:
            return None
        memo, user, is_buy = found
        reserves = self.pool.reserves(self.chain)
        if is_buy:
            owed = buy(self.pool, reserves, memo.in_amount).out
            return lambda: self._settle_tokens(user, reserves.token, owed)
        owed = sell(self.pool, reserves, memo.in_amount).out
        return lambda: self._settle_lamports(user, reserves.sol, owed)

    def _settle_tokens(self, user: Pubkey, vault_before: int, owed: int) -> None:
        """The vault paid `vault_before - now`; the user is owed `owed` (net of transfer fee)."""
        pool = self.pool
        paid = vault_before - pool.reserves(self.chain).token
        # What the user got from that payment, and what the vault should have paid for `owed`.
        got = paid if pool.transfer_fee is None else pool.transfer_fee.net(paid)
        delta_user = got - owed
        delta_vault = paid - pool.pool_out_for(owed, buy=True)
        if delta_user == 0 and delta_vault == 0:
            return
        self._add_tokens(pool.ata(user), -delta_user)
        self._add_tokens(pool.token_vault, delta_vault)

    def _settle_lamports(self, user: Pubkey, vault_before: int, owed: int) -> None:
        paid = vault_before - self.pool.reserves(self.chain).sol
        delta = paid - owed
        if delta != 0:
            self._add_lamports(user, -delta)
            self._add_lamports(self.pool.address, delta)

    def _add_tokens(self, address: Pubkey, amount: int) -> None:
        account = self.chain.get_account(address)
        if account is None:
            return
        data = bytearray(account.data)
        current = TokenAccount.from_bytes(bytes(data[:165])).amount
        data[_AMOUNT] = struct.pack("<Q", max(current + amount, 0))
        self.chain.set_account(
            address,
            Account(
                account.lamports, bytes(data), account.owner, account.executable, account.rent_epoch
            ),
        )

    def _add_lamports(self, address: Pubkey, amount: int) -> None:
        account = self.chain.get_account(address)
        if account is None:
            return
        self.chain.set_account(
            address,
            Account(
                account.lamports + amount,
                account.data,
                account.owner,
                account.executable,
                account.rent_epoch,
            ),
        )
