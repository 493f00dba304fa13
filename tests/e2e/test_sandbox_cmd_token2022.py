"""The issue's own run: `flywheel sandbox --fee-source token2022`, then `flywheel epoch` in its
directory, both as an operator types them, with the sandbox's traders trading in the
background. Checked over JSON-RPC (the sandbox runs in another process): the claim, the burn
without a swap, the supply down by exactly the burn, and the ads share sold for SOL."""

from __future__ import annotations

import base64
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from flywheel.solana.fee_sources.token2022 import TOKEN_2022_PROGRAM_ID, withheld_in_account
from tests.e2e.harness import describe, finished_epochs, run_cli
from tests.sandbox.harness import read_env_file, rpc, wait_until

pytestmark = pytest.mark.slow


def withheld(url: str, mint: str) -> int:
    accounts = rpc(
        url,
        "getProgramAccounts",
        [
            str(TOKEN_2022_PROGRAM_ID),
            {"encoding": "base64", "filters": [{"memcmp": {"offset": 0, "bytes": mint}}]},
        ],
    )
    return sum(withheld_in_account(base64.b64decode(a["account"]["data"][0])) for a in accounts)


def supply(url: str, mint: str) -> int:
    return int(rpc(url, "getTokenSupply", [mint])["value"]["amount"])


def sale_effect(url: str, signature: str, mint: str) -> tuple[int, int]:
    """(tokens out of the executor, its SOL change) in the sale, from getTransaction."""
    tx = rpc(url, "getTransaction", [signature, {"maxSupportedTransactionVersion": 0}])
    meta, keys = tx["meta"], tx["transaction"]["message"]["accountKeys"]
    payer = keys[0] if isinstance(keys[0], str) else keys[0]["pubkey"]

    def held(balances: list[dict[str, Any]]) -> int:
        mine = [b for b in balances if b["owner"] == payer and b["mint"] == mint]
        return sum(int(b["uiTokenAmount"]["amount"]) for b in mine)

    tokens = held(meta["preTokenBalances"]) - held(meta["postTokenBalances"])
    return tokens, meta["postBalances"][0] - meta["preBalances"][0]


def test_sandbox_fee_source_token2022_then_epoch(tmp_path: Path) -> None:
    directory = tmp_path / "staging"
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "flywheel.cli", "sandbox", "--dir", str(directory)),
            *("--fee-source", "token2022", "--trader-interval", "0.1"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        env_path = directory / ".env"
        wait_until(env_path.exists, process, ".env written")
        env = read_env_file(env_path)
        assert env["FEE_SOURCES"] == "token2022"
        url, mint = env["SOLANA_RPC_URL"], env["TOKEN_MINT"]
        wait_until(lambda: withheld(url, mint) > 0, process, "a trade withheld a fee")
        with env_path.open("a") as extra:
            extra.write("LOG_FORMAT=json\n")  # the sandbox leaves it unset
        supply_before = supply(url, mint)

        done = run_cli(["epoch"], directory)
        assert done.returncode == 0, describe(done)
        [epoch] = finished_epochs(env)
        assert epoch.errors == []
        [claim] = epoch.claim_intents
        assert claim.status == "confirmed" and claim.token_delta == epoch.fee_tokens_in > 0
        assert epoch.tokens_bought == 0 and epoch.swap_intents == []
        assert epoch.tokens_settled == epoch.fee_tokens_to_settle == epoch.fee_tokens_in * 70 // 100
        # The traders only move tokens: the supply changed by the burn and nothing else.
        assert supply_before - supply(url, mint) == epoch.tokens_settled
        assert "claim confirmed" in done.stdout
        # The ads share sold for SOL: the sale's own balances say how many tokens and lamports.
        assert epoch.sale_signature is not None, epoch.sell_notes
        sold, received = sale_effect(url, epoch.sale_signature, env["TOKEN_MINT"])
        assert epoch.ads_tokens_sold == sold == epoch.fee_tokens_for_ads > 0
        assert epoch.ads_sale_lamports == received > 0
        assert "sale confirmed" in done.stdout and "ads tokens sold" in done.stdout

        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
