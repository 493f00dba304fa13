"""getProgramAccounts: the program's accounts that pass every memcmp and dataSize filter."""

from __future__ import annotations

import base64
from collections.abc import Callable

from flywheel.sandbox.chain.b58 import b58decode
from flywheel.sandbox.chain.runtime import SandboxChain
from flywheel.sandbox.rpc import params as p
from flywheel.sandbox.rpc.encode import Json, account_json, invalid_params
from flywheel.sandbox.rpc.methods import _data_slice, _encoding, method


@method("getProgramAccounts")
def get_program_accounts(chain: SandboxChain, params: list[Json]) -> Json:
    """Memcmp and dataSize filters, as mainnet applies them (every filter must match)."""
    program = p.pubkey(p.arg(params, 0, "program id"))
    cfg = p.config(params, 1)
    encoding, data_slice = _encoding(cfg), _data_slice(cfg)
    filters = cfg.get("filters") or []
    if not isinstance(filters, list):
        raise invalid_params("filters must be a list")
    checks: list[Callable[[bytes], bool]] = []
    for entry in filters:
        checks.append(_account_filter(entry))
    with chain.lock:
        found = [
            (address, account)
            for address, account in chain.svm.get_program_accounts(program)
            if account.lamports > 0 and all(check(bytes(account.data)) for check in checks)
        ]
        return [
            {
                "pubkey": str(address),
                "account": account_json(
                    address, account, encoding, chain.mint_decimals, data_slice
                ),
            }
            for address, account in sorted(found, key=lambda item: str(item[0]))
        ]


def _account_filter(entry: Json) -> Callable[[bytes], bool]:
    if isinstance(entry, dict) and "dataSize" in entry:
        size = p.integer(entry["dataSize"], "dataSize")
        return lambda data: len(data) == size
    if isinstance(entry, dict) and isinstance(entry.get("memcmp"), dict):
        memcmp = entry["memcmp"]
        offset = p.integer(memcmp.get("offset"), "offset")
        raw = memcmp.get("bytes")
        if not isinstance(raw, str):
            raise invalid_params("memcmp.bytes must be a string")
        try:
            wanted = (
                base64.b64decode(raw, validate=True)
                if memcmp.get("encoding") == "base64"
                else b58decode(raw)
            )
        except ValueError:
            raise invalid_params("memcmp.bytes is not valid base58 or base64") from None
        return lambda data: data[offset : offset + len(wanted)] == wanted
    raise invalid_params("each filter must be a memcmp or dataSize object")
