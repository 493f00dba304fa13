"""The exactly-once sender against the sandbox chain: drops, expiry, storms, re-landing."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from flywheel.domain.trade import LandingStatus, PreparedTx, TxKind
from flywheel.errors import ExpiryUnproven, OperationalError, TemporaryError
from flywheel.sandbox.runner import Sandbox
from flywheel.solana.rpc import RpcClient
from flywheel.solana.sender import Sender, prepared_tx, sign_versioned

SOL = 1_000_000_000
FEE = 5_000


@pytest.fixture
async def rpc(sandbox: Sandbox) -> AsyncIterator[RpcClient]:
    async with RpcClient(sandbox.rpc_url, backoff_initial=0.01, backoff_max=0.05) as client:
        yield client


def sender(rpc: RpcClient, sandbox: Sandbox, **kwargs: float) -> Sender:
    options = {"resend_interval": 0.02, "max_duration": 10.0}
    options.update(kwargs)
    return Sender(rpc, sandbox.executor.pubkey(), sandbox.token_mint, **options)  # type: ignore[arg-type]


async def payment(rpc: RpcClient, payer: Keypair, to: Pubkey, lamports: int) -> PreparedTx:
    """Our own transaction, prepared the way the wallet does: slot and blockhash, signed."""
    min_slot = await Sender(rpc, payer.pubkey(), Pubkey.new_unique()).finalized_slot()
    blockhash, last_valid = await rpc.get_latest_blockhash()
    ix = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=to, lamports=lamports))
    tx = VersionedTransaction(MessageV0.try_compile(payer.pubkey(), [ix], [], blockhash), [payer])
    return prepared_tx(TxKind.ADS_TRANSFER, tx, last_valid, min_slot)


def chain_sleep(sandbox: Sandbox, slept: list[float]) -> Callable[[float], Awaitable[None]]:
    """An injected sleep: the chain moves a block on instead of the test waiting."""

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        sandbox.chain.advance(1)
        await asyncio.sleep(0)

    return sleep


async def test_lands_once_and_a_second_land_finds_it(sandbox: Sandbox, rpc: RpcClient) -> None:
    to = Pubkey.new_unique()
    tx = await payment(rpc, sandbox.executor, to, SOL)
    landing = await sender(rpc, sandbox).land(tx)
    assert landing.status == LandingStatus.CONFIRMED
    assert landing.signature == tx.signature
    assert landing.fee_lamports == FEE
    assert landing.sol_delta == -(SOL + FEE)
    assert landing.token_delta == 0
    assert landing.slot == sandbox.chain.slot()
    sends = rpc.stats.count("sendTransaction")
    assert sends == 1

    # A restart: new client, new sender, same journaled transaction. Found, not re-executed.
    async with RpcClient(sandbox.rpc_url) as fresh:
        again = await sender(fresh, sandbox).land(tx)
        assert fresh.stats.count("sendTransaction") == 0
    assert again == landing
    assert sandbox.chain.balance(to) == SOL
    executor_history = sandbox.chain.signatures_for_address(sandbox.executor.pubkey())
    assert [str(r.signature) for r in executor_history] == [tx.signature]


async def test_dropped_sends_are_resent_until_they_land(sandbox: Sandbox, rpc: RpcClient) -> None:
    sandbox.faults.update(drop_sends_rate=1.0)
    to = Pubkey.new_unique()
    tx = await payment(rpc, sandbox.executor, to, SOL)
    landing_task = asyncio.create_task(sender(rpc, sandbox).land(tx))
    while rpc.stats.count("sendTransaction") < 3:  # three sends, all dropped
        assert not landing_task.done()
        await asyncio.sleep(0.01)
    assert sandbox.chain.balance(to) == 0
    sandbox.faults.update(drop_sends_rate=0.0)
    landing = await asyncio.wait_for(landing_task, 10)
    assert landing.status == LandingStatus.CONFIRMED
    assert sandbox.chain.balance(to) == SOL  # once, however many sends
    assert len(sandbox.chain.signatures_for_address(to)) == 1


async def test_expired_only_once_the_block_height_has_passed(
    sandbox: Sandbox, rpc: RpcClient
) -> None:
    sandbox.faults.update(drop_sends_rate=1.0, blockhash_lifetime_blocks=5)
    tx = await payment(rpc, sandbox.executor, Pubkey.new_unique(), SOL)
    assert tx.last_valid_block_height == sandbox.chain.block_height() + 5

    # While the height has not passed, no amount of waiting makes it expired.
    with pytest.raises(TemporaryError, match="neither landed nor expired"):
        await sender(rpc, sandbox, max_duration=0.3).land(tx)
    assert rpc.stats.count("sendTransaction") >= 2

    heights: list[int] = []

    async def clock() -> None:
        while True:
            await asyncio.sleep(0.02)
            sandbox.chain.advance(1)
            heights.append(sandbox.chain.block_height())

    ticking = asyncio.create_task(clock())
    try:
        landing = await sender(rpc, sandbox).land(tx)
    finally:
        ticking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticking
    assert landing.status == LandingStatus.EXPIRED
    assert f"> last valid {tx.last_valid_block_height}" in landing.error
    assert sandbox.chain.block_height() > tx.last_valid_block_height
    assert heights[0] <= tx.last_valid_block_height  # it was valid when the clock started
    assert sandbox.chain.balance(sandbox.executor.pubkey()) == 2 * SOL  # never executed


async def test_expiry_is_read_twice_at_different_heights(sandbox: Sandbox, rpc: RpcClient) -> None:
    sandbox.faults.update(drop_sends_rate=1.0, blockhash_lifetime_blocks=3)
    tx = await payment(rpc, sandbox.executor, Pubkey.new_unique(), SOL)
    slept: list[float] = []
    quick = Sender(
        rpc,
        sandbox.executor.pubkey(),
        sandbox.token_mint,
        resend_interval=0.5,
        sleep=chain_sleep(sandbox, slept),
    )
    landing = await quick.land(tx)
    assert landing.status == LandingStatus.EXPIRED
    heights = [int(h) for h in landing.error.split("heights [")[1].split("]")[0].split(", ")]
    assert len(heights) == 2
    assert tx.last_valid_block_height < heights[0] < heights[1]
    assert 0.5 in slept  # the readings are a resend interval apart, on the injected clock
    assert f"reaches back to slot {tx.min_slot}" in landing.error
    assert sandbox.chain.balance(sandbox.executor.pubkey()) == 2 * SOL


async def test_a_node_with_short_history_cannot_declare_expiry(
    sandbox: Sandbox, rpc: RpcClient
) -> None:
    sandbox.faults.update(drop_sends_rate=1.0, blockhash_lifetime_blocks=3, rpc_short_history=True)
    tx = await payment(rpc, sandbox.executor, Pubkey.new_unique(), SOL)
    quick = Sender(
        rpc, sandbox.executor.pubkey(), sandbox.token_mint, sleep=chain_sleep(sandbox, [])
    )
    with pytest.raises(ExpiryUnproven, match="SOLANA_RPC_URL") as raised:
        await quick.land(tx)
    assert "minimumLedgerSlot" in str(raised.value)
    assert f"reaching back to slot {tx.min_slot}" in str(raised.value)
    # The same node, its history complete again, proves it.
    sandbox.faults.update(rpc_short_history=False)
    assert (await quick.land(tx)).status == LandingStatus.EXPIRED


async def test_without_a_journaled_slot_the_history_asked_for_is_longer(
    sandbox: Sandbox, rpc: RpcClient
) -> None:
    # An intent journaled before min_slot was kept: only lastValidBlockHeight bounds its slot,
    # and the sandbox's history (from its first slot) does not reach that far back.
    sandbox.faults.update(drop_sends_rate=1.0, blockhash_lifetime_blocks=3)
    tx = await payment(rpc, sandbox.executor, Pubkey.new_unique(), SOL)
    legacy = dataclasses.replace(tx, min_slot=None)
    quick = Sender(
        rpc, sandbox.executor.pubkey(), sandbox.token_mint, sleep=chain_sleep(sandbox, [])
    )
    with pytest.raises(ExpiryUnproven, match="cannot prove"):
        await quick.land(legacy)


async def test_land_survives_rpc_storms(sandbox: Sandbox, rpc: RpcClient) -> None:
    sandbox.faults.update(rpc_429_rate=0.5, rpc_5xx_rate=0.3, rpc_retry_after_seconds=0)
    to = Pubkey.new_unique()
    tx = await payment(rpc, sandbox.executor, to, SOL)
    landing = await sender(rpc, sandbox).land(tx)
    assert landing.status == LandingStatus.CONFIRMED
    assert sandbox.chain.balance(to) == SOL
    failures = sum(
        count
        for outcomes in rpc.stats.requests.values()
        for outcome, count in outcomes.items()
        if outcome in ("rate_limited", "server_error")
    )
    assert failures > 0, rpc.stats.snapshot()


async def test_an_on_chain_failure_is_failed_with_its_fee(sandbox: Sandbox, rpc: RpcClient) -> None:
    tx = await payment(rpc, sandbox.executor, Pubkey.new_unique(), 50 * SOL)  # more than it has
    landing = await sender(rpc, sandbox).land(tx)
    assert landing.status == LandingStatus.FAILED
    assert "InstructionError" in landing.error or "Custom" in landing.error
    assert landing.fee_lamports == FEE
    assert landing.sol_delta == -FEE
    assert sandbox.chain.balance(sandbox.executor.pubkey()) == 2 * SOL - FEE
    again = await sender(rpc, sandbox).land(tx)
    assert again == landing


async def test_a_journal_entry_that_does_not_match_its_bytes_is_refused(
    sandbox: Sandbox, rpc: RpcClient
) -> None:
    tx = await payment(rpc, sandbox.executor, Pubkey.new_unique(), SOL)
    tampered = dataclasses.replace(tx, signature=str(Signature.new_unique()))
    with pytest.raises(OperationalError, match="does not match its bytes"):
        await sender(rpc, sandbox).land(tampered)
    assert rpc.stats.count("sendTransaction") == 0


def test_signing_fills_only_our_slot() -> None:
    me, pool = Keypair(), Keypair()
    ixs = [
        transfer(TransferParams(from_pubkey=me.pubkey(), to_pubkey=pool.pubkey(), lamports=1)),
        transfer(TransferParams(from_pubkey=pool.pubkey(), to_pubkey=me.pubkey(), lamports=1)),
    ]
    message = MessageV0.try_compile(me.pubkey(), ixs, [], Hash.default())
    pool_sig = pool.sign_message(to_bytes_versioned(message))
    tx = VersionedTransaction.populate(message, [Signature.default(), pool_sig])
    signed = sign_versioned(tx, me)
    assert signed.signatures[1] == pool_sig
    assert signed.verify_with_results() == [True, True]
    prepared = prepared_tx(TxKind.SWAP, signed, 42)
    assert prepared.signature == str(signed.signatures[0])
    assert VersionedTransaction.from_bytes(prepared.raw) == signed
