"""One live epoch in ADS_ENGINE_MODE=api that SIGKILLs itself right after the N-th X Ads write.

    python crash_ads.py ENV_FILE --after-write N

It wires the flywheel exactly as `flywheel epoch` does (`open_flywheel`, live mode) but gives the
X Ads client a transport that wraps the real one: once the N-th POST/PUT has been answered 2xx
(X has done it; the flywheel has not yet seen the answer), the process kills itself with SIGKILL
(no cleanup, no atexit, no flush). N=0 never kills; the script then prints how many writes the
epoch made. As in tests/e2e/crash_epoch.py, the sender re-polls every 50 ms instead of 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx

from flywheel.compose import open_flywheel
from flywheel.config.settings import Settings
from flywheel.domain.epoch_state import EpochMode, EpochState
from flywheel.logs import configure_logging

FAST_RESEND_SECONDS = 0.05
WRITES = ("POST", "PUT", "DELETE")


class KillAfterWrites(httpx.AsyncBaseTransport):
    def __init__(self, after: int) -> None:
        self.after = after
        self.writes = 0
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if request.method in WRITES and 200 <= response.status_code < 300:
            self.writes += 1
            if self.writes == self.after:
                print(f"killing after write {self.writes}: {request.method} {request.url.path}")
                sys.stdout.flush()
                os.kill(os.getpid(), signal.SIGKILL)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("env_file", type=Path)
    parser.add_argument("--after-write", type=int, default=0)
    args = parser.parse_args()
    settings = Settings.load(args.env_file)
    configure_logging(settings.log_level, settings.log_format)
    transport = KillAfterWrites(args.after_write)

    async def once() -> EpochState:
        async with open_flywheel(settings, EpochMode.LIVE, x_ads_transport=transport) as flywheel:
            flywheel.wallet.sender.resend_interval = FAST_RESEND_SECONDS
            return await flywheel.run_epoch()

    state = asyncio.run(once())
    print(f"finished {state.id} {state.status.value} after {transport.writes} writes", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
