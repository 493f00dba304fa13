"""Best execution on the sandbox: what a buyback pays over the arrival mid, by path and size.

Run: .venv/bin/python -m bench.execution [--sizes 10,100,500] [--paths a,b,c] [--slices 20]
     [--window 24] [--slot-ms 400] [--busy-fee 0]   (from the repo root)

For each buy size (in bps of the pool's SOL depth: 0.1%, 1% and 5% by default) and each path, a
fresh sandbox (same seed, same pool) with its market ON (arbitrage pulling the pool back to a
drifting reference a slot after each trade, and the sandwich searcher on both send paths) gets
one fee inflow of exactly that size, then one live epoch runs through `open_flywheel` as
`flywheel epoch` wires it (BUYBACK_PERCENT=100, destination burn):
- (a) v1 one shot: Jupiter's /swap/v1 transaction on the public path (sendTransaction on the
  RPC), MAX_SLIPPAGE_BPS at its default (300) and all of it as room (SLIPPAGE_MARGIN_BPS=300
  where that setting exists), then a separate burn (the path before issue 14);
- (b) v2 one shot protected: /swap/v2/build composed by us with the jitodontfront marker and the
  burn inside, sent through the sandbox's Jito-compatible engine with a 10,000-lamport tip;
- (c) v2 sliced protected: (b) with BUYBACK_SLICES=--slices inside BUYBACK_WINDOW_SECONDS=
  --window. A branch whose settings do not know BUYBACK_SLICES prints "n/a".
`--market-check` also sends --slices marked buys by hand through the Jito engine at seeded random
times in --window, to show what slicing can reach on this market.

Figures, all read from the chain, the epoch's journal or the searcher's ledger: the execution
shortfall against the arrival mid (the pool's SOL reserve / token reserve just before the epoch
starts; LP fee + price impact + what the searcher took + the reference's drift meanwhile), the
part of it the searcher took (the tokens its front-runs cost the executor's swaps, priced as
shortfall), the SOL the executor paid in fees (network, priority and tips), its transactions and
the epoch's wall seconds. Ratios are against (a). Nothing is asserted: these are figures.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import random
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.token.state import TokenAccount

from flywheel.compose import open_flywheel
from flywheel.config.settings import Settings
from flywheel.domain.epoch_state import EpochMode, EpochState
from flywheel.errors import ConfigError
from flywheel.logs import configure_logging
from flywheel.sandbox.chain.ledger import TxRecord
from flywheel.sandbox.jupiter.dex import SOL_MINT, build_v0
from flywheel.sandbox.jupiter.jito_engine import TIP_ACCOUNTS
from flywheel.sandbox.runner import Sandbox, SandboxConfig

SIZES_BPS = (10, 100, 500)  # of the pool's SOL depth
PATHS = {"a": "v1-one-shot", "b": "v2-protected", "c": "v2-sliced"}
JITO_TIP_LAMPORTS = 10_000
LAMPORTS_PER_SOL = 1_000_000_000
FAST_RESEND_SECONDS = 0.05
SLICES_FIELD = "buyback_slices"
JITO_DONTFRONT = Pubkey.from_string("jitodontfront111111111111111111111111111111")


@dataclass(frozen=True)
class Options:
    slot_ms: int = 400
    busy_fee: int = 0
    slices: int = 20
    window_seconds: int = 24


@dataclass(frozen=True)
class Run:
    path: str
    size_bps: int
    buy_lamports: int
    shortfall_bps: Decimal
    sandwich_bps: Decimal
    fee_lamports: int
    transactions: int
    seconds: float
    status: str


def slices_known() -> bool:
    """Whether this branch's settings know BUYBACK_SLICES (the sliced buybacks of issue 14)."""
    return SLICES_FIELD in Settings.model_fields


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


def path_env(sandbox: Sandbox, path: str, options: Options) -> dict[str, str]:
    env = {
        "JUPITER_SWAP_API": "v1" if path == "a" else "v2",
        "BUYBACK_PERCENT": "100",
        "ADS_PERCENT": "0",
        "MAX_BUDGET_PER_EPOCH_USD": "1000000",
        "MAX_PRICE_IMPACT_BPS": "2000",
        "MIN_BUYBACK_SOL": "0",
        "ENABLE_SCHEDULER": "false",
        # The state anchor's memo is the same on every path: left out of an execution bench.
        "ANCHOR_STATE": "false",
    }
    if path == "a":
        # The room before issue 14: the whole MAX_SLIPPAGE_BPS (a branch with the margin
        # minimum would otherwise give v1 its tighter SLIPPAGE_MARGIN_BPS too).
        env["SLIPPAGE_MARGIN_BPS"] = "300"
    if path in ("b", "c"):
        env["JITO_BLOCK_ENGINE_URL"] = f"{sandbox.jupiter_url}/jito"
        env["JITO_TIP_LAMPORTS"] = str(JITO_TIP_LAMPORTS)
    if path == "c":
        env["BUYBACK_SLICES"] = str(options.slices)
        env["BUYBACK_WINDOW_SECONDS"] = str(options.window_seconds)
    return env


