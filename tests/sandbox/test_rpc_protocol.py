"""JSON-RPC at the wire: batches, protocol errors, base58 sends, lookup tables, raw encodings."""

from __future__ import annotations

import base64
import struct
from collections.abc import AsyncIterator

import httpx
import pytest
from solana.rpc.async_api import AsyncClient
from solders.account import Account
from solders.address_lookup_table_account import ID as LOOKUP_TABLE_PROGRAM_ID
from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from flywheel.sandbox.chain.b58 import b58encode
from flywheel.sandbox.chain.runtime import SandboxChain

SOL = 1_000_000_000


def call(method: str, *params: object, request_id: object = 1) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}


@pytest.fixture
async def http(rpc_server: tuple[SandboxChain, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=rpc_server[1]) as client:
        yield client


async def test_batch_answers_each_call_with_its_id(http: httpx.AsyncClient) -> None:
    batch = [call("getSlot", request_id="a"), call("nope", request_id=7), call("getHealth")]
    answers = (await http.post("/", json=batch)).json()
    assert [a["id"] for a in answers] == ["a", 7, 1]
    assert isinstance(answers[0]["result"], int)
    assert answers[1]["error"]["code"] == -32601
    assert answers[2]["result"] == "ok"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", -32700),
        (b"[]", -32600),
        (b'{"jsonrpc": "2.0", "id": 1}', -32600),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "getBalance"}', -32602),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "getBalance", "params": ["xyz"]}', -32602),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "getBalance", "params": {"a": 1}}', -32602),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "sendTransaction", "params": ["!!"]}', -32602),
        (
            b'{"jsonrpc": "2.0", "id": 1, "method": "getSignaturesForAddress",'
            b' "params": ["11111111111111111111111111111111", {"limit": 1001}]}',
            -32602,
        ),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "getVoteAccounts"}', -32601),
    ],
)
async def test_protocol_errors(http: httpx.AsyncClient, body: bytes, code: int) -> None:
    answer = await http.post("/", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 200
    assert answer.json()["error"]["code"] == code


async def test_send_base58_and_get_transaction_base64(
    rpc_chain: SandboxChain, http: httpx.AsyncClient, funded_wallet: Keypair
) -> None:
    receiver = Keypair().pubkey()
    blockhash, _ = rpc_chain.latest_blockhash()
    ix = transfer(
        TransferParams(from_pubkey=funded_wallet.pubkey(), to_pubkey=receiver, lamports=SOL)
    )
    tx = VersionedTransaction(
        MessageV0.try_compile(funded_wallet.pubkey(), [ix], [], blockhash), [funded_wallet]
    )
    sent = (await http.post("/", json=call("sendTransaction", b58encode(bytes(tx))))).json()
    assert sent["result"] == str(tx.signatures[0])
    got = (
        await http.post(
            "/",
            json=call(
                "getTransaction",
                sent["result"],
                {"encoding": "base64", "maxSupportedTransactionVersion": 0},
            ),
        )
    ).json()["result"]
    raw, encoding = got["transaction"]
    assert encoding == "base64" and base64.b64decode(raw) == bytes(tx)
    assert got["version"] == 0 and got["meta"]["status"] == {"Ok": None}
    assert rpc_chain.balance(receiver) == SOL


def lookup_table_data(authority: Pubkey, addresses: list[Pubkey]) -> bytes:
    """An active lookup table account: type 1, never deactivated, extended at slot 0."""
    meta = struct.pack("<IQQB", 1, 2**64 - 1, 0, 0) + b"\x01" + bytes(authority) + b"\x00\x00"
    return meta + b"".join(bytes(a) for a in addresses)


async def test_v0_with_lookup_table_reports_loaded_addresses(
    rpc_chain: SandboxChain, rpc_client: AsyncClient, funded_wallet: Keypair
) -> None:
    receiver, table = Keypair().pubkey(), Keypair().pubkey()
    data = lookup_table_data(funded_wallet.pubkey(), [receiver])
    rent = rpc_chain.minimum_balance_for_rent_exemption(len(data))
    rpc_chain.set_account(table, Account(rent, data, LOOKUP_TABLE_PROGRAM_ID, False, 0))
    rpc_chain.advance(1)
    blockhash = (await rpc_client.get_latest_blockhash()).value.blockhash
    ix = transfer(
        TransferParams(from_pubkey=funded_wallet.pubkey(), to_pubkey=receiver, lamports=SOL)
    )
    message = MessageV0.try_compile(
        funded_wallet.pubkey(), [ix], [AddressLookupTableAccount(table, [receiver])], blockhash
    )
    assert receiver not in message.account_keys  # it travels through the table
    sig = (await rpc_client.send_transaction(VersionedTransaction(message, [funded_wallet]))).value
    got = (await rpc_client.get_transaction(sig, max_supported_transaction_version=0)).value
    assert got is not None and got.transaction.meta is not None
    meta = got.transaction.meta
    assert meta.loaded_addresses is not None
    assert list(meta.loaded_addresses.writable) == [receiver]
    assert meta.post_balances[-1] - meta.pre_balances[-1] == SOL
    listed = (await rpc_client.get_signatures_for_address(receiver)).value
    assert [s.signature for s in listed] == [sig]


async def test_control_endpoints_refuse_non_loopback(rpc_chain: SandboxChain) -> None:
    from flywheel.sandbox.rpc.app import build_rpc_app

    app = build_rpc_app(rpc_chain)
    transport = httpx.ASGITransport(app=app, client=("10.0.0.8", 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as remote:
        assert (await remote.get("/_sandbox/faults")).status_code == 403
        assert (await remote.post("/_sandbox/advance", json={"slots": 1})).status_code == 403
        assert (await remote.post("/", json=call("getHealth"))).json()["result"] == "ok"
