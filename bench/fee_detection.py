"""Fee detection cost: one detection from the cursor against a full rescan of the history.

Run: .venv/bin/python -m bench.fee_detection [--old 10000] [--new 100]   (from the repo root)
     .venv/bin/python -m bench.fee_detection --claim token2022 [--trades 20]

The sandbox chain (in this process, JSON-RPC over loopback HTTP) gets OLD inflows to the fee
collector, then the cursor is taken, then NEW inflows. The flywheel's WalletWatcherFeeSource
then detects twice through the real RPC client: from the cursor (what every epoch does), and
from no cursor with FEE_START=all (a full rescan). Printed: RPC requests (HTTP round trips) and
wall time of each, and their ratios. Nothing is asserted: these are figures.

`--claim token2022`: the claim source instead. TRADES sandbox trades withhold Token-2022
transfer fees; one claim is then decided (`claimable`), prepared and landed through the real
RPC client and sender, twice (the second time with the executor's token account already
there). Printed per claim: RPC requests by method, the network fee and the tokens it moved.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from flywheel.domain.fees import FeeBatch
from flywheel.sandbox.runner import Sandbox, SandboxConfig
from flywheel.solana.fee_source import WalletWatcherFeeSource
from flywheel.solana.fee_sources.token2022 import Token2022Claimer
from flywheel.solana.rpc import RpcClient
from flywheel.solana.sender import Sender


@dataclass(frozen=True)
class Detection:
    label: str
    receipts: int
    requests: int
    by_method: dict[str, int]
    seconds: float


def pay_fees(sandbox: Sandbox, count: int, first_amount: int) -> None:
    """`count` inflows to the collector, each its own transaction (distinct amounts)."""
    for i in range(count):
        sandbox.chain.airdrop(sandbox.fee_collector, first_amount + i)


async def detect(sandbox: Sandbox, label: str, cursor: str | None) -> tuple[Detection, FeeBatch]:
    async with RpcClient(sandbox.rpc_url) as rpc:
        source = WalletWatcherFeeSource(
            rpc,
            fee_collector=sandbox.fee_collector,
            executor=sandbox.executor.pubkey(),
            start="all",
        )
        started = time.perf_counter()
        batch = await source.fetch_new(cursor)
        seconds = time.perf_counter() - started
        by_method = {m: sum(o.values()) for m, o in rpc.stats.requests.items()}
        return (
            Detection(label, len(batch.receipts), rpc.stats.total(), by_method, seconds),
            batch,
        )


async def measure(sandbox: Sandbox, old: int, new: int) -> list[Detection]:
    pay_fees(sandbox, old, 1_000_000)
    _, baseline = await detect(sandbox, "history", None)
    assert len(baseline.receipts) == old, "the history is not what was paid"
    cursor = baseline.new_cursor
    pay_fees(sandbox, new, 2_000_000)
    incremental, batch = await detect(sandbox, f"from the cursor ({new} new)", cursor)
    rescan, everything = await detect(sandbox, f"full rescan ({old + new})", None)
    assert len(batch.receipts) == new and len(everything.receipts) == old + new
    return [incremental, rescan]


async def claim_once(sandbox: Sandbox, label: str) -> None:
    async with RpcClient(sandbox.rpc_url) as rpc:
        claimer = Token2022Claimer(rpc, sandbox.executor, sandbox.token_mint)
        sender = Sender(rpc, sandbox.executor.pubkey(), sandbox.token_mint, poll_interval=0.01)
        started = time.perf_counter()
        owed = await claimer.claimable()
        landing = await sender.land(await claimer.prepare_claim())
        seconds = time.perf_counter() - started
        by_method = ", ".join(
            f"{m} {sum(o.values())}" for m, o in sorted(rpc.stats.requests.items())
        )
        print(
            f"{label:<22} {owed:>16} {landing.token_delta:>16} {landing.fee_lamports:>8}"
            f" {-landing.sol_delta:>12} {rpc.stats.total():>5} {seconds:>7.3f}  {by_method}"
        )


def measure_token2022(trades: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-claim-"))
    config = SandboxConfig(slot_ms=0, traders=False, fee_source="token2022", workdir=workdir)
    with Sandbox(config) as sandbox:
        print(
            f"{'claim':<22} {'claimable':>16} {'tokens in':>16} {'fee':>8} {'SOL paid':>12}"
            f" {'RPC':>5} {'seconds':>7}  by method"
        )
        for label in ("first (creates ATA)", "second"):
            sandbox.traders.step(trades)
            sandbox.chain.advance(1)
            asyncio.run(claim_once(sandbox, label))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=int, default=10_000, help="transactions before the cursor")
    parser.add_argument("--new", type=int, default=100, help="transactions after the cursor")
    parser.add_argument("--claim", choices=("token2022",), help="measure a claim source instead")
    parser.add_argument("--trades", type=int, default=20, help="trades before each claim")
    args = parser.parse_args()
    if args.claim == "token2022":
        if not 0 < args.trades <= 1000:
            raise SystemExit("--trades must be in 1..1000")
        measure_token2022(args.trades)
        return
    if not 0 < args.old <= 100_000 or not 0 < args.new <= 10_000:
        raise SystemExit("--old must be in 1..100000 and --new in 1..10000")
    workdir = Path(tempfile.mkdtemp(prefix="bench-fees-"))
    config = SandboxConfig(slot_ms=0, traders=False, separate_fee_collector=True, workdir=workdir)
    started = time.perf_counter()
    with Sandbox(config) as sandbox:
        results = asyncio.run(measure(sandbox, args.old, args.new))
    print(f"(setup and both detections: {time.perf_counter() - started:.1f} s)")
    print(f"{'detection':<28} {'receipts':>9} {'RPC requests':>13} {'seconds':>9}  by method")
    for r in results:
        methods = ", ".join(f"{m} {n}" for m, n in sorted(r.by_method.items()))
        print(f"{r.label:<28} {r.receipts:>9} {r.requests:>13} {r.seconds:>9.3f}  {methods}")
    incremental, rescan = results
    print(
        f"full rescan / from the cursor: {rescan.requests / incremental.requests:.1f}x the "
        f"requests, {rescan.seconds / incremental.seconds:.1f}x the time"
    )


if __name__ == "__main__":
    main()
