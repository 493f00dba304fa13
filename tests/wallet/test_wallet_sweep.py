"""`flywheel wallet sweep`: everything leaves the executor once, even across an interruption."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from spl.token.instructions import get_associated_token_address

from flywheel.config.settings import Settings
from flywheel.errors import StateError, TemporaryError
from flywheel.persistence.store import SqliteStore
from flywheel.sandbox.runner import Sandbox
from flywheel.solana.keypair import read_keypair_file
from flywheel.solana.rpc import RpcClient
from flywheel.solana.sender import Sender
from flywheel.solana.sweep import Sweeper, SweepJournal
from flywheel.solana.tokens import token_snapshot
from tests.e2e.harness import FLYWHEEL, clean_environment, flywheel_env, run_cli


def token_amount(sandbox: Sandbox, owner: Pubkey) -> int:
    ata = get_associated_token_address(owner, sandbox.token_mint, sandbox.token_program_id)
    held = token_snapshot(sandbox.chain.get_account(ata))
    return 0 if held is None else held.amount


def holding_executor(sandbox: Sandbox, tmp_path: Path) -> dict[str, str]:
    """A configuration whose executor holds bought tokens (a `hold` epoch ran)."""
    env = flywheel_env(sandbox, tmp_path, BUYBACK_DESTINATION="hold")
    sandbox.traders.step(5)
    epoch = run_cli(["epoch"], tmp_path)
    assert epoch.returncode == 0, epoch.stdout + epoch.stderr
    assert token_amount(sandbox, sandbox.executor.pubkey()) > 0
    return env


def test_sweep_moves_every_token_and_all_sol_but_the_fee(sandbox, tmp_path):
    holding_executor(sandbox, tmp_path)
    executor = sandbox.executor.pubkey()
    target = Keypair().pubkey()
    tokens = token_amount(sandbox, executor)
    sol = sandbox.chain.balance(executor)

    swept = run_cli(["wallet", "sweep", "--to", str(target), "--yes"], tmp_path)

    assert swept.returncode == 0, swept.stdout + swept.stderr
    assert token_amount(sandbox, target) == tokens
    assert sandbox.chain.balance(executor) == 0
    # Two transaction fees; the rent of the closed token account paid for the target's new one.
    assert sandbox.chain.balance(target) == sol - 2 * 5_000
    again = run_cli(["wallet", "sweep", "--to", str(target), "--yes"], tmp_path)
    assert again.returncode == 0, again.stderr
    assert "confirmed" not in again.stdout, "a second sweep has nothing to send"


def test_declining_the_prompt_sends_nothing(sandbox, tmp_path):
    flywheel_env(sandbox, tmp_path)
    executor = sandbox.executor.pubkey()
    before = sandbox.chain.balance(executor)
    result = subprocess.run(
        [str(FLYWHEEL), "wallet", "sweep", "--to", str(Keypair().pubkey())],
        cwd=tmp_path,
        env=clean_environment(),
        input="n\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "Nothing was sent" in result.stdout
    assert sandbox.chain.balance(executor) == before


def test_bad_target_is_a_usage_error(sandbox, tmp_path):
    flywheel_env(sandbox, tmp_path)
    result = run_cli(["wallet", "sweep", "--to", "not-a-key", "--yes"], tmp_path)
    assert result.returncode == 2
    assert "--to: " in result.stderr
    assert "Traceback" not in result.stderr


async def test_an_interrupted_sweep_is_finished_with_the_same_bytes(sandbox, tmp_path):
    env = flywheel_env(sandbox, tmp_path)
    settings = Settings.from_mapping(env)
    keypair = settings.load_executor_keypair()
    target = Keypair().pubkey()
    sandbox.faults.update(drop_sends_rate=1.0)  # the first send "vanishes"
    with SqliteStore.open(settings.state_db_path) as store:
        async with RpcClient(settings.solana_rpc_url) as rpc:
            sender = Sender(
                rpc,
                keypair.pubkey(),
                settings.token_mint,
                resend_interval=0.05,
                max_duration=0.3,
            )
            sweeper = Sweeper(rpc, keypair, store, sender)
            # The sender gives up while the blockhash is still valid: not landed, not expired.
            with pytest.raises(TemporaryError):
                await sweeper.sweep(target)
            pending = SweepJournal(store).pending()
            assert len(pending) == 1, "the transaction was journaled before it was sent"
            assert sandbox.chain.balance(target) == 0
    sandbox.faults.update(drop_sends_rate=0.0)
    finished = run_cli(["wallet", "sweep", "--to", str(target), "--yes"], tmp_path)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert pending[0].signature in finished.stdout.replace("\n", "")
    assert sandbox.chain.balance(keypair.pubkey()) == 0
    assert sandbox.chain.balance(target) > 0


def test_wallet_new_writes_a_private_keypair_and_never_overwrites(tmp_path):
    path = tmp_path / "secure" / "new-executor.json"
    made = subprocess.run(
        [str(FLYWHEEL), "wallet", "new", "--out", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    assert path.stat().st_mode & 0o777 == 0o600
    keypair = read_keypair_file(path)
    assert str(keypair.pubkey()) in made.stdout
    again = subprocess.run(
        [str(FLYWHEEL), "wallet", "new", "--out", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert again.returncode == 1
    assert "already exists" in again.stderr
    assert read_keypair_file(path) == keypair


def test_a_journal_written_before_it_was_typed_still_lands(tmp_path):
    """A sweep interrupted under the untyped journal (kind, signature, raw, height, status)
    is read as intents and still finished; a malformed one is refused, not skipped."""
    old = {
        "target": str(Pubkey.new_unique()),
        "intents": [
            {
                "kind": "transfer",
                "signature": "sig-1",
                "raw": "AAEC",
                "last_valid_block_height": 42,
                "status": "pending",
            },
            {
                "kind": "transfer",
                "signature": "sig-0",
                "raw": "AA==",
                "last_valid_block_height": 40,
                "status": "confirmed",
            },
        ],
    }
    with SqliteStore.open(tmp_path / "state.sqlite") as store:
        store.set_meta("wallet.sweep", json.dumps(old))
        journal = SweepJournal(store)
        [pending] = journal.pending()
        assert (pending.signature, pending.raw, pending.last_valid_block_height) == (
            "sig-1",
            b"\x00\x01\x02",
            42,
        )
        store.set_meta("wallet.sweep", json.dumps({"intents": [{"signature": "x"}]}))
        with pytest.raises(StateError, match="sweep journal"):
            journal.pending()


def test_sweep_holds_the_epoch_lock(sandbox, tmp_path):
    from flywheel.service.epoch_lock import epoch_lock, lock_path_for

    env = flywheel_env(sandbox, tmp_path)
    executor = sandbox.executor.pubkey()
    before = sandbox.chain.balance(executor)
    with epoch_lock(lock_path_for(Path(env["STATE_DB_PATH"]))):  # an epoch is running
        refused = run_cli(["wallet", "sweep", "--to", str(Keypair().pubkey()), "--yes"], tmp_path)
    assert refused.returncode == 1, refused.stderr
    assert "Traceback" not in refused.stderr
    assert sandbox.chain.balance(executor) == before
