"""The JSON shapes of Solana JSON-RPC results, as solders (and so solana-py) parse them."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from solders.account import Account
from solders.pubkey import Pubkey
from solders.transaction_status import TransactionErrorType, TransactionStatus

from flywheel.sandbox.chain.b58 import b58encode
from flywheel.sandbox.chain.ledger import TokenBalance, TxRecord
from flywheel.sandbox.chain.tokens import (
    TOKEN_2022_PROGRAM_ID,
    parse_mint,
    parse_token_account,
    ui_token_amount,
)

API_VERSION = "2.1.21"
FEATURE_SET = 1_416_569_292
MAX_BASE58_ACCOUNT_BYTES = 128  # a real node refuses larger accounts in base58

Json = Any
DecimalsLookup = Callable[[Pubkey], int | None]
_STATE_NAMES = {0: "uninitialized", 1: "initialized", 2: "frozen"}  # TokenAccountState


class RpcError(Exception):
    """A JSON-RPC error object, raised by a method and written into the response."""

    def __init__(self, code: int, message: str, data: Json = None) -> None:
        self.code = code
        self.message = message
        self.data = data
        super().__init__(message)

    def to_json(self) -> dict[str, Json]:
        error: dict[str, Json] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def invalid_params(detail: str) -> RpcError:
    return RpcError(-32602, f"Invalid params: {detail}")


def context(slot: int) -> dict[str, Json]:
    return {"slot": slot, "apiVersion": API_VERSION}


def with_context(slot: int, value: Json) -> dict[str, Json]:
    return {"context": context(slot), "value": value}


def error_json(err: TransactionErrorType | None) -> Json:
    """A TransactionError as the RPC writes it (solders knows every variant's spelling)."""
    if err is None:
        return None
    status = TransactionStatus(0, None, err=err, status=None, confirmation_status=None)
    return json.loads(status.to_json())["err"]


def status_json(err: TransactionErrorType | None) -> Json:
    return {"Ok": None} if err is None else {"Err": error_json(err)}


def program_name(program_id: Pubkey) -> str:
    return "spl-token-2022" if program_id == TOKEN_2022_PROGRAM_ID else "spl-token"


def _parsed_data(address: Pubkey, account: Account, decimals_of: DecimalsLookup) -> Json:
    """jsonParsed data for token accounts and mints; None when there is no parser for it."""
    holding = parse_token_account(address, account)
    if holding is not None:
        decimals = decimals_of(holding.mint)
        if decimals is None:
            return None
        state = _STATE_NAMES.get(int(holding.state), "uninitialized")
        info: dict[str, Json] = {
            "isNative": holding.is_native is not None,
            "mint": str(holding.mint),
            "owner": str(holding.owner),
            "state": state,
            "tokenAmount": ui_token_amount(holding.amount, decimals),
        }
        if holding.delegate is not None:
            info["delegate"] = str(holding.delegate)
            info["delegatedAmount"] = ui_token_amount(holding.delegated_amount, decimals)
        if holding.close_authority is not None:
            info["closeAuthority"] = str(holding.close_authority)
        if holding.is_native is not None:
            info["rentExemptReserve"] = ui_token_amount(holding.is_native, 9)
        parsed: Json = {"info": info, "type": "account"}
    else:
        mint = parse_mint(account)
        if mint is None:
            return None
        parsed = {
            "info": {
                "decimals": mint.decimals,
                "freezeAuthority": _opt(mint.freeze_authority),
                "isInitialized": mint.is_initialized,
                "mintAuthority": _opt(mint.mint_authority),
                "supply": str(mint.supply),
            },
            "type": "mint",
        }
    return {"program": program_name(account.owner), "parsed": parsed, "space": len(account.data)}


def _opt(key: Pubkey | None) -> str | None:
    return None if key is None else str(key)


def account_json(
    address: Pubkey,
    account: Account | None,
    encoding: str,
    decimals_of: DecimalsLookup,
    data_slice: tuple[int, int] | None = None,
) -> Json:
    if account is None:
        return None
    raw = bytes(account.data)
    data: Json
    parsed = (
        _parsed_data(address, account, decimals_of)
        if encoding == "jsonParsed" and data_slice is None
        else None
    )
    if parsed is not None:
        data = parsed
    else:
        if data_slice is not None:
            offset, length = data_slice
            raw = raw[offset : offset + length]
        if encoding == "base58":
            if len(raw) > MAX_BASE58_ACCOUNT_BYTES:
                raise RpcError(
                    -32600, "Encoded binary (base 58) data should be less than 128 bytes"
                )
            data = [b58encode(raw), "base58"]
        else:
            # jsonParsed without a parser falls back to base64, as on a real node.
            data = [base64.b64encode(raw).decode(), "base64"]
    return {
        "lamports": account.lamports,
        "data": data,
        "owner": str(account.owner),
        "executable": account.executable,
        "rentEpoch": account.rent_epoch,
        "space": len(account.data),
    }


def token_balance_json(balance: TokenBalance) -> Json:
    return {
        "accountIndex": balance.account_index,
        "mint": str(balance.mint),
        "owner": str(balance.owner),
        "programId": str(balance.program_id),
        "uiTokenAmount": ui_token_amount(balance.amount, balance.decimals),
    }


def transaction_json(record: TxRecord) -> Json:
    """getTransaction's result with encoding "json"."""
    message = record.tx.message
    header = message.header
    keys = list(message.account_keys)
    ui_message: dict[str, Json] = {
        "accountKeys": [str(k) for k in keys],
        "header": {
            "numRequiredSignatures": header.num_required_signatures,
            "numReadonlySignedAccounts": header.num_readonly_signed_accounts,
            "numReadonlyUnsignedAccounts": header.num_readonly_unsigned_accounts,
        },
        "recentBlockhash": str(message.recent_blockhash),
        "instructions": [
            {
                "programIdIndex": ix.program_id_index,
                "accounts": list(bytes(ix.accounts)),
                "data": b58encode(bytes(ix.data)),
                "stackHeight": None,
            }
            for ix in message.instructions
        ],
    }
    if record.version != "legacy":
        ui_message["addressTableLookups"] = [
            {
                "accountKey": str(lookup.account_key),
                "writableIndexes": list(bytes(lookup.writable_indexes)),
                "readonlyIndexes": list(bytes(lookup.readonly_indexes)),
            }
            for lookup in getattr(message, "address_table_lookups", [])
        ]
    meta: dict[str, Json] = {
        "err": error_json(record.err),
        "status": status_json(record.err),
        "fee": record.fee,
        "preBalances": record.pre_balances,
        "postBalances": record.post_balances,
        "innerInstructions": [],
        "logMessages": record.logs,
        "preTokenBalances": [token_balance_json(b) for b in record.pre_token_balances],
        "postTokenBalances": [token_balance_json(b) for b in record.post_token_balances],
        "rewards": [],
        "loadedAddresses": {
            "writable": [str(k) for k in record.loaded_writable],
            "readonly": [str(k) for k in record.loaded_readonly],
        },
        "computeUnitsConsumed": record.compute_units,
    }
    return {
        "slot": record.slot,
        "blockTime": record.block_time,
        "version": record.version,
        "transaction": {
            "signatures": [str(s) for s in record.tx.signatures],
            "message": ui_message,
        },
        "meta": meta,
    }


def signature_info_json(record: TxRecord) -> Json:
    return {
        "signature": str(record.signature),
        "slot": record.slot,
        "err": error_json(record.err),
        "memo": record.memo,
        "blockTime": record.block_time,
        "confirmationStatus": "finalized",
    }
