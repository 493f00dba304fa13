"""docs/RUNBOOK.md's state backup, disaster recovery and key rotation, run as written.

Each procedure's bash blocks are read from the runbook and run by bash, in a directory with the
sandbox's `.env`, against the sandbox. Only what cannot run here is stood in for:
`docker-compose up -d` is the service's first epoch (`flywheel epoch`), `docker-compose down`
does nothing, `gpg -d` gives the backed-up `.env` (`.env.decrypted`), `VAR=value` lines are
edits of `.env`, and the placeholders (NEW_PUBKEY, a backup's date) are the test's. The results
are checked against the chain.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from flywheel.sandbox.runner import Sandbox
from flywheel.solana.keypair import read_keypair_file
from tests.docs import harness
from tests.docs.harness import procedure
from tests.e2e.harness import (
    CLI_TIMEOUT_S,
    FLYWHEEL,
    ChainView,
    describe,
    epoch_reports,
    finished_epochs,
    flywheel_env,
    run_cli,
    state_db,
)

pytestmark = pytest.mark.slow

STAND_INS = f"""
export PATH="{FLYWHEEL.parent}:$PATH"
docker-compose() {{ if [ "$*" = "up -d" ]; then flywheel epoch; fi; }}
gpg() {{ cat .env.decrypted; }}
"""


def run_block(
    lines: list[str], directory: Path, *, stdin: str = "", **placeholders: str
) -> subprocess.CompletedProcess[str]:
    """A block with the stand-ins; `/secure/` in an edited value is `directory/secure/`."""
    return harness.run_block(
        lines,
        directory,
        prelude=STAND_INS,
        timeout_s=CLI_TIMEOUT_S * 2,
        stdin=stdin,
        value_of=lambda value: value.replace("/secure/", f"{directory}/secure/"),
        placeholders=placeholders,
    )


def anchored(sandbox: Sandbox, directory: Path) -> dict[str, str]:
    return flywheel_env(sandbox, directory, ANCHOR_STATE="true")


def epoch(sandbox: Sandbox, directory: Path) -> None:
    sandbox.traders.step(3)
    result = run_cli(["epoch"], directory)
    assert result.returncode == 0, describe(result)


def test_state_backup_as_written(sandbox: Sandbox, tmp_path: Path) -> None:
    [block] = procedure("State Backup")
    assert block == ["flywheel state backup backups/flywheel-$(date +%Y%m%d-%H%M%S).sqlite"]
    env = anchored(sandbox, tmp_path)
    epoch(sandbox, tmp_path)
    done = run_block(block, tmp_path)
    assert done.returncode == 0, describe(done)
    [copy] = (tmp_path / "backups").glob("flywheel-*.sqlite")
    assert copy.stat().st_mode & 0o777 == 0o600
    assert copy.read_bytes()[:16] == b"SQLite format 3\x00"
    assert state_db(env).exists()


def dr_blocks() -> dict[str, list[str]]:
    blocks = procedure("Disaster Recovery")
    named = {
        "restore config": blocks[0],
        "restore state": blocks[1],
        "rebuild replace": blocks[2],
        "rebuild": blocks[3],
        "check": blocks[4],
        "deploy": blocks[5],
    }
    assert named["restore state"][-1] == "flywheel state verify"
    assert named["rebuild replace"] == ["flywheel state rebuild --replace"]
    assert named["rebuild"] == ["flywheel state rebuild"]
    assert named["deploy"] == ["docker-compose up -d"]
    return named


def lose_the_server(env: dict[str, str], directory: Path) -> None:
    env_file = directory / ".env"
    shutil.copyfile(env_file, directory / ".env.decrypted")  # what the encrypted backup holds
    env_file.unlink()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{state_db(env)}{suffix}").unlink(missing_ok=True)


def no_fee_spent_twice(env: dict[str, str]) -> None:
    signatures = [s for r in epoch_reports(env) for s in r["fees"]["receipt_signatures"]]
    assert len(signatures) == len(set(signatures)), "two reports list the same fee"


@pytest.mark.parametrize("backup", ["current", "one epoch old", "none"])
def test_disaster_recovery_as_written(sandbox: Sandbox, tmp_path: Path, backup: str) -> None:
    blocks = dr_blocks()
    env = anchored(sandbox, tmp_path)
    epoch(sandbox, tmp_path)
    placeholder = tmp_path / "backups" / "flywheel-YYYYMMDD-HHMMSS.sqlite"
    if backup == "one epoch old":
        assert run_cli(["state", "backup", str(placeholder)], tmp_path).returncode == 0
    epoch(sandbox, tmp_path)
    if backup == "current":
        assert run_cli(["state", "backup", str(placeholder)], tmp_path).returncode == 0
    carried = finished_epochs(env)[-1].carried_out_lamports
    lose_the_server(env, tmp_path)
    assert run_block(blocks["restore config"], tmp_path).returncode == 0
    assert (tmp_path / ".env").read_text() == (tmp_path / ".env.decrypted").read_text()

    if backup == "none":
        steps = ["rebuild"]
    else:
        restored = run_block(blocks["restore state"], tmp_path)
        if backup == "current":
            assert restored.returncode == 0, describe(restored)
            steps = []
        else:
            assert restored.returncode == 1, describe(restored)
            assert "flywheel state rebuild --replace" in restored.stderr.replace("\n", "")
            steps = ["rebuild replace"]
    view = ChainView(sandbox)
    supply = view.supply()
    for step in [*steps, "check", "deploy"]:
        result = run_block(blocks[step], tmp_path)
        assert result.returncode == 0, f"{step}: {describe(result)}"
    last = finished_epochs(env)[-1]
    assert last.carried_in_lamports == carried, "nothing carried is forgotten"
    assert last.fees_in_lamports == 0, "no trade since: no fee, none counted again"
    assert view.supply() == supply, "nothing was bought back again"
    no_fee_spent_twice(env)


def test_executor_key_rotation_as_written(sandbox: Sandbox, tmp_path: Path) -> None:
    blocks = procedure("Executor Wallet Rotation")
    new_key, stop, sweep, config, check, deploy, _archive = blocks
    assert sweep == ["flywheel wallet sweep --to NEW_PUBKEY"]
    assert deploy == ["docker-compose up -d"]
    assert sandbox.fee_collector == sandbox.executor.pubkey(), "scenario 1's hard case"
    env = anchored(sandbox, tmp_path)
    epoch(sandbox, tmp_path)
    (tmp_path / "secure").mkdir(mode=0o700)

    made = run_block(new_key, tmp_path)
    assert made.returncode == 0, describe(made)
    new = str(read_keypair_file(tmp_path / "secure" / "executor-new.json").pubkey())
    assert run_block(stop, tmp_path).returncode == 0
    swept = run_block(sweep, tmp_path, stdin="y\n", NEW_PUBKEY=new)
    assert swept.returncode == 0, describe(swept)
    assert ChainView(sandbox).sol() == 0
    for block in (config, check, deploy):
        result = run_block(block, tmp_path, NEW_PUBKEY=new)
        assert result.returncode == 0, describe(result)

    after = finished_epochs(env)[-1]
    assert after.fees_in_lamports == 0, "the sweep is not a fee"
    assert after.internal_lamports > 0 and len(after.internal_signatures) == 1
    assert after.buyback_spent_lamports == 0
    shutil.rmtree(tmp_path / "secure")
