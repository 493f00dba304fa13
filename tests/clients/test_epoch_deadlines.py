"""A real epoch through the sandbox while its RPC or its Jupiter API trickles: the epoch ends
(failed, nothing spent, the deadline named in its errors) and the next one, with the server
healthy again, runs to the end."""

from __future__ import annotations

from pathlib import Path

import pytest

from flywheel.compose import open_flywheel
from flywheel.config.settings import Settings
from flywheel.domain.epoch_state import EpochState, EpochStatus
from flywheel.sandbox.runner import Sandbox


async def _epoch(settings: Settings, sandbox: Sandbox, faults: dict[str, int]) -> EpochState:
    # The faults start once the flywheel is open: its start-up check against the chain's
    # anchors reads the RPC too, and a hung start-up is not what this test is about.
    async with open_flywheel(settings) as flywheel:
        sandbox.faults.update(**faults)
        try:
            return await flywheel.run_epoch()
        finally:
            sandbox.faults.update(**dict.fromkeys(faults, 0))


@pytest.mark.parametrize(
    ("fault", "variable"),
    [
        ("rpc_trickle_ms", "RPC_CALL_DEADLINE_SECONDS"),
        ("jupiter_trickle_ms", "API_CALL_DEADLINE_SECONDS"),
    ],
)
async def test_a_trickling_server_fails_the_epoch_in_time_and_the_next_one_runs(
    sandbox: Sandbox, tmp_path: Path, fault: str, variable: str
) -> None:
    sandbox.traders.step(3)  # fees to spend, so the epoch reaches Jupiter
    env = sandbox.env(tmp_path / "bot")
    env.update({variable: "2", "RPC_TIMEOUT_SECONDS": "1", "API_TIMEOUT_SECONDS": "1"})
    settings = Settings.from_mapping(env)
    executor_sol = sandbox.chain.balance(sandbox.executor.pubkey())

    stalled = await _epoch(settings, sandbox, {fault: 100})

    assert stalled.status is EpochStatus.FAILED
    assert any(variable in error.message for error in stalled.errors), stalled.errors
    assert sandbox.chain.balance(sandbox.executor.pubkey()) == executor_sol  # nothing spent
    healthy = await _epoch(settings, sandbox, {})
    assert healthy.status is EpochStatus.SUCCEEDED, healthy.errors
