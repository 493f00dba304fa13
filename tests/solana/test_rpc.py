"""RpcClient against the sandbox's JSON-RPC server: retries, Retry-After, statistics, batches."""

from __future__ import annotations

import socket

import pytest
from solders.pubkey import Pubkey
from solders.rpc.config import RpcContextConfig
from solders.rpc.requests import GetBalance, GetBlockHeight, GetTokenSupply
from solders.rpc.responses import GetBalanceResp, GetBlockHeightResp, GetTokenSupplyResp
from solders.signature import Signature
from structlog.testing import capture_logs

from flywheel.errors import OperationalError, RateLimited, TemporaryError
from flywheel.sandbox.runner import Sandbox
from flywheel.solana.rpc import RpcClient, RpcStats
from tests.clients.hostile import FakeTime


def fast_client(url: str, **kwargs: object) -> RpcClient:
    options: dict[str, object] = {"backoff_initial": 0.01, "backoff_max": 0.05}
    options.update(kwargs)
    return RpcClient(url, **options)  # type: ignore[arg-type]


async def test_reads_and_counts_requests(sandbox: Sandbox) -> None:
    seen: list[tuple[str, str, float]] = []
    async with fast_client(sandbox.rpc_url, on_request=lambda *a: seen.append(a)) as rpc:
        assert await rpc.get_balance(sandbox.executor.pubkey()) == 2_000_000_000
        assert await rpc.get_block_height() == sandbox.chain.block_height()
        blockhash, last_valid = await rpc.get_latest_blockhash()
        assert (blockhash, last_valid) == sandbox.chain.latest_blockhash()
    assert rpc.stats.count("getBalance", "ok") == 1
    assert rpc.stats.count("getLatestBlockhash") == 1
    assert rpc.stats.latency_seconds["getBalance"] > 0
    assert [(m, o) for m, o, _ in seen] == [
        ("getBalance", "ok"),
        ("getBlockHeight", "ok"),
        ("getLatestBlockhash", "ok"),
    ]


async def test_a_429_storm_is_retried(sandbox: Sandbox) -> None:
    sandbox.faults.update(rpc_429_rate=0.5, rpc_retry_after_seconds=0)
    async with fast_client(sandbox.rpc_url, max_attempts=12) as rpc:
        for _ in range(20):
            assert await rpc.get_balance(sandbox.executor.pubkey()) == 2_000_000_000
    assert rpc.stats.count("getBalance", "ok") == 20
    assert rpc.stats.count("getBalance", "rate_limited") >= 5


async def test_a_503_storm_is_retried(sandbox: Sandbox) -> None:
    sandbox.faults.update(rpc_5xx_rate=0.5)
    async with fast_client(sandbox.rpc_url, max_attempts=12) as rpc:
        for _ in range(20):
            await rpc.get_block_height()
    assert rpc.stats.count("getBlockHeight", "ok") == 20
    assert rpc.stats.count("getBlockHeight", "server_error") >= 5


async def test_retry_after_is_honoured_then_rate_limited_is_raised(sandbox: Sandbox) -> None:
    sandbox.faults.update(rpc_429_rate=1.0, rpc_retry_after_seconds=7)
    fake = FakeTime()
    async with fast_client(sandbox.rpc_url, max_attempts=2) as rpc:
        rpc.retry = fake.drive(rpc.retry)
        with (
            capture_logs() as events,
            pytest.raises(RateLimited, match="429 Too Many Requests") as caught,
        ):
            await rpc.get_balance(sandbox.executor.pubkey())
    assert caught.value.retry_after == 7.0
    assert fake.slept == [7.0]  # the backoff alone would have waited 10 ms
    assert rpc.stats.count("getBalance", "rate_limited") == 2
    assert [e["event"] for e in events] == ["429 Too Many Requests: retrying"]


