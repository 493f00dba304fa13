"""The state memo of a transaction, read as anyone would: getTransaction from the sandbox's RPC
server, the transaction's own bytes decoded, the Memo program's instruction data parsed."""

from __future__ import annotations

import base64

import httpx
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from flywheel.domain.anchor import Anchor, parse_anchor

MEMO_PROGRAM = Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")


def memo_texts(rpc_url: str, signature: str) -> list[str]:
    """The Memo instructions' texts in the landed transaction `signature`."""
    answer = httpx.post(
        rpc_url,
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "getTransaction",
            "params": [
                signature,
                {"encoding": "base64", "maxSupportedTransactionVersion": 0},
            ],
        },
        timeout=10,
    ).json()
    result = answer["result"]
    assert result is not None, f"no transaction {signature}"
    assert result["meta"]["err"] is None, result["meta"]["err"]
    tx = VersionedTransaction.from_bytes(base64.b64decode(result["transaction"][0]))
    keys = tx.message.account_keys
    return [
        bytes(ix.data).decode()
        for ix in tx.message.instructions
        if keys[ix.program_id_index] == MEMO_PROGRAM
    ]


def state_memo(rpc_url: str, signature: str) -> Anchor | None:
    """The one state memo of the transaction, or None when it carries none."""
    found = [a for a in (parse_anchor(t) for t in memo_texts(rpc_url, signature)) if a]
    assert len(found) <= 1, found
    return found[0] if found else None
