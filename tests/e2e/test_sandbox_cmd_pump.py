"""The issue's own run: `flywheel sandbox --fee-source pump`, then `flywheel epoch` in its
directory, both as an operator types them, with the sandbox's traders trading in the background.
Checked over JSON-RPC (the sandbox runs in another process): the emulated programs look like
programs, the claim's own record shows the vault left with its rent, and the report shows the
claim's signature and lamports, the buyback and the burn."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from solders.keypair import Keypair

from flywheel.solana.fee_sources.pump import PUMP_AMM_PROGRAM, PUMP_PROGRAM, creator_vault
from flywheel.solana.fee_sources.pump_claim import VAULT_RENT_LAMPORTS
from tests.e2e.harness import describe, finished_epochs, report_of, run_cli
from tests.sandbox.harness import read_env_file, rpc, wait_until

pytestmark = pytest.mark.slow


def balance(url: str, address: str) -> int:
    return int(rpc(url, "getBalance", [address])["value"])


def test_sandbox_fee_source_pump_then_epoch(tmp_path: Path) -> None:
    directory = tmp_path / "staging"
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "flywheel.cli", "sandbox", "--dir", str(directory)),
            *("--fee-source", "pump", "--trader-interval", "0.1"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        env_path = directory / ".env"
        wait_until(env_path.exists, process, ".env written")
        env = read_env_file(env_path)
        assert env["FEE_SOURCES"] == "pump"
        url = env["SOLANA_RPC_URL"]
        secret = json.loads(Path(env["EXECUTOR_KEYPAIR_PATH"]).read_text())
        executor = Keypair.from_bytes(bytes(secret)).pubkey()
        vault = str(creator_vault(executor))
        for program in (PUMP_PROGRAM, PUMP_AMM_PROGRAM):
            info = rpc(url, "getAccountInfo", [str(program), {"encoding": "base64"}])["value"]
            assert info["executable"] is True, info
        wait_until(
            lambda: balance(url, vault) > VAULT_RENT_LAMPORTS, process, "a creator fee accrued"
        )
        with env_path.open("a") as extra:
            extra.write("LOG_FORMAT=json\n")  # the sandbox leaves it unset

        done = run_cli(["epoch"], directory)
        assert done.returncode == 0, describe(done)
        [epoch] = finished_epochs(env)
        assert epoch.errors == []
        [claim] = epoch.claim_intents
        assert claim.status == "confirmed" and epoch.claim_counted == [claim.signature]
        assert claim.sol_delta + claim.fee_lamports == epoch.claim_lamports_in > 0
        # The claim's own record, over RPC: the vault kept exactly its rent.
        found = rpc(
            url,
            "getTransaction",
            [claim.signature, {"encoding": "json", "maxSupportedTransactionVersion": 0}],
        )
        keys = found["transaction"]["message"]["accountKeys"]
        assert found["meta"]["postBalances"][keys.index(vault)] == VAULT_RENT_LAMPORTS
        report = report_of(epoch)
        assert report["claims"]["signatures"] == [claim.signature]
        assert report["claims"]["lamports_in"] == epoch.claim_lamports_in
        assert epoch.tokens_bought > 0 and epoch.tokens_settled > 0  # the buyback, the burn
        assert "claim confirmed" in done.stdout

        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
