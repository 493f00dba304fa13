"""Reading SPL Token and Token-2022 accounts straight from their bytes (for balances and RPC)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from solders.account import Account
from solders.pubkey import Pubkey
from solders.token.state import Mint, TokenAccount, TokenAccountState

TOKEN_PROGRAM_ID = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
TOKEN_2022_PROGRAM_ID = Pubkey.from_string("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb")
TOKEN_PROGRAMS = frozenset({TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID})

ACCOUNT_LEN = 165
MINT_LEN = 82
# Token-2022 puts an account-type byte right after the base account layout when extensions follow.
_ACCOUNT_TYPE_OFFSET = ACCOUNT_LEN
_ACCOUNT_TYPE_MINT = 1
_ACCOUNT_TYPE_ACCOUNT = 2


@dataclass(frozen=True)
class TokenHolding:
    """A token account's parsed base state."""

    address: Pubkey
    program_id: Pubkey
    mint: Pubkey
    owner: Pubkey
    amount: int
    state: TokenAccountState
    is_native: int | None
    delegate: Pubkey | None
    delegated_amount: int
    close_authority: Pubkey | None


def is_token_account(account: Account) -> bool:
    if account.owner not in TOKEN_PROGRAMS:
        return False
    size = len(account.data)
    if size == ACCOUNT_LEN:
        return True
    return (
        account.owner == TOKEN_2022_PROGRAM_ID
        and size > ACCOUNT_LEN
        and account.data[_ACCOUNT_TYPE_OFFSET] == _ACCOUNT_TYPE_ACCOUNT
    )


def is_mint(account: Account) -> bool:
    if account.owner not in TOKEN_PROGRAMS:
        return False
    size = len(account.data)
    if size == MINT_LEN:
        return True
    # A Token-2022 mint with extensions is padded to the account length, then typed.
    return (
        account.owner == TOKEN_2022_PROGRAM_ID
        and size > ACCOUNT_LEN
        and account.data[_ACCOUNT_TYPE_OFFSET] == _ACCOUNT_TYPE_MINT
    )


def parse_token_account(address: Pubkey, account: Account) -> TokenHolding | None:
    """The holding, or None when the account is not an initialized token account."""
    if not is_token_account(account):
        return None
    try:
        state = TokenAccount.from_bytes(bytes(account.data[:ACCOUNT_LEN]))
    except ValueError:
        return None
    if state.state == TokenAccountState.Uninitialized:
        return None
    return TokenHolding(
        address=address,
        program_id=account.owner,
        mint=state.mint,
        owner=state.owner,
        amount=state.amount,
        state=state.state,
        is_native=state.is_native,
        delegate=state.delegate,
        delegated_amount=state.delegated_amount,
        close_authority=state.close_authority,
    )


def parse_mint(account: Account) -> Mint | None:
    if not is_mint(account):
        return None
    try:
        mint = Mint.from_bytes(bytes(account.data[:MINT_LEN]))
    except ValueError:
        return None
    return mint if mint.is_initialized else None


def ui_amount_string(amount: int, decimals: int) -> str:
    """The RPC's trimmed decimal form: 1500000 at 6 decimals is "1.5", 0 is "0"."""
    if decimals == 0:
        return str(amount)
    text = format(Decimal(amount).scaleb(-decimals), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def ui_token_amount(amount: int, decimals: int) -> dict[str, object]:
    """The RPC's `uiTokenAmount`; `uiAmount` is a float only because the wire format says so."""
    text = ui_amount_string(amount, decimals)
    return {
        "amount": str(amount),
        "decimals": decimals,
        "uiAmount": float(Decimal(text)),
        "uiAmountString": text,
    }
