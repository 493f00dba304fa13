"""Token reads and token balances in history, for an SPL Token mint and a Token-2022 fee mint."""

from __future__ import annotations

from typing import Any

import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.core import RPCException
from solana.rpc.models import TokenAccountOpts
from solders.account import Account
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction
from solders.transaction_status import (
    EncodedConfirmedTransactionWithStatusMeta,
    UiRawMessage,
    UiTransaction,
)
from spl.token.instructions import (
    transfer_checked,
)
from spl.token.models import (
    TransferCheckedParams,
)

from flywheel.sandbox.chain.runtime import SandboxChain
from flywheel.sandbox.chain.tokens import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID
from tests.sandbox.harness import FEE_BPS, SOL, TokenSetup, make_token


def account_keys(got: EncodedConfirmedTransactionWithStatusMeta) -> list[Pubkey]:
    """The keys of a transaction fetched with encoding "json"."""
    tx = got.transaction.transaction
    assert isinstance(tx, UiTransaction) and isinstance(tx.message, UiRawMessage)
    return list(tx.message.account_keys)


@pytest.fixture
def tokens(rpc_chain: SandboxChain) -> tuple[Keypair, Keypair, TokenSetup, TokenSetup]:
    payer, alice, bob = Keypair(), Keypair(), Keypair()
    for wallet in (payer, alice):
        rpc_chain.airdrop(wallet.pubkey(), 10 * SOL)
    spl = make_token(rpc_chain, payer, alice.pubkey(), bob.pubkey(), TOKEN_PROGRAM_ID, 6)
    t22 = make_token(rpc_chain, payer, alice.pubkey(), bob.pubkey(), TOKEN_2022_PROGRAM_ID, 9)
    return alice, bob, spl, t22


@pytest.mark.parametrize("which", ["spl", "token-2022"])
async def test_token_balances_in_get_transaction(
    rpc_client: AsyncClient,
    tokens: tuple[Keypair, Keypair, TokenSetup, TokenSetup],
    which: str,
) -> None:
    alice, bob, spl, t22 = tokens
    token = spl if which == "spl" else t22
    amount = 250 * 10**token.decimals
    ix = transfer_checked(
        TransferCheckedParams(
            program_id=token.program,
            source=token.alice_ata,
            mint=token.mint,
            dest=token.bob_ata,
            owner=alice.pubkey(),
            amount=amount,
            decimals=token.decimals,
        )
    )
    blockhash = (await rpc_client.get_latest_blockhash()).value.blockhash
    tx = VersionedTransaction(MessageV0.try_compile(alice.pubkey(), [ix], [], blockhash), [alice])
    sig = (await rpc_client.send_transaction(tx)).value

    got = (await rpc_client.get_transaction(sig, max_supported_transaction_version=0)).value
    assert got is not None and got.transaction.meta is not None
    meta = got.transaction.meta
    keys = account_keys(got)
    pre = {str(keys[b.account_index]): b for b in meta.pre_token_balances or []}
    post = {str(keys[b.account_index]): b for b in meta.post_token_balances or []}
    alice_ata, bob_ata = str(token.alice_ata), str(token.bob_ata)
    assert set(pre) == set(post) == {alice_ata, bob_ata}
    for balance in [*pre.values(), *post.values()]:
        assert balance.mint == token.mint and balance.program_id == token.program
        assert balance.ui_token_amount.decimals == token.decimals
    assert pre[alice_ata].owner == alice.pubkey() and pre[bob_ata].owner == bob.pubkey()
    minted = 1_000 * 10**token.decimals
    assert int(pre[alice_ata].ui_token_amount.amount) == minted
    assert int(post[alice_ata].ui_token_amount.amount) == minted - amount
    # The fee mint withholds its fee inside the recipient's account: it arrives short.
    received = amount - (amount * FEE_BPS // 10_000 if which == "token-2022" else 0)
    assert int(post[bob_ata].ui_token_amount.amount) == received
    assert post[alice_ata].ui_token_amount.ui_amount_string == "750"
    bob_balance = (await rpc_client.get_token_account_balance(token.bob_ata)).value
    assert (int(bob_balance.amount), bob_balance.decimals) == (received, token.decimals)


async def test_token_reads_for_both_programs(
    rpc_client: AsyncClient, tokens: tuple[Keypair, Keypair, TokenSetup, TokenSetup]
) -> None:
    alice, _bob, spl, t22 = tokens
    for token in (spl, t22):
        supply = (await rpc_client.get_token_supply(token.mint)).value
        assert (supply.amount, supply.decimals) == (str(1_000 * 10**token.decimals), token.decimals)
        assert supply.ui_amount_string == "1000"
        by_mint = await rpc_client.get_token_accounts_by_owner_json_parsed(
            alice.pubkey(), TokenAccountOpts(mint=token.mint)
        )
        [entry] = by_mint.value
        assert entry.pubkey == token.alice_ata
        parsed: dict[str, Any] = entry.account.data.parsed
        assert entry.account.data.program == ("spl-token" if token is spl else "spl-token-2022")
        assert parsed["type"] == "account" and parsed["info"]["state"] == "initialized"
        assert parsed["info"]["mint"] == str(token.mint)
        assert parsed["info"]["tokenAmount"]["amount"] == str(1_000 * 10**token.decimals)

    by_program = await rpc_client.get_token_accounts_by_owner(
        alice.pubkey(), TokenAccountOpts(program_id=TOKEN_2022_PROGRAM_ID)
    )
    [raw] = by_program.value
    assert raw.pubkey == t22.alice_ata and raw.account.owner == TOKEN_2022_PROGRAM_ID
    assert len(raw.account.data) > 165  # Token-2022 extensions follow the base layout
    assert bytes(raw.account.data[:32]) == bytes(t22.mint)

    with pytest.raises(RPCException):
        await rpc_client.get_token_account_balance(alice.pubkey())  # a wallet, not a token account
    with pytest.raises(RPCException):
        await rpc_client.get_token_supply(alice.pubkey())


async def test_json_parsed_mint_and_closed_account_read_absent(
    rpc_chain: SandboxChain,
    rpc_client: AsyncClient,
    tokens: tuple[Keypair, Keypair, TokenSetup, TokenSetup],
) -> None:
    _alice, _bob, spl, t22 = tokens
    for token in (spl, t22):
        info = (await rpc_client.get_account_info_json_parsed(token.mint)).value
        assert info is not None
        parsed: dict[str, Any] = info.data.parsed  # type: ignore[union-attr]
        assert parsed["type"] == "mint" and parsed["info"]["decimals"] == token.decimals
    gone = Keypair().pubkey()
    rpc_chain.set_account(gone, Account(0, b"", Pubkey.default(), False, 0))
    assert (await rpc_client.get_account_info(gone)).value is None