def settle_market(sandbox: Sandbox, slot_ms: int) -> None:
    """Let the market fund itself and the pool sit on the reference before the epoch decides."""
    sandbox.market.step()
    if slot_ms > 0:
        time.sleep(3 * slot_ms / 1000)
    else:
        for _ in range(3):
            sandbox.chain.advance(1)
            sandbox.market.step()


def one_run(path: str, size_bps: int, options: Options) -> Run:
    workdir = Path(tempfile.mkdtemp(prefix="bench-execution-"))
    config = SandboxConfig(
        slot_ms=options.slot_ms,
        traders=False,
        workdir=workdir / "sandbox",
        arbitrage=True,
        searcher=True,
    )
    with Sandbox(config) as sandbox:
        chain, pool = sandbox.chain, sandbox.pool
        chain.priority_fee_floor = options.busy_fee
        buy = pool.reserves(chain).sol * size_bps // 10_000
        # The fee lands in the executor (the sandbox's fee collector), which already holds the
        # SOL for gas and rent: the inflow is exactly the buy.
        pay_fee(sandbox, buy)
        env = sandbox.env(workdir)
        env.update(path_env(sandbox, path, options))
        settings = Settings.from_mapping(env)
        executor = sandbox.executor.pubkey()
        settle_market(sandbox, options.slot_ms)
        bookmark = chain._ledger.next_seq()
        arrival = pool.reserves(chain)  # the arrival mid: the pool when the epoch decides
        mid = Decimal(arrival.sol) / Decimal(arrival.token)
        state, seconds = asyncio.run(epoch(settings))
        records = [
            r
            for r in chain.signatures_for_address(executor, limit=10**6)
            if r.seq >= bookmark
            and executor in r.account_keys[: r.tx.message.header.num_required_signatures]
        ]
        lost = sum(s.victim_tokens_lost for s in sandbox.market.searcher.taken_from(executor))
    paid, bought = Decimal(state.buyback_spent_lamports), Decimal(state.tokens_bought)
    nan = Decimal("NaN")
    shortfall = (paid / bought / mid - 1) * 10_000 if bought > 0 else nan
    # What the executor would have paid a token had the searcher taken nothing, as shortfall.
    sandwich = (paid / bought - paid / (bought + lost)) / mid * 10_000 if bought > 0 else nan
    return Run(
        path=path,
        size_bps=size_bps,
        buy_lamports=state.buyback_spent_lamports,
        shortfall_bps=shortfall,
        sandwich_bps=sandwich,
        fee_lamports=sum(r.fee for r in records) + sum(tips_of(r) for r in records),
        transactions=len(records),
        seconds=seconds,
        status=state.status.value,
    )


def hand_sliced(size_bps: int, options: Options) -> Decimal:
    """Shortfall of `options.slices` marked pool buys sent through the Jito engine at seeded
    random times in the window, on the same market: what slicing can reach before the flywheel
    slices (a check of the market, not of the flywheel)."""
    config = SandboxConfig(
        slot_ms=options.slot_ms,
        traders=False,
        workdir=Path(tempfile.mkdtemp(prefix="bench-execution-")),
        arbitrage=True,
        searcher=True,
    )
    with Sandbox(config) as sandbox:
        chain, pool = sandbox.chain, sandbox.pool
        settle_market(sandbox, options.slot_ms)
        arrival = pool.reserves(chain)
        each = arrival.sol * size_bps // 10_000 // options.slices
        buyer = Keypair.from_seed(bytes(32))
        chain.airdrop(buyer.pubkey(), each * options.slices + LAMPORTS_PER_SOL)
        rng = random.Random(0)
        times = sorted(rng.uniform(0, options.window_seconds) for _ in range(options.slices))
        started = time.monotonic()
        for at in times:
            time.sleep(max(0.0, started + at - time.monotonic()))
            send_marked_buy(sandbox, buyer, each)
        holding = chain.get_account(pool.ata(buyer.pubkey()))
        bought = 0 if holding is None else TokenAccount.from_bytes(bytes(holding.data[:165])).amount
    mid = Decimal(arrival.sol) / Decimal(arrival.token)
    spent = Decimal(each * options.slices)
    return (spent / Decimal(bought) / mid - 1) * 10_000


def send_marked_buy(sandbox: Sandbox, buyer: Keypair, lamports: int) -> None:
    chain, pool = sandbox.chain, sandbox.pool
    quote = pool.quote(chain, SOL_MINT, pool.mint, lamports, 50)
    price = set_compute_unit_price(1)
    marked = Instruction(price.program_id, price.data, [AccountMeta(JITO_DONTFRONT, False, False)])
    ixs = [set_compute_unit_limit(200_000), marked, *pool.swap_instructions(buyer.pubkey(), quote)]
    blockhash, _ = chain.latest_blockhash()
    tx = build_v0(buyer.pubkey(), ixs, blockhash, [buyer, pool.authority])
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "sendTransaction",
        "params": [base64.b64encode(bytes(tx)).decode(), {"encoding": "base64"}],
    }
    httpx.post(f"{sandbox.jupiter_url}/jito/api/v1/transactions", json=body, timeout=10)


