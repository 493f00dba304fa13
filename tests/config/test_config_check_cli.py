"""`flywheel config check` through the real console script, in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from solders.keypair import Keypair

from flywheel.config.settings import Settings

FLYWHEEL = Path(sys.executable).with_name("flywheel")
VARIABLES = [name.upper() for name in Settings.model_fields]


def run_check(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    # The caller's shell must not leak configuration into the child.
    clean = {k: v for k, v in os.environ.items() if k.upper() not in VARIABLES}
    return subprocess.run(
        [str(FLYWHEEL), "config", "check", *args],
        cwd=cwd,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def write_keypair(path: Path, keypair: Keypair, mode: int = 0o600) -> Path:
    path.write_text(json.dumps(list(bytes(keypair))))
    path.chmod(mode)
    return path


def write_env(path: Path, values: dict[str, str]) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


@pytest.fixture
def executor() -> Keypair:
    return Keypair()


@pytest.fixture
def valid(tmp_path: Path, executor: Keypair) -> dict[str, str]:
    return {
        "EXECUTOR_KEYPAIR_PATH": str(write_keypair(tmp_path / "executor.json", executor)),
        "FEE_COLLECTOR_PUBKEY": str(Keypair().pubkey()),
        # A collector that is not the executor, whose key we do not hold: an explicit choice.
        "FEE_FUNDING": "executor",
        "TOKEN_MINT": str(Keypair().pubkey()),
        # 32 characters at least: `config check` refuses a shorter one (webhooks would 403).
        "WEBHOOK_SECRET": "hook-SEKRET-4f1e-0123456789abcdef",
        "JUPITER_API_KEY": "jup-SEKRET-99aa",
        "SOLANA_RPC_URL": "https://rpc.example/?api-key=RPC-SEKRET-77",
    }


def test_five_problems_five_lines_exit_2_no_traceback(tmp_path: Path) -> None:
    write_env(
        tmp_path / ".env",
        {
            "BUYBACK_PERCENT": "60",
            "ADS_PERCENT": "30",
            "TOKEN_MINT": "0xNOT-A-MINT",
            "EXECUTOR_KEYPAIR_PATH": str(tmp_path / "missing.json"),
            "FEE_COLLECTOR_PUBKEY": str(Keypair().pubkey()),
            "ENABLE_SCHEDULER": "maybe",
            "EPOCH_INTERVAL_SECONDS": "-1",
        },
    )
    result = run_check(tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 5, lines
    expected = {
        "BUYBACK_PERCENT": "must add up to 100",
        "TOKEN_MINT": "0xNOT-A-MINT",
        "EXECUTOR_KEYPAIR_PATH": "does not exist",
        "ENABLE_SCHEDULER": "maybe",
        "EPOCH_INTERVAL_SECONDS": "out of range",
    }
    for variable, detail in expected.items():
        matching = [line for line in lines if variable in line]
        assert len(matching) == 1, (variable, lines)
        assert detail in matching[0]


def test_a_keypair_readable_by_others_is_refused_with_the_fix(
    tmp_path: Path, valid: dict[str, str]
) -> None:
    key = Path(valid["EXECUTOR_KEYPAIR_PATH"])
    key.chmod(0o644)
    write_env(tmp_path / ".env", valid)
    result = run_check(tmp_path)
    assert result.returncode == 2
    assert f"chmod 600 {key}" in result.stderr
    assert "mode 0644" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_valid_configuration_exits_0_and_shows_no_secret(
    tmp_path: Path, valid: dict[str, str], executor: Keypair
) -> None:
    write_env(tmp_path / ".env", valid)
    result = run_check(tmp_path)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    for variable in VARIABLES:
        assert variable in result.stdout
    assert "configuration OK" in result.stdout
    assert valid["TOKEN_MINT"] in result.stdout
    assert valid["EXECUTOR_KEYPAIR_PATH"] in result.stdout
    assert "https://rpc.example/***" in result.stdout
    assert "SEKRET" not in output
    secret = bytes(executor)[:32]
    for leak in (
        json.dumps(list(bytes(executor))),
        json.dumps(list(secret))[1:-1],
        ", ".join(str(b) for b in bytes(executor)[:8]),
        str(executor),
        secret.hex(),
        str(Keypair.from_seed(secret)),
    ):
        assert leak not in output


def test_the_source_column_tells_env_file_from_environment_from_default(
    tmp_path: Path, valid: dict[str, str]
) -> None:
    env_file = write_env(tmp_path / "custom.env", {**valid, "LOG_LEVEL": "ERROR"})
    result = run_check(tmp_path, "--env-file", str(env_file), env={"LOG_LEVEL": "DEBUG"})
    assert result.returncode == 0, result.stderr
    rows = {line.split()[1]: line for line in result.stdout.splitlines() if line.startswith("│")}
    assert "DEBUG" in rows["LOG_LEVEL"]
    assert "environment" in rows["LOG_LEVEL"]
    assert ".env" in rows["TOKEN_MINT"]
    assert "default" in rows["MAX_SLIPPAGE_BPS"]
    assert str(env_file) in result.stdout


def test_a_missing_env_file_is_a_configuration_error(tmp_path: Path) -> None:
    result = run_check(tmp_path, "--env-file", str(tmp_path / "absent.env"))
    assert result.returncode == 2
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_without_env_file_the_environment_alone_is_enough(
    tmp_path: Path, valid: dict[str, str]
) -> None:
    result = run_check(tmp_path, env=valid)
    assert result.returncode == 0, result.stderr
    assert "no .env file" in result.stdout
    assert "SEKRET" not in result.stdout + result.stderr


def test_values_that_look_like_markup_are_printed_verbatim(tmp_path: Path) -> None:
    write_env(tmp_path / ".env", {"TOKEN_MINT": "[/]", "FEE_COLLECTOR_PUBKEY": "[bold]x"})
    result = run_check(tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "(got '[/]')" in result.stderr
    assert "(got '[bold]x')" in result.stderr


# --- warnings (exit 0) and the webhook secret's length (exit 2) --------------------------------


def warnings_of(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith("warning: ")]


def test_a_misspelt_variable_is_a_warning_with_did_you_mean(
    tmp_path: Path, valid: dict[str, str]
) -> None:
    write_env(tmp_path / ".env", {**valid, "MAX_SLIPAGE_BPS": "50", "MY_OWN_TOOL_URL": "x"})
    result = run_check(
        tmp_path,
        env={"EPOCH_INTERVALL_SECONDS": "60", "HOME": str(tmp_path), "PATH": os.environ["PATH"]},
    )
    assert result.returncode == 0, result.stderr
    warned = warnings_of(result)
    assert any(
        "MAX_SLIPAGE_BPS (.env" in w and "did you mean MAX_SLIPPAGE_BPS" in w for w in warned
    ), warned
    assert any(
        "EPOCH_INTERVALL_SECONDS (environment)" in w and "did you mean EPOCH_INTERVAL_SECONDS" in w
        for w in warned
    ), warned
    # Names that are not ours, or not close to one of ours, are someone else's.
    for other in ("MY_OWN_TOOL_URL", "PATH", "HOME"):
        assert not any(w.startswith(f"warning: {other} ") for w in warned), warned
    assert len(warned) == 2, warned
    assert "configuration OK" in result.stdout


def test_risky_values_are_warnings_not_failures(tmp_path: Path, valid: dict[str, str]) -> None:
    risky = {**valid, "MAX_SLIPPAGE_BPS": "1500", "EPOCH_INTERVAL_SECONDS": "600"}
    write_env(tmp_path / ".env", {**risky, "EPOCH_JITTER_SECONDS": "900"})
    result = run_check(tmp_path)
    assert result.returncode == 0, result.stderr
    warned = warnings_of(result)
    assert any("MAX_SLIPPAGE_BPS is 1500" in w and "over 1000" in w for w in warned), warned
    assert any(
        "EPOCH_JITTER_SECONDS is 900, longer than EPOCH_INTERVAL_SECONDS (600)" in w for w in warned
    ), warned
    # At the limits: quiet.
    write_env(
        tmp_path / ".env",
        {**risky, "MAX_SLIPPAGE_BPS": "1000", "EPOCH_JITTER_SECONDS": "600"},
    )
    quiet = run_check(tmp_path)
    assert quiet.returncode == 0 and warnings_of(quiet) == [], quiet.stdout


def test_the_warnings_are_logged_when_a_command_starts(
    tmp_path: Path, valid: dict[str, str]
) -> None:
    write_env(tmp_path / ".env", {**valid, "MAX_SLIPAGE_BPS": "50", "LOG_FORMAT": "json"})
    clean = {k: v for k, v in os.environ.items() if k.upper() not in VARIABLES}
    result = subprocess.run(
        [str(FLYWHEEL), "history", "--json"],
        cwd=tmp_path,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []  # the output stays clean for scripts
    [line] = [json.loads(x) for x in result.stderr.splitlines() if "config.warning" in x]
    assert line["level"] == "warning"
    assert "did you mean MAX_SLIPPAGE_BPS" in line["warning"]


@pytest.mark.parametrize("secret", ["short", "x" * 31])
def test_a_webhook_secret_under_32_characters_fails_the_check(
    tmp_path: Path, valid: dict[str, str], secret: str
) -> None:
    write_env(tmp_path / ".env", {**valid, "WEBHOOK_SECRET": secret})
    result = run_check(tmp_path)
    assert result.returncode == 2, result.stdout
    assert "Traceback" not in result.stderr
    [line] = [x for x in result.stderr.splitlines() if x.strip()]
    assert f"WEBHOOK_SECRET: has {len(secret)} characters, fewer than 32" in line
    assert "openssl rand -base64 32" in line and secret not in line


def test_no_webhook_secret_or_a_long_one_passes(tmp_path: Path, valid: dict[str, str]) -> None:
    for secret in ("", "y" * 32):
        write_env(tmp_path / ".env", {**valid, "WEBHOOK_SECRET": secret})
        result = run_check(tmp_path)
        assert result.returncode == 0, (secret, result.stderr)
