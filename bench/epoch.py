"""One live epoch on the sandbox: total time, and time and RPC round trips per step.

Run: .venv/bin/python -m bench.epoch [--trades 10] [--slot-ms 400]   (from the repo root)

The sandbox (chain, JSON-RPC and Jupiter-compatible API on loopback, in this process) gets
TRADES simulated trades, each paying a creator fee; then one epoch runs through
`open_flywheel`, exactly as `flywheel epoch` wires it. The RPC client's `on_request` hook
counts every HTTP attempt; the runner's `on_step` observer closes each step's tally (a step's
requests are those made since the previous step finished). Nothing is asserted: these are
figures. Jupiter's HTTP calls are not RPC round trips and are not counted here.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from flywheel.compose import open_flywheel
from flywheel.config.settings import Settings
from flywheel.domain.epoch_state import EpochMode, EpochState
from flywheel.logs import configure_logging
from flywheel.sandbox.runner import Sandbox, SandboxConfig


@dataclass
class StepTally:
    """RPC attempts per method and wall time, closed step by step."""

    started: float = field(default_factory=time.perf_counter)
    pending: Counter[str] = field(default_factory=Counter)
    steps: list[tuple[str, Counter[str], float]] = field(default_factory=list)

    def on_request(self, method: str, _outcome: str, _seconds: float) -> None:
        self.pending[method] += 1

    def on_step(self, step: str, _state: EpochState) -> None:
        now = time.perf_counter()
        self.steps.append((step, self.pending, now - self.started))
        self.pending, self.started = Counter(), now


async def one_epoch(settings: Settings) -> tuple[EpochState, StepTally, float]:
    tally = StepTally()
    started = time.perf_counter()
    async with open_flywheel(
        settings, EpochMode.LIVE, on_step=tally.on_step, rpc_hook=tally.on_request
    ) as flywheel:
        tally.started = time.perf_counter()
        state = await flywheel.run_epoch()
    return state, tally, time.perf_counter() - started


def print_figures(state: EpochState, tally: StepTally, total: float) -> None:
    print(f"epoch {state.id}: {state.status.value}, {len(state.receipt_signatures)} fees in")
    print(f"{'step':<16} {'RPC':>5} {'seconds':>8}  RPC by method")
    for step, methods, seconds in tally.steps:
        detail = ", ".join(f"{m} {n}" for m, n in sorted(methods.items()))
        print(f"{step:<16} {sum(methods.values()):>5} {seconds:>8.3f}  {detail}")
    requests = sum(sum(m.values()) for _, m, _ in tally.steps)
    print(f"{'total':<16} {requests:>5} {total:>8.3f}  (wall time includes wiring and closing)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=10, help="fees paid before the epoch")
    parser.add_argument("--slot-ms", type=int, default=400, help="sandbox slot length")
    args = parser.parse_args()
    if not 1 <= args.trades <= 500 or not 0 <= args.slot_ms <= 2000:
        raise SystemExit("--trades must be in 1..500 and --slot-ms in 0..2000")
    workdir = Path(tempfile.mkdtemp(prefix="bench-epoch-"))
    config = SandboxConfig(slot_ms=args.slot_ms, traders=False, workdir=workdir / "sandbox")
    with Sandbox(config) as sandbox:
        env = sandbox.env(workdir)
        env["FEE_START"] = "all"
        settings = Settings.from_mapping(env)
        configure_logging("ERROR", "console")
        sandbox.traders.step(args.trades)
        state, tally, total = asyncio.run(one_epoch(settings))
    print_figures(state, tally, total)


if __name__ == "__main__":
    main()
