"""Reading JSON-RPC params strictly: anything malformed is -32602, never a 500."""

from __future__ import annotations

import base64
import binascii

from solders.hash import Hash
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from flywheel.sandbox.chain.b58 import b58decode
from flywheel.sandbox.rpc.encode import Json, RpcError, invalid_params

PACKET_DATA_SIZE = 1232
MAX_BASE58_TX = 1683
MAX_BASE64_TX = 1644


def arg(params: list[Json], index: int, name: str) -> Json:
    if index >= len(params):
        raise invalid_params(f"missing {name}")
    return params[index]


def config(params: list[Json], index: int) -> dict[str, Json]:
    if index >= len(params) or params[index] is None:
        return {}
    value = params[index]
    if not isinstance(value, dict):
        raise invalid_params(f"expected a configuration object at position {index}")
    return value


def pubkey(value: Json) -> Pubkey:
    if not isinstance(value, str):
        raise RpcError(-32602, "Invalid param: Invalid")
    try:
        return Pubkey.from_string(value)
    except ValueError as exc:
        raise RpcError(-32602, "Invalid param: Invalid") from exc


def pubkeys(value: Json, *, limit: int) -> list[Pubkey]:
    if not isinstance(value, list):
        raise invalid_params("expected an array of public keys")
    if len(value) > limit:
        raise invalid_params(f"too many inputs provided; max {limit}")
    return [pubkey(v) for v in value]


def signature(value: Json) -> Signature:
    if not isinstance(value, str):
        raise RpcError(-32602, "Invalid param: Invalid")
    try:
        return Signature.from_string(value)
    except ValueError as exc:
        raise RpcError(-32602, "Invalid param: Invalid") from exc


def blockhash(value: Json) -> Hash:
    if not isinstance(value, str):
        raise RpcError(-32602, "Invalid param: Invalid")
    try:
        return Hash.from_string(value)
    except ValueError as exc:
        raise RpcError(-32602, "Invalid param: Invalid") from exc


def integer(value: Json, name: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise invalid_params(f"{name} must be an integer >= {minimum}")
    return value


def flag(cfg: dict[str, Json], name: str) -> bool:
    value = cfg.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise invalid_params(f"{name} must be a boolean")
    return value


def transaction(value: Json, encoding: Json) -> VersionedTransaction:
    """A wire transaction in base58 (the RPC's default) or base64."""
    if not isinstance(value, str):
        raise invalid_params("expected an encoded transaction")
    if encoding == "base64":
        if len(value) > MAX_BASE64_TX:
            raise invalid_params(
                f"base64 encoded transaction too large: {len(value)} bytes "
                f"(max: encoded/raw {MAX_BASE64_TX}/{PACKET_DATA_SIZE})"
            )
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise invalid_params(f"invalid base64 encoding: {exc}") from exc
    elif encoding in ("base58", None):
        if len(value) > MAX_BASE58_TX:
            raise invalid_params(
                f"base58 encoded transaction too large: {len(value)} bytes "
                f"(max: encoded/raw {MAX_BASE58_TX}/{PACKET_DATA_SIZE})"
            )
        try:
            raw = b58decode(value)
        except ValueError as exc:
            raise invalid_params(f"invalid base58 encoding: {exc}") from exc
    else:
        raise invalid_params(
            f"unsupported encoding: {encoding}. Supported encodings: base58, base64"
        )
    if len(raw) > PACKET_DATA_SIZE:
        raise invalid_params(f"transaction too large: {len(raw)} bytes (max {PACKET_DATA_SIZE})")
    try:
        return VersionedTransaction.from_bytes(raw)
    except Exception as exc:  # solders raises its own deserialization error types
        raise invalid_params(f"failed to deserialize transaction: {exc}") from exc
