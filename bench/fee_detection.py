"""Fee detection cost: one detection from the cursor against a full rescan of the history.

Run: .venv/bin/python -m bench.fee_detection [--old 10000] [--new 100]   (from the repo root)
     .venv/bin/python -m bench.fee_detection --claim token2022|pump [--trades 20]

The sandbox chain (in this process, JSON-RPC over loopback HTTP) gets OLD inflows to the fee
collector, then the cursor is taken, then NEW inflows. The flywheel's WalletWatcherFeeSource
then detects twice through the real RPC client: from the cursor (what every epoch does), and
from no cursor with FEE_START=all (a full rescan). Printed: RPC requests (HTTP round trips) and
wall time of each, and their ratios. Nothing is asserted: these are figures.

`--claim token2022`: the claim source instead. TRADES sandbox trades withhold Token-2022
transfer fees; one claim is then decided (`claimable`), prepared and landed through the real
RPC client and sender, twice (the second time with the executor's token account already
there). Printed per claim: RPC requests by method, the network fee and the tokens it moved.

`--claim pump`: the same with the sandbox's emulated pump.fun coin (traders' creator fees in its
vault, on its curve and in its PumpSwap vault), then a third epoch with no new trade, which only
decides (one `getMultipleAccounts`) and sends nothing. "moved" is lamports: the executor's SOL
change plus the fee, what the claim step counts.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from flywheel.domain.fees import FeeBatch
from flywheel.ports import FeeClaimer
from flywheel.sandbox.runner import Sandbox, SandboxConfig
from flywheel.solana.fee_source import WalletWatcherFeeSource
from flywheel.solana.fee_sources.pump_claim import PumpClaimer
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


def _claimer(source: str, rpc: RpcClient, sandbox: Sandbox) -> FeeClaimer:
    if source == "pump":
        return PumpClaimer(rpc, sandbox.executor, sandbox.token_mint)
    return Token2022Claimer(rpc, sandbox.executor, sandbox.token_mint)


async def claim_once(sandbox: Sandbox, source: str, label: str) -> None:
    async with RpcClient(sandbox.rpc_url) as rpc:
        claimer = _claimer(source, rpc, sandbox)
        sender = Sender(rpc, sandbox.executor.pubkey(), sandbox.token_mint, poll_interval=0.01)
        started = time.perf_counter()
        owed = await claimer.claimable()
        moved, fee, paid = 0, 0, 0
        if owed > 0:
            landing = await sender.land(await claimer.prepare_claim())
            fee, paid = landing.fee_lamports, -landing.sol_delta
            moved = landing.token_delta if claimer.unit == "tokens" else landing.sol_delta + fee
        seconds = time.perf_counter() - started
        by_method = ", ".join(
            f"{m} {sum(o.values())}" for m, o in sorted(rpc.stats.requests.items())
        )
        print(
            f"{label:<22} {owed:>16} {moved:>16} {fee:>8}"
            f" {paid:>12} {rpc.stats.total():>5} {seconds:>7.3f}  {by_method}"
        )


def measure_claim(source: str, trades: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-claim-"))
    config = SandboxConfig(slot_ms=0, traders=False, fee_source=source, workdir=workdir)
    with Sandbox(config) as sandbox:
        print(
            f"{'claim':<22} {'claimable':>16} {'moved':>16} {'fee':>8} {'SOL paid':>12}"
            f" {'RPC':>5} {'seconds':>7}  by method"
        )
        rounds = [("first", trades), ("second", trades), ("no new trade", 0)]
        for label, count in rounds:
            sandbox.traders.step(count)
            sandbox.chain.advance(1)
            asyncio.run(claim_once(sandbox, source, label))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=int, default=10_000, help="transactions before the cursor")
    parser.add_argument("--new", type=int, default=100, help="transactions after the cursor")
    parser.add_argument(
        "--claim", choices=("token2022", "pump"), help="measure a claim source instead"
    )
    parser.add_argument("--trades", type=int, default=20, help="trades before each claim")
    args = parser.parse_args()
    if args.claim is not None:
        if not 0 < args.trades <= 1000:
            raise SystemExit("--trades must be in 1..1000")
        measure_claim(args.claim, args.trades)
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
