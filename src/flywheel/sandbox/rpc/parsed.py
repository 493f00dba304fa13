"""getTransaction with encoding "jsonParsed", in a node's shape (agave's transaction-status).

The message has no header: `accountKeys` are objects (pubkey, signer, writable, source), and each
instruction is either parsed, `{program, programId, parsed: {type, info}, stackHeight}`, or, for
a program or an instruction the node cannot parse, partially decoded,
`{programId, accounts: [pubkey...], data: base58, stackHeight}`. The node parses the system
program, both SPL token programs (under the one name "spl-token") and the associated token
account program; of those, the instructions the sandbox sees are parsed here, and any other
falls back to partially decoded, as a node does for an instruction it cannot read. The meta drops
`loadedAddresses`: the keys it lists are in `accountKeys`, with source "lookupTable".
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM_PROGRAM_ID
from spl.token.constants import ASSOCIATED_TOKEN_PROGRAM_ID

from flywheel.sandbox.chain.b58 import b58encode
from flywheel.sandbox.chain.ledger import TxRecord
from flywheel.sandbox.chain.tokens import TOKEN_PROGRAMS, ui_token_amount

Json = Any

Parser = Callable[[bytes, list[str]], tuple[str, dict[str, Json]] | None]


class _Unparsable(Exception):
    """The data or the accounts do not fit the instruction: a node shows it partially decoded."""


def _u64(data: bytes, offset: int) -> int:
    if len(data) < offset + 8:
        raise _Unparsable
    value: int = struct.unpack_from("<Q", data, offset)[0]
    return value


def _need(accounts: list[str], count: int) -> None:
    if len(accounts) < count:
        raise _Unparsable


def _system(data: bytes, accounts: list[str]) -> tuple[str, dict[str, Json]] | None:
    if len(data) < 4:
        raise _Unparsable
    (tag,) = struct.unpack_from("<I", data, 0)
    if tag == 0:  # CreateAccount {lamports, space, owner}
        _need(accounts, 2)
        if len(data) < 52:
            raise _Unparsable
        return "createAccount", {
            "source": accounts[0],
            "newAccount": accounts[1],
            "lamports": _u64(data, 4),
            "space": _u64(data, 12),
            "owner": str(Pubkey.from_bytes(data[20:52])),
        }
    if tag == 2:  # Transfer {lamports}
        _need(accounts, 2)
        return "transfer", {
            "source": accounts[0],
            "destination": accounts[1],
            "lamports": _u64(data, 4),
        }
    return None


def _signers(info: dict[str, Json], accounts: list[str], at: int, name: str) -> None:
    """One signer is `name`; more accounts after it mean a multisig and its signers."""
    if len(accounts) > at + 1:
        info["multisig" + name[0].upper() + name[1:]] = accounts[at]
        info["signers"] = accounts[at + 1 :]
    else:
        info[name] = accounts[at]


def _checked_amount(data: bytes) -> dict[str, Json]:
    if len(data) < 10:
        raise _Unparsable
    return ui_token_amount(_u64(data, 1), data[9])


def _token(data: bytes, accounts: list[str]) -> tuple[str, dict[str, Json]] | None:
    if not data:
        raise _Unparsable
    tag = data[0]
    info: dict[str, Json]
    if tag == 3:  # Transfer {amount}
        _need(accounts, 3)
        info = {"source": accounts[0], "destination": accounts[1], "amount": str(_u64(data, 1))}
        _signers(info, accounts, 2, "authority")
        return "transfer", info
    if tag == 9:  # CloseAccount
        _need(accounts, 3)
        info = {"account": accounts[0], "destination": accounts[1]}
        _signers(info, accounts, 2, "owner")
        return "closeAccount", info
    if tag == 12:  # TransferChecked {amount, decimals}
        _need(accounts, 4)
        info = {
            "source": accounts[0],
            "mint": accounts[1],
            "destination": accounts[2],
            "tokenAmount": _checked_amount(data),
        }
        _signers(info, accounts, 3, "authority")
        return "transferChecked", info
    if tag == 14:  # MintToChecked {amount, decimals}
        _need(accounts, 3)
        info = {"mint": accounts[0], "account": accounts[1], "tokenAmount": _checked_amount(data)}
        _signers(info, accounts, 2, "mintAuthority")
        return "mintToChecked", info
    if tag == 15:  # BurnChecked {amount, decimals}
        _need(accounts, 3)
        info = {"account": accounts[0], "mint": accounts[1], "tokenAmount": _checked_amount(data)}
        _signers(info, accounts, 2, "authority")
        return "burnChecked", info
    return None


def _associated_token(data: bytes, accounts: list[str]) -> tuple[str, dict[str, Json]] | None:
    kinds = {b"": "create", b"\x00": "create", b"\x01": "createIdempotent"}
    kind = kinds.get(data)
    if kind is None:
        return None
    _need(accounts, 6)
    names = ("source", "account", "wallet", "mint", "systemProgram", "tokenProgram")
    return kind, dict(zip(names, accounts, strict=False))


def _parser(program_id: Pubkey) -> tuple[str, Parser] | None:
    if program_id == SYSTEM_PROGRAM_ID:
        return "system", _system
    if program_id in TOKEN_PROGRAMS:
        return "spl-token", _token
    if program_id == ASSOCIATED_TOKEN_PROGRAM_ID:
        return "spl-associated-token-account", _associated_token
    return None


def parsed_instruction(program_id: Pubkey, data: bytes, accounts: list[str]) -> dict[str, Json]:
    """One instruction as a node's jsonParsed writes it."""
    known = _parser(program_id)
    if known is not None:
        name, parse = known
        try:
            parsed = parse(data, accounts)
        except _Unparsable:
            parsed = None
        if parsed is not None:
            kind, info = parsed
            return {
                "program": name,
                "programId": str(program_id),
                "parsed": {"type": kind, "info": info},
                "stackHeight": None,
            }
    return {
        "programId": str(program_id),
        "accounts": accounts,
        "data": b58encode(data),
        "stackHeight": None,
    }


def parsed_message(record: TxRecord) -> dict[str, Json]:
    message = record.tx.message
    keys = record.account_keys
    static = len(message.account_keys)
    signers = message.header.num_required_signatures
    account_keys = [
        {
            "pubkey": str(key),
            "signer": index < signers,
            "writable": key in record.writable_keys,
            "source": "transaction" if index < static else "lookupTable",
        }
        for index, key in enumerate(keys)
    ]
    instructions = [
        parsed_instruction(
            keys[ix.program_id_index], bytes(ix.data), [str(keys[i]) for i in bytes(ix.accounts)]
        )
        for ix in message.instructions
    ]
    body: dict[str, Json] = {
        "accountKeys": account_keys,
        "recentBlockhash": str(message.recent_blockhash),
        "instructions": instructions,
    }
    if record.version != "legacy":
        body["addressTableLookups"] = [
            {
                "accountKey": str(lookup.account_key),
                "writableIndexes": list(bytes(lookup.writable_indexes)),
                "readonlyIndexes": list(bytes(lookup.readonly_indexes)),
            }
            for lookup in getattr(message, "address_table_lookups", [])
        ]
    return body


def parsed_transaction_json(body: dict[str, Json], record: TxRecord) -> dict[str, Json]:
    """`body` (getTransaction's "json" result for `record`) re-encoded as jsonParsed."""
    body["transaction"]["message"] = parsed_message(record)
    body["meta"].pop("loadedAddresses", None)
    return body
