"""`flywheel status`, `history` and `quote` as an operator runs them, against the sandbox.

status must show what the state and the chain hold (breaker, carried, balances) and keep
working when the RPC is down; history must list what the epochs did; quote must show the
sandbox DEX's own answer and the guard's minimum, and sign nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flywheel.domain.money import format_sol
from flywheel.sandbox.runner import Sandbox
from tests.e2e.harness import (
    ChainView,
    describe,
    finished_epochs,
    flywheel_env,
    free_port,
    run_cli,
)
from tests.sandbox.harness import start_sandbox

pytestmark = pytest.mark.slow

SOL_MINT = "So11111111111111111111111111111111111111112"


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    sandbox = start_sandbox(tmp_path_factory.mktemp("sandbox"))
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture(scope="module")
def ran(box: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """Two live epochs on fees the traders paid; HTTP_PORT is a free port, so no other
    service on this machine answers `status`'s health probe."""
    directory = tmp_path_factory.mktemp("flywheel")
    env = flywheel_env(box, directory, HTTP_PORT=str(free_port()))
    for _ in range(2):
        box.traders.step(3)
        result = run_cli(["epoch"], directory)
        assert result.returncode == 0, describe(result)
    return directory, env


def test_status_shows_the_breaker_the_carried_sol_and_the_chains_balances(
    box: Sandbox, ran: tuple[Path, dict[str, str]]
) -> None:
    directory, env = ran
    result = run_cli(["status"], directory)
    assert result.returncode == 0, describe(result)
    out = result.stdout
    last = finished_epochs(env)[-1]
    assert "circuit breaker" in out and "closed" in out
    assert last.id in out and "succeeded" in out
    assert re.search(rf"carried\s+│ {re.escape(format_sol(last.carried_out_lamports))}", out)
    assert format_sol(ChainView(box).sol()) in out  # the executor's balance, read from the chain
    assert "not answering on HTTP_PORT" in out  # no service runs for this state
    assert "ads reserve" in out and "for a campaign" in out


def test_status_with_the_rpc_down_still_shows_the_state(
    ran: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    _, env = ran
    dead = f"http://127.0.0.1:{free_port()}"
    lines = [f"{k}={dead if k == 'SOLANA_RPC_URL' else v}" for k, v in env.items()]
    (tmp_path / ".env").write_text("\n".join(lines) + "\n")
    result = run_cli(["status"], tmp_path)
    assert result.returncode == 0, describe(result)
    assert "closed" in result.stdout
    assert "unknown:" in result.stdout  # each balance says why it is missing
    assert "Traceback" not in result.stderr


def test_history_lists_the_epochs_newest_first_as_json(ran: tuple[Path, dict[str, str]]) -> None:
    directory, env = ran
    result = run_cli(["history", "--json"], directory)
    assert result.returncode == 0, describe(result)
    rows = json.loads(result.stdout)
    epochs = list(reversed(finished_epochs(env)))
    assert [r["epoch_id"] for r in rows] == [e.id for e in epochs]
    for row, epoch in zip(rows, epochs, strict=True):
        report = json.loads(Path(row["report"]).read_text())
        assert row["spent_lamports"] == report["execution"]["buyback"]["spent_lamports"] > 0
        assert row["fees_in_lamports"] == report["fees"]["detected_lamports"]
        assert row["tokens_settled"] == report["execution"]["buyback"]["settlement"]["tokens"]
        assert row["carried_out_lamports"] == epoch.carried_out_lamports
        assert row["errors"] == []
    limited = run_cli(["history", "--limit", "1", "--json"], directory)
    assert [r["epoch_id"] for r in json.loads(limited.stdout)] == [epochs[0].id]
    table = run_cli(["history"], directory)
    assert table.returncode == 0 and epochs[0].id in table.stdout


def test_history_refuses_a_limit_below_one(ran: tuple[Path, dict[str, str]]) -> None:
    result = run_cli(["history", "--limit", "0"], ran[0])
    assert result.returncode == 2 and "--limit" in result.stderr


def test_quote_shows_the_dexs_answer_and_the_guards_minimum_and_sends_nothing(
    box: Sandbox, ran: tuple[Path, dict[str, str]]
) -> None:
    directory, env = ran
    view = ChainView(box)
    before = view.next_seq()
    result = run_cli(["quote", "--sol", "0.01"], directory)
    assert result.returncode == 0, describe(result)
    params = {
        "inputMint": SOL_MINT,
        "outputMint": env["TOKEN_MINT"],
        "amount": "10000000",
        "slippageBps": "50",
    }
    answer = httpx.get(f"{box.jupiter_url}/swap/v1/quote", params=params).json()
    out_amount = int(answer["outAmount"])
    assert f"{out_amount} base units" in result.stdout
    # Our minimum: outAmount less min(MAX_SLIPPAGE_BPS=300, SLIPPAGE_MARGIN_BPS=50 by default).
    assert f"{out_amount * 9_950 // 10_000} base units" in result.stdout
    assert "price impact" in result.stdout
    assert view.next_seq() == before  # no transaction reached the chain


@pytest.mark.parametrize("sol", ["abc", "0", "-1", "0.0000000001"])
def test_quote_refuses_an_amount_that_is_not_a_positive_sol_figure(
    ran: tuple[Path, dict[str, str]], sol: str
) -> None:
    result = run_cli(["quote", "--sol", sol], ran[0])
    assert result.returncode == 2, describe(result)
    assert "--sol" in result.stderr and "Traceback" not in result.stderr


def test_quote_with_the_dex_down_fails_with_a_message(
    ran: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    _, env = ran
    dead = f"http://127.0.0.1:{free_port()}"
    lines = [f"{k}={dead if k == 'JUPITER_API_URL' else v}" for k, v in env.items()]
    (tmp_path / ".env").write_text("\n".join(lines) + "\n")
    result = run_cli(["quote"], tmp_path, timeout=180)
    assert result.returncode == 1, describe(result)
    assert "error:" in result.stderr and "Traceback" not in result.stderr


def test_simulate_does_not_call_a_swap_it_did_not_send_confirmed(
    box: Sandbox, ran: tuple[Path, dict[str, str]]
) -> None:
    directory, _ = ran
    box.traders.step(3)
    result = run_cli(["simulate"], directory)
    assert result.returncode == 0, describe(result)
    assert "swap simulated (not sent)" in result.stdout
    assert "swap confirmed" not in result.stdout and "burn confirmed" not in result.stdout
