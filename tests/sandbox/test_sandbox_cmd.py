"""`flywheel sandbox --dir D`: writes D/.env and D/executor.json once it listens, stops on a
signal with exit code 0, and refuses bad usage with exit code 2."""

from __future__ import annotations

import shlex
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import typer
from solders.keypair import Keypair
from typer.testing import CliRunner

from flywheel.cli import main
from flywheel.commands.sandbox_cmd import register
from flywheel.config.settings import Settings
from tests.sandbox.harness import read_env_file

START_TIMEOUT_S = 30


def _wait_for(path: Path, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not path.exists():
        if process.poll() is not None:
            _, err = process.communicate()
            pytest.fail(f"sandbox exited early ({process.returncode}): {err.decode()[-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            process.communicate()
            pytest.fail("sandbox did not write .env in time")
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT])
def test_sandbox_command_writes_its_files_serves_and_exits_0_on_a_signal(
    tmp_path: Path, stop_with: signal.Signals
) -> None:
    directory = tmp_path / "staging dir"  # a space, so quoting in .env is exercised
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flywheel.cli",
            "sandbox",
            "--dir",
            str(directory),
            "--seed",
            "7",
            "--trader-interval",
            "0.1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(directory / ".env", process)
        env_path, keypair_path = directory / ".env", directory / "executor.json"
        assert stat.S_IMODE(env_path.stat().st_mode) == 0o600
        assert stat.S_IMODE(keypair_path.stat().st_mode) == 0o600
        env = read_env_file(env_path)
        assert Path(env["EXECUTOR_KEYPAIR_PATH"]) == keypair_path
        Keypair.from_json(keypair_path.read_text())

        # Everything listens by the time .env exists.
        health = httpx.post(
            env["SOLANA_RPC_URL"],
            json={"jsonrpc": "2.0", "id": 1, "method": "getHealth"},
            timeout=5,
        )
        assert health.json()["result"] == "ok"
        prices = httpx.get(
            f"{env['JUPITER_API_URL']}/price/v3", params={"ids": env["TOKEN_MINT"]}, timeout=5
        )
        assert env["TOKEN_MINT"] in prices.json()
        settings = Settings.from_mapping(env)
        assert str(settings.executor_pubkey()) == str(
            Keypair.from_json(keypair_path.read_text()).pubkey()
        )

        process.send_signal(stop_with)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err.decode()[-2000:]
    printed = out.decode()
    assert env["SOLANA_RPC_URL"] in printed and env["TOKEN_MINT"] in printed
    assert "--env-file" in printed and "set -a" not in printed


def test_a_port_in_use_is_a_usage_error_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["sandbox", "--dir", str(tmp_path), "--rpc-port", str(port), "--no-traders"])
    assert code == 2
    assert "port" in capsys.readouterr().err
    assert not (tmp_path / ".env").exists()  # nothing written for a sandbox that never ran


def test_the_command_registers_on_any_typer_app() -> None:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """A group, so `sandbox` stays a subcommand."""

    register(app)
    result = CliRunner().invoke(app, ["sandbox", "--help"])
    assert result.exit_code == 0
    for option in ("--dir", "--seed", "--rpc-port", "--jupiter-port", "--token-program"):
        assert option in result.output
    missing = CliRunner().invoke(app, ["sandbox"])
    assert missing.exit_code == 2  # --dir is required


TARGETING = '{"languages":["en"],"keywords":["solana"]}'


@pytest.mark.slow
def test_the_banners_commands_run_in_bash_with_a_json_value_in_the_env_file(
    tmp_path: Path,
) -> None:
    """The banner's commands, evaluated by bash as printed, after the operator added a JSON
    value the way .env.example writes it (unquoted): the bot must read it intact."""
    directory = tmp_path / "it's staging"  # a quote and a space: the commands must quote both
    flywheel = Path(sys.executable).parent
    env = {"PATH": f"{flywheel}:/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "60"}
    process = subprocess.Popen(
        [str(flywheel / "flywheel"), "sandbox", "--dir", str(directory), "--no-traders"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**env, "PYTHONUNBUFFERED": "1"},
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if "Stop with Ctrl-C" in line:
                break
        commands = [line.strip() for line in lines if line.startswith("  ")]
        assert len(commands) == 2, lines
        assert not any("set -a" in c or c.startswith(". ") for c in commands)
        env_path = directory / ".env"
        with env_path.open("a") as out:
            out.write(f"ADS_TARGETING={TARGETING}\n")
        for command in commands:
            ran = subprocess.run(
                ["bash", "-c", command],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert ran.returncode == 0, (command, ran.stdout[-2000:], ran.stderr[-2000:])
        reports = sorted((directory / "reports").glob("epoch-*.json"))
        assert reports, "the banner's `flywheel epoch` wrote no report"
        settings = Settings.load(env_path)
        assert settings.ads_targeting.model_dump(exclude_none=True, exclude_defaults=True) == {
            "languages": ["en"],
            "keywords": ["solana"],
        }
        # What a shell would have made of it: the reason the banner never sources the file.
        sourced = subprocess.run(
            ["bash", "-c", f"set -a; . {shlex.quote(str(env_path))}; printenv ADS_TARGETING"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert sourced.stdout.strip() != TARGETING
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def test_a_value_no_quoting_can_carry_to_both_readers_is_refused(tmp_path: Path) -> None:
    from flywheel.commands.sandbox_cmd import write_env_file
    from flywheel.errors import ConfigError

    with pytest.raises(ConfigError, match=r"REPORTS_DIR: cannot be written to \.env"):
        write_env_file(tmp_path, {"REPORTS_DIR": "/tmp/it's $HOME"})
    assert not (tmp_path / ".env").exists()


def test_market_switches_on_the_seeded_arbitrage_and_searcher(tmp_path: Path) -> None:
    directory = tmp_path / "staging"
    command = [sys.executable, "-m", "flywheel.cli", "sandbox", "--dir", str(directory)]
    process = subprocess.Popen(
        [*command, "--no-traders", "--market", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(directory / ".env", process)
        env = read_env_file(directory / ".env")
        switches = httpx.get(f"{env['SOLANA_RPC_URL']}/_sandbox/faults", timeout=5).json()
        assert switches["arbitrage"] is True and switches["sandwich"] is True
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err.decode()[-2000:]
    assert "arbitrage and a sandwich searcher (seed 3)" in out.decode()
