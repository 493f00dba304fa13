"""The console's test world: `flywheel run` as a subprocess on the sandbox, and a headless
chromium (Debian's package, driven by selenium through the packaged chromedriver).

The world has one finished epoch, a pending manual ads spec and a quarantined 1 SOL inflow,
so every action has something to act on. Screenshots go to tests/artifacts/console/.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from flywheel.sandbox.runner import Sandbox
from tests.e2e.harness import (
    describe,
    flywheel_env,
    free_port,
    run_cli,
    wait_for,
)
from tests.e2e.harness import start_service as start_flywheel_run

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "console"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@dataclass
class Service:
    base: str
    env: dict[str, str]
    directory: Path
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def secret(self) -> str:
        return self.env["WEBHOOK_SECRET"]

    def health(self) -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(f"{self.base}/health", timeout=10).json()
        return body

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_service(box: Sandbox, directory: Path, **overrides: str) -> Service:
    """One epoch on fees plus a quarantined inflow, then `flywheel run` (no scheduler)."""
    port = free_port()
    env = flywheel_env(
        box,
        directory,
        HTTP_PORT=str(port),
        METRICS_PORT=str(free_port()),
        ENABLE_SCHEDULER="false",
        ADS_ENGINE_MODE="manual",
        ADS_MIN_BUDGET_USD="0.01",
        MAX_SINGLE_FEE_SOL="0.5",
        LOG_LEVEL="INFO",
        **overrides,
    )
    box.traders.step(4)
    box.chain.airdrop(box.fee_collector, 10**9)  # 1 SOL: over MAX_SINGLE_FEE_SOL, quarantined
    first = run_cli(["epoch"], directory)
    assert first.returncode == 0, describe(first)
    process, log = start_flywheel_run(directory)
    service = Service(f"http://127.0.0.1:{port}", env, directory, process, log)
    try:
        wait_for(
            lambda: httpx.get(f"{service.base}/health", timeout=5).status_code == 200, timeout=90
        )
    except AssertionError:
        service.stop()
        raise AssertionError(log.read_text()[-3000:]) from None
    return service


def screenshot(driver: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
