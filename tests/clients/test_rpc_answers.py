"""Every answer a JSON-RPC node can give, hostile ones included, ends in our error tree.

A loopback server answers each call with one documented JSON-RPC error code, an unknown code,
a junk body or an HTTP error of some shape; the client must raise a `FlywheelError` whose
message names the call (never an AttributeError, a solders panic or an httpx exception).
"""

from __future__ import annotations

import json

import pytest
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.rpc.requests import GetBalance, GetBlockHeight
from solders.rpc.responses import GetBalanceResp, GetBlockHeightResp
from solders.transaction import VersionedTransaction

from flywheel.errors import FlywheelError, OperationalError, RateLimited, TemporaryError
from flywheel.solana.jsonrpc import CODES
from flywheel.solana.rpc import RpcClient
from tests.clients.hostile import FakeTime, HostileServer

KEY = Pubkey.new_unique()


def _tx() -> VersionedTransaction:
    payer = Keypair()
    message = MessageV0.try_compile(payer.pubkey(), [], [], Hash.default())
    return VersionedTransaction(message, [payer])


CALLS = {
    "getBalance": lambda rpc: rpc.get_balance(KEY),
    "getMultipleAccounts": lambda rpc: rpc.get_multiple_accounts([KEY]),
    "simulateTransaction": lambda rpc: rpc.simulate(_tx(), [KEY]),
    "sendTransaction": lambda rpc: rpc.send_raw_transaction(bytes(_tx())),
    "getSignatureStatuses": lambda rpc: rpc.get_signature_statuses([]),
    "batch[getBlockHeight,getBalance]": lambda rpc: rpc.batch(
        [GetBlockHeight(), GetBalance(KEY)], [GetBlockHeightResp, GetBalanceResp]
    ),
}


def client(url: str, time: FakeTime) -> RpcClient:
    rpc = RpcClient(url, timeout=2, deadline_seconds=5, max_attempts=2)
    rpc.retry = time.drive(rpc.retry)
    return rpc


def _error_body(code: object, **extra: object) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": 0, "error": {"code": code, **extra}}).encode()


async def _raised(server: HostileServer, call: str) -> FlywheelError:
    time = FakeTime()
    async with server, client(server.url, time) as rpc:
        with pytest.raises(FlywheelError) as caught:
            await CALLS[call](rpc)
    assert f"RPC {call}" in str(caught.value), caught.value
    return caught.value


@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize("code", sorted(CODES))
async def test_every_documented_json_rpc_code_is_mapped(call: str, code: int) -> None:
    body = _error_body(code, message="boom")  # no `data`: solders would panic on -32002
    error = await _raised(HostileServer(body=body), call)
    expected = TemporaryError if CODES[code].temporary else OperationalError
    assert isinstance(error, expected)
    assert str(code) in str(error) and CODES[code].name in str(error)


@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize("code", [-31999, 1, 0, 2**40, -32099])
async def test_an_unknown_code_stops_with_its_number(call: str, code: int) -> None:
    error = await _raised(HostileServer(body=_error_body(code, message="odd")), call)
    assert isinstance(error, OperationalError)
    assert f"unknown JSON-RPC error {code}" in str(error)


async def test_a_rate_limit_inside_json_rpc_is_rate_limited() -> None:
    error = await _raised(HostileServer(body=_error_body(-32429, message="slow")), "getBalance")
    assert isinstance(error, RateLimited)


JUNK = [
    b"",
    b"null",
    b"[]",
    b"{}",
    b"42",
    b'"ok"',
    b"<html>bad gateway</html>",
    b'{"jsonrpc": "2.0", "id": 0, "result": null}',
    b'{"jsonrpc": "2.0", "id": 0, "result": {"context": {"slot": 1}, "value": "x"}}',
    b'{"jsonrpc": "2.0", "id": 0, "result": {"value": 1}}',
    b'{"jsonrpc": "2.0", "id": 0, "error": "a string"}',
    b'{"jsonrpc": "2.0", "id": 0, "error": {"code": "-32000", "message": 5}}',
    b'{"jsonrpc": "2.0", "id": 0, "error": {"code": true}}',
    b'[{"jsonrpc": "2.0", "id": 0, "result": 1}, {"jsonrpc": "2.0", "id": 0, "result": 1}]',
    b'{"jsonrpc": "2.0", "id": 0, "result": ' + b"9" * 5000 + b"}",
]


@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize("body", JUNK, ids=range(len(JUNK)))
async def test_junk_bodies_are_malformed_answers(call: str, body: bytes) -> None:
    error = await _raised(HostileServer(body=body), call)
    assert isinstance(error, OperationalError)


@pytest.mark.parametrize(
    ("status", "headers", "kind"),
    [
        (400, {}, OperationalError),
        (401, {}, OperationalError),
        (403, {}, OperationalError),
        (404, {}, OperationalError),
        (301, {"location": "http://127.0.0.1:9/"}, OperationalError),
        (418, {}, OperationalError),
        (408, {}, TemporaryError),
        (500, {}, TemporaryError),
        (502, {}, TemporaryError),
        (503, {"retry-after": "soon"}, TemporaryError),
        (429, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, RateLimited),
        (429, {"retry-after": "999999"}, RateLimited),
        (599, {}, TemporaryError),
    ],
)
async def test_http_errors_of_any_shape(
    status: int, headers: dict[str, str], kind: type[FlywheelError]
) -> None:
    server = HostileServer(status=status, headers=headers, body=b"<html>no</html>")
    error = await _raised(server, "getBalance")
    assert type(error) is kind
    assert str(status) in str(error)
