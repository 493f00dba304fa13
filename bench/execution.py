"""Best execution on the sandbox: what a buyback pays over the pool's mid price, by path and size.

Run: .venv/bin/python -m bench.execution [--slot-ms 400] [--busy-fee 0]   (from the repo root)

For each buy size (0.1%, 1% and 5% of the pool's SOL depth) and each path, a fresh sandbox
(same seed, same pool) gets one fee inflow of exactly that size, then one live epoch runs
through `open_flywheel` as `flywheel epoch` wires it (BUYBACK_PERCENT=100, destination burn):
- (a) v1 one shot: Jupiter's /swap/v1 transaction, then a separate burn (today's path);
- (b) v2 one shot: /swap/v2/build composed by us, the burn of the guaranteed minimum inside it,
  our compute budget, and the jitodontfront marker;
- (c) v2 one shot through the sandbox's Jito-compatible block engine, with a 10,000-lamport tip.

Figures, all read from the chain or the epoch's journal: shortfall against the arrival mid
price (the pool's SOL reserve / token reserve when the epoch decides: LP fee + price impact +
anything a sandwich took), the SOL the executor paid in transaction fees (network + priority),
the executor's transactions and the epoch's wall seconds (the fees column of (c) includes
its tip). Ratios are against (a). `--busy-fee`
sets every recent slot's priority fee (micro-lamports per unit) on the sandbox chain, to see our
fee policy on a busy chain. Nothing is asserted: these are figures.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from solders.keypair import Keypair
from solders.system_program import TransferParams, transfer

from flywheel.compose import open_flywheel
from flywheel.config.settings import Settings
from flywheel.domain.epoch_state import EpochMode, EpochState
from flywheel.logs import configure_logging
from flywheel.sandbox.chain.ledger import TxRecord
from flywheel.sandbox.jupiter.dex import build_v0
from flywheel.sandbox.jupiter.jito_engine import TIP_ACCOUNTS
from flywheel.sandbox.runner import Sandbox, SandboxConfig

SIZES_BPS = (10, 100, 500)  # of the pool's SOL depth
PATHS = (
    ("a", "v1 one shot", "v1"),
    ("b", "v2 one shot", "v2"),
    ("c", "v2 + Jito", "v2+jito"),
)
JITO_TIP_LAMPORTS = 10_000
LAMPORTS_PER_SOL = 1_000_000_000
FAST_RESEND_SECONDS = 0.05


@dataclass(frozen=True)
class Run:
    path: str
    size_bps: int
    buy_lamports: int
    shortfall_bps: Decimal
    fee_lamports: int
    transactions: int
    seconds: float
    status: str


def pay_fee(sandbox: Sandbox, lamports: int) -> None:
    """One inflow of `lamports` to the fee collector, from a wallet of its own."""
    payer = Keypair()
    chain = sandbox.chain
    chain.airdrop(payer.pubkey(), lamports + LAMPORTS_PER_SOL)
    ix = transfer(
        TransferParams(
            from_pubkey=payer.pubkey(), to_pubkey=sandbox.fee_collector, lamports=lamports
        )
    )
    blockhash, _ = chain.latest_blockhash()
    chain.send(build_v0(payer.pubkey(), [ix], blockhash, [payer]))


async def epoch(settings: Settings) -> tuple[EpochState, float]:
    async with open_flywheel(settings, EpochMode.LIVE) as flywheel:
        flywheel.wallet.sender.resend_interval = FAST_RESEND_SECONDS
        started = time.perf_counter()
        state = await flywheel.run_epoch()
        return state, time.perf_counter() - started


def one_run(path: str, api: str, size_bps: int, slot_ms: int, busy_fee: int) -> Run:
    workdir = Path(tempfile.mkdtemp(prefix="bench-execution-"))
    config = SandboxConfig(slot_ms=slot_ms, traders=False, workdir=workdir / "sandbox")
    with Sandbox(config) as sandbox:
        chain, pool = sandbox.chain, sandbox.pool
        chain.priority_fee_floor = busy_fee
        reserves = pool.reserves(chain)
        buy = reserves.sol * size_bps // 10_000
        # The fee lands in the executor (the sandbox's fee collector), which already holds the
        # SOL for gas and rent: the inflow is exactly the buy.
        pay_fee(sandbox, buy)
        env = sandbox.env(workdir)
        if api == "v2+jito":
            api = "v2"
            env["JITO_BLOCK_ENGINE_URL"] = f"{sandbox.jupiter_url}/jito"
            env["JITO_TIP_LAMPORTS"] = str(JITO_TIP_LAMPORTS)
        env.update(
            {
                "JUPITER_SWAP_API": api,
                "BUYBACK_PERCENT": "100",
                "ADS_PERCENT": "0",
                "MAX_BUDGET_PER_EPOCH_USD": "1000000",
                "MAX_PRICE_IMPACT_BPS": "2000",
                "MIN_BUYBACK_SOL": "0",
                "ENABLE_SCHEDULER": "false",
            }
        )
        settings = Settings.from_mapping(env)
        executor = sandbox.executor.pubkey()
        bookmark = chain._ledger.next_seq()
        # The arrival mid: the pool's marginal price when the epoch decides.
        arrival = pool.reserves(chain)
        mid = Decimal(arrival.sol) / Decimal(arrival.token)
        state, seconds = asyncio.run(epoch(settings))
        records = [
            r
            for r in chain.signatures_for_address(executor, limit=10**6)
            if r.seq >= bookmark
            and executor in r.account_keys[: r.tx.message.header.num_required_signatures]
        ]
    paid = Decimal(state.buyback_spent_lamports)
    bought = Decimal(state.tokens_bought)
    shortfall = (paid / bought / mid - 1) * 10_000 if bought > 0 else Decimal("NaN")
    return Run(
        path=path,
        size_bps=size_bps,
        buy_lamports=state.buyback_spent_lamports,
        shortfall_bps=shortfall,
        fee_lamports=sum(r.fee for r in records) + sum(tips_of(r) for r in records),
        transactions=len(records),
        seconds=seconds,
        status=state.status.value,
    )


def tips_of(record: TxRecord) -> int:
    """Lamports the transaction moved into Jito's tip accounts."""
    return sum(
        record.post_balances[i] - record.pre_balances[i]
        for i, key in enumerate(record.account_keys)
        if key in TIP_ACCOUNTS
    )


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base else "-"


