"""The one token-account parser, on accounts a real token program wrote (the sandbox's LiteSVM):
SPL Token and Token-2022 (with extensions after the base layout), and what is not a token
account (a mint, a system account, truncated or foreign data)."""

from __future__ import annotations

import pytest
from solders.account import Account
from solders.keypair import Keypair
from solders.system_program import ID as SYSTEM_PROGRAM_ID

from flywheel.sandbox.chain.runtime import SandboxChain
from flywheel.sandbox.chain.tokens import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID
from flywheel.solana.tokens import TOKEN_ACCOUNT_LEN, token_snapshot
from tests.sandbox.harness import SOL, make_token


@pytest.mark.parametrize("program", [TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID], ids=str)
def test_a_token_account_of_either_program_is_read(program) -> None:
    chain = SandboxChain(slot_ms=0)
    payer, alice, bob = Keypair(), Keypair(), Keypair()
    chain.airdrop(payer.pubkey(), 10 * SOL)
    token = make_token(chain, payer, alice.pubkey(), bob.pubkey(), program, 6)
    account = chain.get_account(token.alice_ata)
    assert account is not None
    held = token_snapshot(account)
    assert held is not None
    assert (held.mint, held.owner, held.amount) == (token.mint, alice.pubkey(), 1_000 * 10**6)
    assert held.delegate is None and held.close_authority is None and held.native_reserve is None
    assert held.lamports == account.lamports == held.locked_rent

    assert token_snapshot(chain.get_account(token.mint)) is None  # a mint of the same program
    data = bytes(account.data)
    cut = Account(account.lamports, data[: TOKEN_ACCOUNT_LEN - 1], program, False, 0)
    assert token_snapshot(cut) is None


def test_what_is_not_a_token_account_is_none() -> None:
    assert token_snapshot(None) is None
    plain = Account(SOL, b"", SYSTEM_PROGRAM_ID, False, 0)
    assert token_snapshot(plain) is None
    foreign = Account(SOL, bytes(TOKEN_ACCOUNT_LEN), SYSTEM_PROGRAM_ID, False, 0)
    assert token_snapshot(foreign) is None  # the right size, owned by another program
    garbage = Account(SOL, b"\xff" * TOKEN_ACCOUNT_LEN, TOKEN_PROGRAM_ID, False, 0)
    assert token_snapshot(garbage) is None  # an invalid account state byte
