"""`flywheel sandbox` serves the X-Ads-compatible API too: its banner shows the URL, and the
.env it writes makes ADS_ENGINE_MODE=api work against it with no other change."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flywheel.compose import x_ads_client
from flywheel.config.settings import Settings
from flywheel.errors import XAdsAuthError
from tests.sandbox.harness import read_env_file

pytestmark = pytest.mark.slow

START_TIMEOUT_S = 30.0


async def _talk_to_x_ads(env: dict[str, str]) -> None:
    settings = Settings.from_mapping(env)  # api mode's required values are all there
    assert settings.ads_post_id is not None and settings.ads_post_id.isdigit()
    async with x_ads_client(settings) as client:
        [account] = await client.accounts()
        assert account.id == env["X_ADS_ACCOUNT_ID"]
        instrument = await client.funding_instrument_for(10_000_000)
        assert instrument.able_to_fund and instrument.currency == "USD"
    wrong = Settings.from_mapping({**env, "X_ADS_ACCESS_TOKEN_SECRET": "x" * 45})
    async with x_ads_client(wrong) as client:
        with pytest.raises(XAdsAuthError, match=r"\(401\)"):
            await client.accounts()


def test_the_sandbox_command_serves_x_ads_with_working_credentials(tmp_path: Path) -> None:
    directory = tmp_path / "staging"
    command = [sys.executable, "-m", "flywheel.cli", "sandbox", "--dir", str(directory)]
    process = subprocess.Popen(
        [*command, "--no-traders"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (directory / ".env").exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the sandbox wrote no .env in time"
            time.sleep(0.05)
        env = read_env_file(directory / ".env")
        env["ADS_ENGINE_MODE"] = "api"
        asyncio.run(_talk_to_x_ads(env))

        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err[-2000:]
    assert "X Ads API" in out and env["X_ADS_API_URL"] in out
    for secret in ("X_ADS_CONSUMER_SECRET", "X_ADS_ACCESS_TOKEN_SECRET"):
        assert env[secret] not in out + err