def tips_of(record: TxRecord) -> int:
    """Lamports the transaction moved into Jito's tip accounts."""
    return sum(
        record.post_balances[i] - record.pre_balances[i]
        for i, key in enumerate(record.account_keys)
        if key in TIP_ACCOUNTS
    )


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base else "-"


HEADER = (
    f"{'size':>6} {'path':<16} {'SOL in':>8} {'shortfall bps':>13} {'sandwich bps':>12} "
    f"{'fees SOL':>10} {'txs':>4} {'seconds':>8}  {'shortfall':>9} {'fees':>6} {'txs':>6} "
    f"{'secs':>6}"
)


def row(run: Run | str, path: str, size_bps: int, a: Run | str | None) -> str:
    label = f"{size_bps / 100:>5.1f}% ({path}) {PATHS[path]:<12}"
    if isinstance(run, str):
        return f"{label} n/a ({run})"
    base = a if isinstance(a, Run) else run
    return (
        f"{label} {run.buy_lamports / LAMPORTS_PER_SOL:>8.4f} {run.shortfall_bps:>13.1f} "
        f"{run.sandwich_bps:>12.1f} {run.fee_lamports / LAMPORTS_PER_SOL:>10.6f} "
        f"{run.transactions:>4} {run.seconds:>8.3f}  "
        f"{ratio(float(run.shortfall_bps), float(base.shortfall_bps)):>9} "
        f"{ratio(run.fee_lamports, base.fee_lamports):>6} "
        f"{ratio(run.transactions, base.transactions):>6} {ratio(run.seconds, base.seconds):>6}"
        + ("" if run.status == "succeeded" else f"  [{run.status}]")
    )


def print_table(runs: dict[tuple[int, str], Run | str]) -> None:
    """One row a (size, path); ratios (shortfall, fees, txs, seconds) are against (a)."""
    print(f"{'':>{len(HEADER) - 30}}{'ratios against (a)':>30}")
    print(HEADER)
    print("-" * len(HEADER))
    for (size, path), run in runs.items():
        print(row(run, path, size, runs.get((size, "a"))))


def parse_args() -> tuple[list[int], list[str], Options, bool]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES_BPS)), help="bps of depth")
    parser.add_argument("--paths", default=",".join(PATHS), help="a subset of a,b,c")
    parser.add_argument("--slices", type=int, default=Options.slices, help="(c) BUYBACK_SLICES")
    parser.add_argument("--window", type=int, default=Options.window_seconds, help="(c) seconds")
    parser.add_argument("--slot-ms", type=int, default=Options.slot_ms, help="sandbox slot")
    parser.add_argument(
        "--busy-fee", type=int, default=0, help="recent priority fee, micro-lamports per unit"
    )
    parser.add_argument(
        "--market-check",
        action="store_true",
        help="also send --slices marked buys by hand in --window: what slicing can reach",
    )
    args = parser.parse_args()
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        raise SystemExit("--sizes must be comma-separated integers (bps of depth)") from None
    paths = args.paths.split(",")
    if not all(0 < s <= 2_000 for s in sizes) or not set(paths) <= set(PATHS):
        raise SystemExit("--sizes must be in 1..2000 bps and --paths a subset of a,b,c")
    if not 0 < args.slot_ms <= 2000 or args.busy_fee < 0 or args.slices < 1 or args.window < 1:
        raise SystemExit("--slot-ms must be in 1..2000, --busy-fee >= 0, --slices/--window >= 1")
    options = Options(args.slot_ms, args.busy_fee, args.slices, args.window)
    return sizes, paths, options, args.market_check


def main() -> None:
    sizes, paths, options, check = parse_args()
    configure_logging("ERROR", "console")
    runs: dict[tuple[int, str], Run | str] = {}
    for size in sizes:
        for path in paths:
            if path == "c" and not slices_known():
                runs[(size, path)] = "needs BUYBACK_SLICES"
                continue
            try:
                runs[(size, path)] = one_run(path, size, options)
            except ConfigError as exc:  # e.g. --slices or --window out of the settings' range
                runs[(size, path)] = f"configuration refused: {exc}"
    print_table(runs)
    if check:
        for size in sizes:
            figure = hand_sliced(size, options)
            print(
                f"market check, {size / 100:.1f}%: {options.slices} marked buys through the Jito "
                f"engine in {options.window_seconds} s pay {figure:.1f} bps over the arrival mid"
            )


if __name__ == "__main__":
    main()
