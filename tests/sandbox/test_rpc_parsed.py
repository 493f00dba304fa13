"""getTransaction with encoding "jsonParsed": the shape a node answers (and that solders, like
the JavaScript client's getParsedTransaction, reads), for the instructions the flywheel sends,
an unknown program, and an instruction too short to parse."""

from __future__ import annotations

from typing import Any

import httpx
from solana.rpc.async_api import AsyncClient
from solders.compute_budget import set_compute_unit_limit
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction_status import ParsedInstruction, UiParsedMessage, UiTransaction
from spl.token.instructions import (
    burn_checked,
    create_idempotent_associated_token_account,
    transfer_checked,
)
from spl.token.models import BurnCheckedParams, TransferCheckedParams

from flywheel.sandbox.chain.runtime import SandboxChain
from flywheel.sandbox.chain.tokens import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID
from flywheel.sandbox.rpc.parsed import parsed_instruction
from tests.sandbox.harness import SOL, make_token, send


def get_parsed(url: str, signature: Signature) -> dict[str, Any]:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "getTransaction",
        "params": [
            str(signature),
            {"encoding": "jsonParsed", "maxSupportedTransactionVersion": 0},
        ],
    }
    result: dict[str, Any] = httpx.post(url, json=body, timeout=10).json()["result"]
    return result


def last_signature(chain: SandboxChain, payer: Keypair) -> Signature:
    return chain.signatures_for_address(payer.pubkey(), before=None, until=None, limit=1)[
        0
    ].signature


async def test_a_sol_transfer_is_parsed_with_account_objects(
    rpc_server: tuple[SandboxChain, str], rpc_client: AsyncClient, funded_wallet: Keypair
) -> None:
    chain, url = rpc_server
    to = Pubkey.new_unique()
    ixs = [
        set_compute_unit_limit(10_000),
        transfer(TransferParams(from_pubkey=funded_wallet.pubkey(), to_pubkey=to, lamports=SOL)),
    ]
    send(chain, funded_wallet, ixs)
    signature = last_signature(chain, funded_wallet)
    result = get_parsed(url, signature)

    message = result["transaction"]["message"]
    assert "header" not in message and "loadedAddresses" not in result["meta"]
    keys = {k["pubkey"]: k for k in message["accountKeys"]}
    assert keys[str(funded_wallet.pubkey())] == {
        "pubkey": str(funded_wallet.pubkey()),
        "signer": True,
        "writable": True,
        "source": "transaction",
    }
    assert keys[str(to)]["writable"] and not keys[str(to)]["signer"]
    assert not keys["11111111111111111111111111111111"]["writable"]
    budget, sol = message["instructions"]
    assert budget["programId"] == "ComputeBudget111111111111111111111111111111"
    assert set(budget) == {"programId", "accounts", "data", "stackHeight"}  # not parsable
    assert sol == {
        "program": "system",
        "programId": "11111111111111111111111111111111",
        "parsed": {
            "type": "transfer",
            "info": {
                "source": str(funded_wallet.pubkey()),
                "destination": str(to),
                "lamports": SOL,
            },
        },
        "stackHeight": None,
    }

    # solana-py (solders) reads the same answer as a parsed transaction.
    got = await rpc_client.get_transaction(
        signature, encoding="jsonParsed", max_supported_transaction_version=0
    )
    assert got.value is not None
    tx = got.value.transaction.transaction
    assert isinstance(tx, UiTransaction) and isinstance(tx.message, UiParsedMessage)
    assert str(funded_wallet.pubkey()) in tx.message.account_keys[0].to_json()
    parsed = tx.message.instructions[1]
    assert isinstance(parsed, ParsedInstruction) and parsed.program == "system"


def test_token_instructions_are_parsed_for_both_token_programs(
    rpc_server: tuple[SandboxChain, str],
) -> None:
    chain, url = rpc_server
    payer, alice, bob = Keypair(), Keypair(), Keypair()
    for wallet in (payer, alice):
        chain.airdrop(wallet.pubkey(), 10 * SOL)
    for program, decimals in ((TOKEN_PROGRAM_ID, 6), (TOKEN_2022_PROGRAM_ID, 9)):
        token = make_token(chain, payer, alice.pubkey(), bob.pubkey(), program, decimals)
        ixs: list[Instruction] = [
            create_idempotent_associated_token_account(
                alice.pubkey(), bob.pubkey(), token.mint, program
            ),
            transfer_checked(
                TransferCheckedParams(
                    program_id=program,
                    source=token.alice_ata,
                    mint=token.mint,
                    dest=token.bob_ata,
                    owner=alice.pubkey(),
                    amount=250 * 10**decimals,
                    decimals=decimals,
                )
            ),
            burn_checked(
                BurnCheckedParams(
                    program_id=program,
                    account=token.alice_ata,
                    mint=token.mint,
                    owner=alice.pubkey(),
                    amount=5 * 10**decimals,
                    decimals=decimals,
                )
            ),
        ]
        send(chain, alice, ixs)
        result = get_parsed(url, last_signature(chain, alice))
        create, moved, burned = result["transaction"]["message"]["instructions"]

        assert create["program"] == "spl-associated-token-account"
        assert create["parsed"]["type"] == "createIdempotent"
        assert create["parsed"]["info"]["wallet"] == str(bob.pubkey())
        assert create["parsed"]["info"]["tokenProgram"] == str(program)
        assert moved["program"] == burned["program"] == "spl-token"  # one name for both
        assert moved["programId"] == str(program)
        assert moved["parsed"] == {
            "type": "transferChecked",
            "info": {
                "source": str(token.alice_ata),
                "mint": str(token.mint),
                "destination": str(token.bob_ata),
                "authority": str(alice.pubkey()),
                "tokenAmount": {
                    "amount": str(250 * 10**decimals),
                    "decimals": decimals,
                    "uiAmount": 250.0,
                    "uiAmountString": "250",
                },
            },
        }
        assert burned["parsed"]["type"] == "burnChecked"
        assert burned["parsed"]["info"]["account"] == str(token.alice_ata)
        assert burned["parsed"]["info"]["tokenAmount"]["amount"] == str(5 * 10**decimals)


def test_an_instruction_too_short_to_parse_is_shown_partially_decoded() -> None:
    source, destination = str(Pubkey.new_unique()), str(Pubkey.new_unique())
    truncated = bytes([12, 1, 2])  # TransferChecked without its amount and decimals
    shown = parsed_instruction(TOKEN_PROGRAM_ID, truncated, [source, destination])
    assert shown == {
        "programId": str(TOKEN_PROGRAM_ID),
        "accounts": [source, destination],
        "data": "52rd",  # base58 of the three bytes
        "stackHeight": None,
    }
    too_few_accounts = parsed_instruction(
        Pubkey.from_string("11111111111111111111111111111111"),
        bytes([2, 0, 0, 0]) + (5).to_bytes(8, "little"),
        [source],
    )
    assert "parsed" not in too_few_accounts


def test_a_multisig_authority_lists_its_signers() -> None:
    keys = [str(Pubkey.new_unique()) for _ in range(6)]
    data = bytes([15]) + (7).to_bytes(8, "little") + bytes([0])
    shown = parsed_instruction(TOKEN_PROGRAM_ID, data, keys)
    info = shown["parsed"]["info"]
    assert info["multisigAuthority"] == keys[2] and info["signers"] == keys[3:]
    assert "authority" not in info
