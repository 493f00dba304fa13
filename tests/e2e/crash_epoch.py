"""One live epoch that SIGKILLs itself at a chosen point: the crash half of the crash tests.

    python crash_epoch.py ENV_FILE [--after-step STEP] [--after-send N] [--at-slice-wait K]

It wires the flywheel exactly as `flywheel epoch` does (`open_flywheel`, live mode), then kills
its own process with SIGKILL (no cleanup, no atexit, no flush) right after the epoch step STEP
completed (the `on_step` observer), or right after the N-th successful RPC sendTransaction
returned (the RPC client's `on_request` hook): N=1 is the swap, N=2 the burn on a quiet chain.
With --at-slice-wait K (a sliced buyback) it dies at the K-th wait for a slice's time (K=1 is
before the first slice; K=3 is after two slices were bought, before the third is quoted): the
point between slices; --no-wait lets the slices' times pass at once (a resume that need not
wait out a long window). Without a kill point it just runs the epoch and prints its status.

The only difference from the CLI: the sender re-polls every 50 ms instead of every 2 s, since
the sandbox executes a transaction as it is sent; that keeps the crash tests fast.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

from flywheel.compose import open_flywheel
from flywheel.config.settings import Settings
from flywheel.domain.epoch_state import STEPS, EpochMode, EpochState
from flywheel.logs import configure_logging

FAST_RESEND_SECONDS = 0.05


def die(where: str) -> None:
    print(f"killing at {where}", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("env_file", type=Path)
    parser.add_argument("--after-step", choices=STEPS)
    parser.add_argument("--after-send", type=int)
    parser.add_argument("--at-slice-wait", type=int)
    parser.add_argument("--no-wait", action="store_true", help="slices' times pass at once")
    args = parser.parse_args()
    settings = Settings.load(args.env_file)
    configure_logging(settings.log_level, settings.log_format)
    sends = waits = 0

    def on_step(step: str, _state: EpochState) -> None:
        if step == args.after_step:
            die(f"step {step}")

    def on_request(method: str, outcome: str, _seconds: float) -> None:
        nonlocal sends
        if method == "sendTransaction" and outcome == "ok":
            sends += 1
            if sends == args.after_send:
                die(f"sendTransaction {sends}")

    async def slice_wait(seconds: float) -> None:
        nonlocal waits
        waits += 1
        if waits == args.at_slice_wait:
            die(f"slice wait {waits}")
        await asyncio.sleep(0 if args.no_wait else seconds)

    async def once() -> EpochState:
        async with open_flywheel(
            settings, EpochMode.LIVE, on_step=on_step, rpc_hook=on_request
        ) as flywheel:
            flywheel.wallet.sender.resend_interval = FAST_RESEND_SECONDS
            flywheel.runner.buyback.sleep = slice_wait
            return await flywheel.run_epoch()

    state = asyncio.run(once())
    print(f"finished {state.id} {state.status.value}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
