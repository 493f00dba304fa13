"""docs/RUNBOOK.md's Scenario 1 (executor wallet compromised) and Executor Wallet Rotation, run
as written inside Docker.

The image is built from the Dockerfile and the service runs from docker-compose.yml; every
`flywheel ...` line goes through the runbook's own `flywheel` function (a fresh container of
the image). Only `docker-compose up -d` is narrowed to the flywheel's service: the Prometheus
and Alertmanager images cannot be pulled on a machine without Docker Hub. The fee collector is
the executor, the hard case: the sweep must not be counted as a fee.

Skipped where no Docker engine answers (CI machines); run here with `dockerd` started.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from solders.pubkey import Pubkey

from flywheel.sandbox.runner import Sandbox
from flywheel.solana.keypair import read_keypair_file
from tests.deploy.docker_rehearsal import (
    IMAGE,
    REPO,
    Relay,
    bridge_gateway,
    compose_project,
    container_env,
    deployment,
    docker,
    require_engine,
    wait_healthy,
)
from tests.docs import harness
from tests.docs.harness import RUNBOOK, procedure
from tests.e2e.harness import ChainView, flywheel_env
from tests.sandbox.harness import SandboxFactory

pytestmark = pytest.mark.slow

_FUNCTION = re.compile(r"^\s*(flywheel\(\) \{ docker-compose run .*\})$", re.MULTILINE)
ONLY_THE_FLYWHEEL = (
    'docker-compose() { if [ "$*" = "up -d" ]; then command docker-compose up -d x-coin-flywheel;'
    ' else command docker-compose "$@"; fi; }'
)


def runbook_function() -> str:
    """The runbook's Docker definition of `flywheel`, exactly as the operator copies it."""
    [definition] = _FUNCTION.findall(RUNBOOK.read_text(encoding="utf-8"))
    return str(definition)


def run_block(lines: list[str], directory: Path, *, stdin: str = "", **values: str) -> str:
    prelude = "\n".join([runbook_function(), ONLY_THE_FLYWHEEL])
    done = harness.run_block(
        lines, directory, prelude=prelude, timeout_s=300, stdin=stdin, placeholders=values
    )
    assert done.returncode == 0, f"{lines}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def reports(directory: Path) -> list[dict[str, Any]]:
    paths = sorted((directory / "reports").glob("epoch-*.json"))
    return [json.loads(p.read_text()) for p in paths]


def wait_for_reports(directory: Path, count: int, deadline_s: float = 120) -> list[dict[str, Any]]:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        found = reports(directory)
        if len(found) >= count and all(r.get("status") != "running" for r in found):
            return found
        time.sleep(1)
    raise AssertionError(f"{count} epoch reports never appeared: {len(reports(directory))}")


def trigger_epoch(secret: str) -> None:
    answer = httpx.post(
        "http://127.0.0.1:3000/webhook/trigger",
        headers={"Authorization": f"Bearer {secret}"},
        timeout=10,
    )
    assert answer.status_code == 202, answer.text


def start(box: Sandbox, tmp_path: Path) -> tuple[Path, dict[str, str], list[int]]:
    host_env = flywheel_env(
        box, tmp_path / "host", ANCHOR_STATE="true", ENABLE_SCHEDULER="true", LOG_LEVEL="INFO"
    )
    env, ports = container_env(host_env)
    directory = tmp_path / "deployment"
    directory.mkdir()
    deployment(directory, env, Path(host_env["EXECUTOR_KEYPAIR_PATH"]))
    return directory, env, ports


@pytest.fixture
def built_image() -> None:
    require_engine()
    docker("build", "--network", "host", "-t", IMAGE, str(REPO), timeout=900)


def first_epoch(box: Sandbox, directory: Path, up: list[str]) -> None:
    """The service as it ran before the rotation: one epoch that bought with real fees."""
    box.traders.step(3)
    run_block(up, directory)
    wait_healthy()
    [first] = wait_for_reports(directory, 1)
    assert first["status"] == "succeeded" and first["fees"]["detected_lamports"] > 0


def new_wallet(directory: Path, made: str, name: str) -> str:
    path = directory / "secure" / name
    new = str(read_keypair_file(path).pubkey())
    assert new in made
    assert path.stat().st_mode & 0o777 == 0o600
    return new


def rotated(box: Sandbox, directory: Path, env: dict[str, str], new: str) -> None:
    """After `up -d` on the new key: the next epoch counts the sweep as internal, not a fee."""
    health = wait_healthy()
    assert health["circuitBreaker"] == "closed"
    trigger_epoch(env["WEBHOOK_SECRET"])
    after = wait_for_reports(directory, 2)[-1]
    assert after["status"] == "succeeded", after["errors"]
    assert after["fees"]["detected_lamports"] == 0, "the sweep is not a fee"
    assert len(after["fees"]["internal_transfer_signatures"]) == 1
    assert after["fees"]["internal_transfer_lamports"] > 0
    assert box.chain.balance(Pubkey.from_string(new)) > 0, "the new wallet holds what was swept"


@pytest.mark.usefixtures("built_image")
def test_scenario_1_executor_compromised_inside_docker(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    box = sandbox_factory(slot_ms=100)
    assert box.fee_collector == box.executor.pubkey(), "scenario 1's hard case"
    directory, env, ports = start(box, tmp_path)
    stop, new_key, sweep, config, restart = procedure("Scenario 1: Executor Wallet Compromised")
    assert stop == ["docker-compose down"] and restart == ["docker-compose up -d"]
    assert sweep == ["flywheel wallet sweep --to NEW_PUBKEY"]

    with Relay(bridge_gateway(), ports), compose_project(directory):
        first_epoch(box, directory, restart)
        run_block(stop, directory)
        new = new_wallet(directory, run_block(new_key, directory), "new-executor.json")
        swept = run_block(sweep, directory, stdin="y\n", NEW_PUBKEY=new)
        assert "Executor swept" in swept, swept
        assert ChainView(box).sol() == 0, "everything but the fee left the compromised wallet"
        run_block(config, directory, NEW_PUBKEY=new)
        run_block(restart, directory)
        rotated(box, directory, env, new)


@pytest.mark.usefixtures("built_image")
def test_executor_key_rotation_inside_docker(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    box = sandbox_factory(slot_ms=100)
    directory, env, ports = start(box, tmp_path)
    new_key, stop, sweep, config, check, deploy, _archive = procedure("Executor Wallet Rotation")
    assert check == ["flywheel config check", "flywheel simulate"]

    with Relay(bridge_gateway(), ports), compose_project(directory):
        first_epoch(box, directory, deploy)
        # While the service runs: the runbook makes the key before it stops anything.
        new = new_wallet(directory, run_block(new_key, directory), "executor-new.json")
        run_block(stop, directory)
        swept = run_block(sweep, directory, stdin="y\n", NEW_PUBKEY=new)
        assert "Executor swept" in swept, swept
        run_block(config, directory, NEW_PUBKEY=new)
        checked = run_block(check, directory)
        assert new in checked, "config check and simulate read the new wallet"
        run_block(deploy, directory)
        rotated(box, directory, env, new)
