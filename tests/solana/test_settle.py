"""Settlement builders on plain values: the mint's own token program, the right accounts."""

from __future__ import annotations

import pytest
from solders.account import Account
from solders.compute_budget import ID as COMPUTE_BUDGET_PROGRAM_ID
from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM_PROGRAM_ID
from solders.token.state import Mint
from spl.token.constants import ASSOCIATED_TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID
from spl.token.instructions import (
    decode_burn_checked,
    decode_transfer_checked,
    get_associated_token_address,
)

from flywheel.errors import OperationalError
from flywheel.solana.settle import (
    MintInfo,
    burn_instructions,
    parse_mint,
    signed_transaction,
    treasury_instructions,
)

OWNER = Keypair()
TREASURY = Pubkey.new_unique()
MINT = Pubkey.new_unique()


def mint_info(program: Pubkey) -> MintInfo:
    return MintInfo(address=MINT, token_program=program, decimals=6, supply=10**15)


@pytest.mark.parametrize("program", [TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID])
def test_burn_names_the_mints_program(program: Pubkey) -> None:
    (ix,) = burn_instructions(mint_info(program), OWNER.pubkey(), 1_234)
    assert ix.program_id == program
    params = decode_burn_checked(ix)
    assert params.amount == 1_234
    assert params.decimals == 6
    assert params.mint == MINT
    assert params.account == get_associated_token_address(OWNER.pubkey(), MINT, program)
    assert params.owner == OWNER.pubkey()


@pytest.mark.parametrize("program", [TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID])
def test_treasury_transfer_creates_the_ata_first(program: Pubkey) -> None:
    create, send = treasury_instructions(mint_info(program), OWNER.pubkey(), TREASURY, 99)
    assert create.program_id == ASSOCIATED_TOKEN_PROGRAM_ID
    assert bytes(create.data) == b"\x01"  # CreateIdempotent
    treasury_ata = get_associated_token_address(TREASURY, MINT, program)
    assert [m.pubkey for m in create.accounts][:4] == [
        OWNER.pubkey(),
        treasury_ata,
        TREASURY,
        MINT,
    ]
    assert send.program_id == program
    params = decode_transfer_checked(send)
    assert params.dest == treasury_ata
    assert params.amount == 99


def test_amounts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        burn_instructions(mint_info(TOKEN_PROGRAM_ID), OWNER.pubkey(), 0)


def test_signed_transaction_adds_a_budget_only_with_a_price() -> None:
    ixs = burn_instructions(mint_info(TOKEN_PROGRAM_ID), OWNER.pubkey(), 5)
    plain = signed_transaction(OWNER, ixs, Hash.new_unique())
    keys = plain.message.account_keys
    assert [keys[i.program_id_index] for i in plain.message.instructions] == [TOKEN_PROGRAM_ID]
    assert plain.verify_with_results() == [True]
    priced = signed_transaction(OWNER, ixs, Hash.new_unique(), compute_unit_price=1_000)
    keys = priced.message.account_keys
    programs = [keys[i.program_id_index] for i in priced.message.instructions]
    assert programs == [COMPUTE_BUDGET_PROGRAM_ID, COMPUTE_BUDGET_PROGRAM_ID, TOKEN_PROGRAM_ID]


def test_parse_mint_reads_the_owner_program() -> None:
    data = bytes(Mint(None, 777, 9, True, None))
    info = parse_mint(MINT, Account(1, data + bytes(196), TOKEN_2022_PROGRAM_ID))
    assert info == MintInfo(MINT, TOKEN_2022_PROGRAM_ID, 9, 777)
    with pytest.raises(OperationalError, match="not a token program"):
        parse_mint(MINT, Account(1, data, SYSTEM_PROGRAM_ID))
    with pytest.raises(OperationalError, match="does not exist"):
        parse_mint(MINT, None)
