"""Faults the sandbox injects (HTTP 429/503, latency, dropped sends, early expiry) and controls."""

from __future__ import annotations

import time

import httpx
import pytest
from solana.exceptions import SolanaRpcException
from solana.rpc.async_api import AsyncClient
from solana.rpc.core import RPCException
from solana.rpc.models import TxOpts
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.rpc.errors import SendTransactionPreflightFailureMessage
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction
from solders.transaction_status import TransactionErrorFieldless

from flywheel.sandbox.chain.runtime import SandboxChain
from flywheel.sandbox.faults import Faults

SOL = 1_000_000_000


def signed_transfer(payer: Keypair, lamports: int, blockhash: object) -> VersionedTransaction:
    ix = transfer(
        TransferParams(from_pubkey=payer.pubkey(), to_pubkey=Keypair().pubkey(), lamports=lamports)
    )
    message = MessageV0.try_compile(payer.pubkey(), [ix], [], blockhash)  # type: ignore[arg-type]
    return VersionedTransaction(message, [payer])


def http_status_of(exc: SolanaRpcException) -> httpx.Response:
    """The HTTP response behind solana-py's wrapper (it wraps httpx's HTTPStatusError)."""
    cause = exc.__cause__
    response = getattr(cause, "response", None)
    assert response is not None, f"no HTTP response behind {exc!r}"
    return response  # type: ignore[no-any-return]


async def test_429_with_retry_after_then_recovers(
    rpc_chain: SandboxChain, rpc_client: AsyncClient
) -> None:
    rpc_chain.faults.update(rpc_429_rate=1.0, rpc_retry_after_seconds=3)
    with pytest.raises(SolanaRpcException) as caught:
        await rpc_client.get_slot()
    response = http_status_of(caught.value)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    rpc_chain.faults.update(rpc_429_rate=0.0)
    assert (await rpc_client.get_slot()).value == rpc_chain.slot()


async def test_503(rpc_chain: SandboxChain, rpc_client: AsyncClient) -> None:
    rpc_chain.faults.update(rpc_5xx_rate=1.0)
    with pytest.raises(SolanaRpcException) as caught:
        await rpc_client.get_block_height()
    assert http_status_of(caught.value).status_code == 503


async def test_partial_429_rate_is_seeded(rpc_server: tuple[SandboxChain, str]) -> None:
    chain, url = rpc_server
    chain.faults.update(rpc_429_rate=0.5)
    body = {"jsonrpc": "2.0", "id": 1, "method": "getSlot"}
    async with httpx.AsyncClient() as http:
        codes = [(await http.post(url, json=body)).status_code for _ in range(40)]
    assert 5 < codes.count(429) < 35 and set(codes) == {200, 429}
    replay = Faults(seed=1)  # the fixture's seed: the same sequence of rolls
    assert [429 if replay.roll(0.5) else 200 for _ in range(40)] == codes


async def test_latency_is_added(rpc_chain: SandboxChain, rpc_client: AsyncClient) -> None:
    rpc_chain.faults.update(rpc_latency_ms=250)
    started = time.perf_counter()
    await rpc_client.get_slot()
    assert time.perf_counter() - started >= 0.25


async def test_dropped_send_never_lands_until_resent(
    rpc_chain: SandboxChain, rpc_client: AsyncClient, funded_wallet: Keypair
) -> None:
    rpc_chain.faults.update(drop_sends_rate=1.0)
    blockhash = (await rpc_client.get_latest_blockhash()).value.blockhash
    tx = signed_transfer(funded_wallet, SOL, blockhash)
    assert (await rpc_client.send_transaction(tx)).value == tx.signatures[0]
    rpc_chain.advance(5)
    status = await rpc_client.get_signature_statuses([tx.signatures[0]], True)
    assert status.value == [None]
    assert (await rpc_client.get_balance(funded_wallet.pubkey())).value == 10 * SOL

    # Re-sending the same bytes while the blockhash is valid lands it, exactly once.
    rpc_chain.faults.update(drop_sends_rate=0.0)
    skip = TxOpts(skip_preflight=True)
    await rpc_client.send_raw_transaction(bytes(tx), skip)
    await rpc_client.send_raw_transaction(bytes(tx), skip)
    landed = (await rpc_client.get_signature_statuses([tx.signatures[0]])).value[0]
    assert landed is not None and landed.err is None
    assert (await rpc_client.get_balance(funded_wallet.pubkey())).value == 9 * SOL - 5_000


async def test_early_expiry_through_control_endpoints(
    rpc_server: tuple[SandboxChain, str], rpc_client: AsyncClient, funded_wallet: Keypair
) -> None:
    _chain, url = rpc_server
    async with httpx.AsyncClient() as http:
        changed = await http.post(f"{url}/_sandbox/faults", json={"blockhash_lifetime_blocks": 5})
        assert changed.status_code == 200 and changed.json()["blockhash_lifetime_blocks"] == 5
        assert (await http.get(f"{url}/_sandbox/faults")).json()["blockhash_lifetime_blocks"] == 5
        latest = (await rpc_client.get_latest_blockhash()).value
        height = (await rpc_client.get_block_height()).value
        assert latest.last_valid_block_height == height + 5
        advanced = await http.post(f"{url}/_sandbox/advance", json={"slots": 6})
        assert advanced.json()["blockHeight"] == height + 6

    with pytest.raises(RPCException) as caught:
        await rpc_client.send_transaction(signed_transfer(funded_wallet, SOL, latest.blockhash))
    detail = caught.value.args[0]
    assert isinstance(detail, SendTransactionPreflightFailureMessage)
    assert detail.data.err == TransactionErrorFieldless.BlockhashNotFound


async def test_control_endpoints_validate(rpc_server: tuple[SandboxChain, str]) -> None:
    chain, url = rpc_server
    async with httpx.AsyncClient() as http:
        unknown = await http.post(f"{url}/_sandbox/faults", json={"no_such_fault": 1})
        assert unknown.status_code == 400 and "no_such_fault" in unknown.json()["error"]
        bad = await http.post(f"{url}/_sandbox/faults", json={"rpc_429_rate": 2})
        assert bad.status_code == 400
        backwards = await http.post(f"{url}/_sandbox/advance", json={"slots": -1})
        assert backwards.status_code == 400
        faults = (await http.get(f"{url}/_sandbox/faults")).json()
    assert faults == chain.faults.as_dict() and faults["rpc_429_rate"] == 0.0
    assert "seed" not in faults


def test_faults_update_is_all_or_nothing() -> None:
    faults = Faults(seed=3)
    with pytest.raises(ValueError, match="unknown"):
        faults.update(rpc_5xx_rate=0.5, nonsense=True)
    with pytest.raises(ValueError, match="boolean"):
        faults.update(rpc_5xx_rate=0.5, malicious_swap=1)
    assert faults.rpc_5xx_rate == 0.0
    faults.update(rpc_5xx_rate=1, malicious_swap=True)
    assert faults.rpc_5xx_rate == 1.0 and isinstance(faults.rpc_5xx_rate, float)
    assert faults.malicious_swap is True
    one, same, other = Faults(seed=9), Faults(seed=9), Faults(seed=10)
    rolls = [one.roll(0.3) for _ in range(50)]
    assert rolls == [same.roll(0.3) for _ in range(50)]
    assert rolls != [other.roll(0.3) for _ in range(50)]
    assert not any(one.roll(0.0) for _ in range(20)) and all(one.roll(1.0) for _ in range(20))
