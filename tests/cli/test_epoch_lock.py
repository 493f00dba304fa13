"""`flywheel epoch` takes the service's epoch lock: never two live epochs on one state."""

from __future__ import annotations

import json
import subprocess
import sys

from solders.keypair import Keypair

from flywheel.service.epoch_lock import epoch_lock, lock_path_for


def test_epoch_refuses_while_another_process_holds_the_epoch_lock(tmp_path):
    keypair_path = tmp_path / "executor.json"
    keypair_path.write_text(json.dumps(list(bytes(Keypair()))))
    keypair_path.chmod(0o600)
    state_db = tmp_path / "data" / "flywheel.sqlite"
    (tmp_path / ".env").write_text(
        f"EXECUTOR_KEYPAIR_PATH={keypair_path}\n"
        f"FEE_COLLECTOR_PUBKEY={Keypair().pubkey()}\n"
        f"TOKEN_MINT={Keypair().pubkey()}\n"
        f"STATE_DB_PATH={state_db}\n"
        # Nothing listens here: if the lock did not stop it, the epoch would fail differently.
        "SOLANA_RPC_URL=http://127.0.0.1:9\n"
    )
    state_db.parent.mkdir()
    with epoch_lock(lock_path_for(state_db)):
        result = subprocess.run(
            [sys.executable, "-m", "flywheel.cli", "epoch"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert "another epoch is running" in result.stderr
    assert "Traceback" not in result.stderr