async def test_attempts_are_bounded(sandbox: Sandbox) -> None:
    sandbox.faults.update(rpc_5xx_rate=1.0)
    async with fast_client(sandbox.rpc_url, max_attempts=3) as rpc:
        with pytest.raises(TemporaryError, match="HTTP 503"):
            await rpc.get_block_height()
    assert rpc.stats.count("getBlockHeight") == 3


async def test_timeouts_are_temporary_and_retried(sandbox: Sandbox) -> None:
    sandbox.faults.update(rpc_latency_ms=300)
    async with fast_client(sandbox.rpc_url, timeout=0.05, max_attempts=2) as rpc:
        with pytest.raises(TemporaryError, match="timed out"):
            await rpc.get_block_height()
    assert rpc.stats.count("getBlockHeight", "timeout") == 2


async def test_a_refused_connection_is_temporary() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with fast_client(f"http://127.0.0.1:{port}", max_attempts=2) as rpc:
        with pytest.raises(TemporaryError):
            await rpc.get_block_height()
    assert rpc.stats.count("getBlockHeight", "transport_error") == 2


async def test_a_json_rpc_error_is_operational_and_not_retried(sandbox: Sandbox) -> None:
    async with fast_client(sandbox.rpc_url) as rpc:
        with pytest.raises(OperationalError, match="not a Token mint"):
            await rpc.get_token_supply(sandbox.executor.pubkey())
    assert rpc.stats.count("getTokenSupply") == 1
    assert rpc.stats.count("getTokenSupply", "rpc_error") == 1


async def test_a_batch_answers_in_order(sandbox: Sandbox) -> None:
    stats = RpcStats()
    async with fast_client(sandbox.rpc_url, stats=stats) as rpc:
        height, balance = await rpc.batch(
            [GetBlockHeight(RpcContextConfig()), GetBalance(sandbox.executor.pubkey())],
            [GetBlockHeightResp, GetBalanceResp],
        )
    assert height.value == sandbox.chain.block_height()
    assert balance.value == 2_000_000_000
    assert stats.count("batch[getBlockHeight,getBalance]", "ok") == 1


async def test_a_batch_with_an_error_answer_raises(sandbox: Sandbox) -> None:
    async with fast_client(sandbox.rpc_url) as rpc:
        with pytest.raises(OperationalError):
            await rpc.batch(
                [GetBlockHeight(), GetTokenSupply(Pubkey.new_unique())],
                [GetBlockHeightResp, GetTokenSupplyResp],
            )


async def test_a_broken_hook_does_not_break_requests(sandbox: Sandbox) -> None:
    def hook(method: str, outcome: str, seconds: float) -> None:
        raise RuntimeError("metrics bug")

    async with fast_client(sandbox.rpc_url, on_request=hook) as rpc:
        assert await rpc.get_block_height() == sandbox.chain.block_height()


async def test_history_reads_signatures_and_transactions_in_one_batch(sandbox: Sandbox) -> None:
    who = Pubkey.new_unique()
    first = sandbox.chain.airdrop(who, 1_000_000)
    second = sandbox.chain.airdrop(who, 2_000_000)
    async with fast_client(sandbox.rpc_url) as rpc:
        entries = await rpc.get_signatures_for_address(who, limit=10)
        assert [e.signature for e in entries] == [second, first]  # newest first
        assert await rpc.get_signatures_for_address(who, until=first) == entries[:1]
        unknown = Signature.new_unique()
        found = await rpc.get_transactions([first, unknown, second])
        assert rpc.stats.count("batch[getTransaction]") == 1
        assert await rpc.get_transactions([]) == []
    assert found[1] is None
    amounts = []
    for tx in (found[0], found[2]):
        assert tx is not None and tx.transaction.meta is not None
        meta = tx.transaction.meta
        amounts.append(meta.post_balances[1] - meta.pre_balances[1])
    assert amounts == [1_000_000, 2_000_000]
    assert rpc.stats.total() == 3  # two pages of signatures, one batch; [] asks nothing
