"""WalletWatcherFeeSource over real JSON-RPC against the sandbox chain, with the real store.

The fee collector is its own wallet here (separate_fee_collector), so inflows, outflows and
the executor's own transfers to it can all be told apart.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer

from flywheel.compose import open_flywheel
from flywheel.config.settings import Settings
from flywheel.domain.epoch_state import EpochStatus
from flywheel.domain.fees import ReceiptStatus
from flywheel.persistence.store import SqliteStore
from flywheel.sandbox.jupiter.dex import build_v0
from flywheel.sandbox.runner import Sandbox
from flywheel.solana.fee_source import FeeStart, WalletWatcherFeeSource
from flywheel.solana.rpc import RpcClient
from tests.sandbox.harness import SandboxFactory

SOL = 1_000_000_000


@pytest.fixture
def box(sandbox_factory: SandboxFactory) -> Sandbox:
    return sandbox_factory(separate_fee_collector=True)


@pytest.fixture
async def rpc(box: Sandbox) -> AsyncIterator[RpcClient]:
    async with RpcClient(box.rpc_url, backoff_initial=0.01, backoff_max=0.05) as client:
        yield client


def source(
    rpc: RpcClient, box: Sandbox, start: FeeStart = "all", **options: int
) -> WalletWatcherFeeSource:
    return WalletWatcherFeeSource(
        rpc,
        fee_collector=box.fee_collector,
        executor=box.executor.pubkey(),
        start=start,
        **options,  # type: ignore[arg-type]
    )


def pay(box: Sandbox, payer: Keypair, to: Pubkey, lamports: int) -> Signature:
    """A plain SOL transfer signed by `payer`, landed on the sandbox chain."""
    blockhash, _ = box.chain.latest_blockhash()
    ix = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=to, lamports=lamports))
    return box.chain.send(build_v0(payer.pubkey(), [ix], blockhash, [payer]))


def fees(box: Sandbox, count: int, first: int = 1_000_000) -> list[Signature]:
    """`count` inflows to the collector of distinct amounts (first, first+1, ...)."""
    return [box.chain.airdrop(box.fee_collector, first + i) for i in range(count)]


async def test_only_inflows_from_others_count(box: Sandbox, rpc: RpcClient) -> None:
    collector = box.scenario.fee_collector_keypair
    someone = Keypair()
    box.chain.airdrop(someone.pubkey(), 10 * SOL)  # touches someone, not the collector
    fee = pay(box, someone, box.fee_collector, 3_000_000)
    outflow = pay(box, collector, Pubkey.new_unique(), 1_000_000)  # the collector pays out
    own = pay(box, box.executor, box.fee_collector, 7_000_000)  # the executor's own transfer
    # Fails on chain (more than the payer holds) but pays its fee, so it is in history.
    poor = Keypair()
    box.chain.airdrop(poor.pubkey(), 1_000_000)
    blockhash, _ = box.chain.latest_blockhash()
    ix = transfer(
        TransferParams(from_pubkey=poor.pubkey(), to_pubkey=box.fee_collector, lamports=SOL)
    )
    failed = box.chain.send(build_v0(poor.pubkey(), [ix], blockhash, [poor]), skip_preflight=True)
    record = box.chain.get_transaction(failed)
    assert record is not None and record.err is not None
    later_fee = pay(box, someone, box.fee_collector, 4_000_000)

    batch = await source(rpc, box).fetch_new(None)

    assert [(r.signature, r.lamports) for r in batch.receipts] == [
        (str(fee), 3_000_000),
        (str(later_fee), 4_000_000),
    ]
    assert all(r.source == str(someone.pubkey()) for r in batch.receipts)
    skipped = {str(outflow), str(own), str(failed)}
    assert not skipped & {r.signature for r in batch.receipts}
    assert batch.new_cursor == str(later_fee)  # past everything examined, skipped ones too


async def test_the_cursor_moves_past_what_was_read_and_each_receipt_is_stored_once(
    box: Sandbox, rpc: RpcClient, tmp_path: Path
) -> None:
    watcher = source(rpc, box)
    first = fees(box, 3)
    with SqliteStore.open(tmp_path / "state.sqlite") as store:
        batch = await watcher.fetch_new(store.fee_cursor())
        assert [r.signature for r in batch.receipts] == [str(s) for s in first]
        assert batch.new_cursor == str(first[-1])
        assert store.add_receipts(batch.receipts, ReceiptStatus.AVAILABLE, batch.new_cursor) == 3
        # A crash between reading and storing makes a detection run twice: stored once.
        assert store.add_receipts(batch.receipts, ReceiptStatus.AVAILABLE, batch.new_cursor) == 0
        assert store.fee_cursor() == str(first[-1])

        nothing = await watcher.fetch_new(store.fee_cursor())
        assert nothing.receipts == [] and nothing.new_cursor == str(first[-1])

        second = fees(box, 2, first=5_000_000)
        batch = await watcher.fetch_new(store.fee_cursor())
        assert [r.signature for r in batch.receipts] == [str(s) for s in second]
        assert batch.new_cursor == str(second[-1])
        store.add_receipts(batch.receipts, ReceiptStatus.AVAILABLE, batch.new_cursor)
        stored = store.receipts()
    assert sorted(r.signature for r in stored) == sorted(str(s) for s in first + second)
    assert len({r.signature for r in stored}) == 5


async def test_fee_start_now_skips_history_and_all_backfills_it(
    box: Sandbox, rpc: RpcClient
) -> None:
    old = fees(box, 4)
    now = await source(rpc, box, "now").fetch_new(None)
    assert now.receipts == [] and now.new_cursor == str(old[-1])
    everything = await source(rpc, box, "all").fetch_new(None)
    assert [r.signature for r in everything.receipts] == [str(s) for s in old]

    new = fees(box, 2, first=9_000_000)
    after_now = await source(rpc, box, "now").fetch_new(now.new_cursor)
    assert [r.signature for r in after_now.receipts] == [str(s) for s in new]


async def test_fee_start_now_on_a_collector_without_history_counts_what_comes_next(
    box: Sandbox, rpc: RpcClient
) -> None:
    watcher = source(rpc, box, "now")
    first = await watcher.fetch_new(None)
    assert first.receipts == []
    # The collector had no history: the stored cursor must still mark "started", or the next
    # detection would be a first start again and skip these fees for ever.
    assert first.new_cursor is not None
    new = fees(box, 3)
    batch = await watcher.fetch_new(first.new_cursor)
    assert [r.signature for r in batch.receipts] == [str(s) for s in new]
    assert batch.new_cursor == str(new[-1])


async def test_paging_reads_every_page(box: Sandbox, rpc: RpcClient) -> None:
    paid = fees(box, 10)
    batch = await source(rpc, box, page_size=3, batch_size=4).fetch_new(None)
    assert [r.signature for r in batch.receipts] == [str(s) for s in paid]
    assert rpc.stats.count("getSignaturesForAddress") == 4  # 3 + 3 + 3 + 1
    assert rpc.stats.count("batch[getTransaction]") == math.ceil(10 / 4)
    assert batch.requests == 4 + 3


async def test_requests_grow_with_new_transactions_not_with_history(
    box: Sandbox, rpc: RpcClient
) -> None:
    watcher = source(rpc, box, page_size=5, batch_size=5)

    async def requests_for_new(history: int, new: int) -> int:
        fees(box, history, first=20_000_000 + history)
        cursor = (await watcher.fetch_new(None)).new_cursor
        fees(box, new, first=30_000_000 + history)
        batch = await watcher.fetch_new(cursor)
        assert len(batch.receipts) == new
        return batch.requests

    small_history = await requests_for_new(history=3, new=4)
    large_history = await requests_for_new(history=60, new=4)
    assert small_history == large_history == 2  # one page of signatures, one batch
    more_new = await requests_for_new(history=0, new=12)
    assert more_new == (12 // 5 + 1) + math.ceil(12 / 5)  # signature pages + batches


async def test_a_detection_cut_short_moves_no_cursor_and_loses_no_fee(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """The epoch's detect step, in process: the RPC fails after the signatures were listed
    but before their transactions were read. Nothing is stored, the cursor stays; the next
    epoch finds every fee."""
    paid = sandbox.traders.step(3)
    env = sandbox.env(tmp_path)
    env["FEE_START"] = "all"
    # Off: the start-up check of the chain's anchors lists signatures too, and would arm the
    # fault before the detect step does.
    env["ANCHOR_STATE"] = "false"
    settings = Settings.from_mapping(env)

    def fail_after_listing(method: str, outcome: str, _seconds: float) -> None:
        if method == "getSignaturesForAddress" and outcome == "ok":
            sandbox.faults.update(rpc_5xx_rate=1.0)

    async with open_flywheel(settings, rpc_hook=fail_after_listing) as flywheel:
        cut_short = await flywheel.run_epoch()
        assert flywheel.store.fee_cursor() is None
        assert flywheel.store.receipts() == []
    sandbox.faults.update(rpc_5xx_rate=0.0)
    assert cut_short.status is EpochStatus.FAILED
    assert [e.step for e in cut_short.errors] == ["detect"]
    assert cut_short.fees_in_lamports == 0 and cut_short.swap_intents == []

    async with open_flywheel(settings) as flywheel:
        flywheel.wallet.sender.resend_interval = 0.05
        state = await flywheel.run_epoch()
        cursor = flywheel.store.fee_cursor()
    assert state.status is EpochStatus.SUCCEEDED, state.errors
    assert sorted(state.receipt_signatures) == sorted(str(s) for s in paid)
    assert cursor == str(paid[-1])
