"""Reading SPL token accounts (Token and Token-2022) from raw account data: the one parser the
wallet, the settlement, the sweep, the snapshot and the guard share."""

from __future__ import annotations

from dataclasses import dataclass

from solders.account import Account
from solders.pubkey import Pubkey
from solders.token.state import TokenAccount
from spl.token.constants import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID

TOKEN_PROGRAMS = (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID)
# The base layout; Token-2022 accounts append their extensions after it.
TOKEN_ACCOUNT_LEN = 165


@dataclass(frozen=True)
class TokenSnapshot:
    """A token account's state that matters to the flywheel."""

    mint: Pubkey
    owner: Pubkey
    amount: int
    lamports: int
    delegate: Pubkey | None
    close_authority: Pubkey | None
    native_reserve: int | None  # wrapped SOL: the rent reserve; amount is the wrapped SOL
    delegated_amount: int = 0
    data_len: int = TOKEN_ACCOUNT_LEN  # Token-2022 extensions make it longer, and its rent higher

    @property
    def locked_rent(self) -> int:
        """Lamports held as rent, not as wrapped SOL."""
        return self.lamports - self.amount if self.native_reserve is not None else self.lamports


def token_snapshot(account: Account | None) -> TokenSnapshot | None:
    """The account as a token account, or None if it is absent or not one."""
    if account is None or account.owner not in TOKEN_PROGRAMS:
        return None
    data = bytes(account.data)
    if len(data) < TOKEN_ACCOUNT_LEN:
        return None
    try:
        parsed = TokenAccount.from_bytes(data[:TOKEN_ACCOUNT_LEN])
    except Exception:  # a mint or a multisig of the same program: not a token account
        return None
    return TokenSnapshot(
        mint=parsed.mint,
        owner=parsed.owner,
        amount=parsed.amount,
        lamports=account.lamports,
        delegate=parsed.delegate,
        close_authority=parsed.close_authority,
        native_reserve=parsed.is_native,
        delegated_amount=parsed.delegated_amount,
        data_len=len(data),
    )
