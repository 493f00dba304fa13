"""A `flywheel epoch` run from the command line (or cron) tells the operator what the service
would: a failed epoch and quarantined fees reach NOTIFY_URLS; a good epoch sends nothing."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flywheel.sandbox.runner import Sandbox
from tests.e2e.harness import describe, flywheel_env, run_cli
from tests.sandbox.harness import start_sandbox

pytestmark = pytest.mark.slow


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Sandbox]:
    sandbox = start_sandbox(tmp_path / "sandbox")
    try:
        yield sandbox
    finally:
        sandbox.stop()


def test_a_failed_epoch_and_quarantined_fees_notify_and_a_good_epoch_does_not(
    box: Sandbox, tmp_path: Path, inbox: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = inbox
    box.traders.step(3)
    flywheel_env(box, tmp_path, NOTIFY_URLS=url, MAX_SINGLE_FEE_SOL="0.5")
    good = run_cli(["epoch"], tmp_path)
    assert good.returncode == 0, describe(good)
    assert received == []

    big = str(box.chain.airdrop(box.fee_collector, 10**9))
    held = run_cli(["epoch"], tmp_path)
    assert held.returncode == 0, describe(held)
    [note] = received
    assert "fees quarantined" in note["title"] and big in note["message"]

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    box.traders.step(2)
    flywheel_env(box, tmp_path, NOTIFY_URLS=url, MAX_SINGLE_FEE_SOL="0.5", JUPITER_API_URL=dead)
    failed = run_cli(["epoch"], tmp_path, timeout=300)
    assert failed.returncode == 1, describe(failed)
    assert len(received) == 2 and "failed" in received[1]["title"], received
    assert received[1]["type"] == "failure"