def print_table(runs: list[Run]) -> None:
    header = (
        f"{'size':>6} {'path':<14} {'SOL in':>9} {'shortfall bps':>14} {'fees SOL':>11} "
        f"{'txs':>4} {'seconds':>8}  {'fees vs (a)':>11} {'txs vs (a)':>10} {'secs vs (a)':>11}"
    )
    print(header)
    print("-" * len(header))
    base = {r.size_bps: r for r in runs if r.path == "a"}
    labels = {key: label for key, label, _ in PATHS}
    for run in runs:
        a = base[run.size_bps]
        print(
            f"{run.size_bps / 100:>5.1f}% ({run.path}) {labels[run.path]:<10} "
            f"{run.buy_lamports / LAMPORTS_PER_SOL:>9.4f} {run.shortfall_bps:>14.1f} "
            f"{run.fee_lamports / LAMPORTS_PER_SOL:>11.6f} {run.transactions:>4} "
            f"{run.seconds:>8.3f}  {ratio(run.fee_lamports, a.fee_lamports):>11} "
            f"{ratio(run.transactions, a.transactions):>10} {ratio(run.seconds, a.seconds):>11}"
            + ("" if run.status == "succeeded" else f"  [{run.status}]")
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slot-ms", type=int, default=400, help="sandbox slot length")
    parser.add_argument(
        "--busy-fee", type=int, default=0, help="recent priority fee, micro-lamports per unit"
    )
    args = parser.parse_args()
    if not 0 <= args.slot_ms <= 2000 or args.busy_fee < 0:
        raise SystemExit("--slot-ms must be in 0..2000 and --busy-fee >= 0")
    configure_logging("ERROR", "console")
    runs = [
        one_run(key, api, size, args.slot_ms, args.busy_fee)
        for size in SIZES_BPS
        for key, _, api in PATHS
    ]
    print_table(runs)


if __name__ == "__main__":
    main()
