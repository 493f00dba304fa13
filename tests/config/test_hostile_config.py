"""Hostile configuration through `flywheel config check`: exit 2, one line, never a traceback.

The command runs in-process through `flywheel.cli.main` (the one place errors become exit
codes), so a test can try many values quickly; an exception escaping `main` fails the test.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from solders.keypair import Keypair

from flywheel.cli import main
from flywheel.config.settings import Settings

VARIABLES = [name.upper() for name in Settings.model_fields]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid .env in a directory of its own."""
    home = tmp_path_factory.mktemp("hostile")
    key = home / "executor.json"
    key.write_text(json.dumps(list(bytes(Keypair()))))
    key.chmod(0o600)
    values = {
        "EXECUTOR_KEYPAIR_PATH": str(key),
        "FEE_COLLECTOR_PUBKEY": str(Keypair().pubkey()),
        # A collector that is not the executor, without its key: valid only by this choice.
        "FEE_FUNDING": "executor",
        "TOKEN_MINT": str(Keypair().pubkey()),
        "STATE_DB_PATH": str(home / "data" / "flywheel.sqlite"),
        "REPORTS_DIR": str(home / "reports"),
    }
    env = home / ".env"
    env.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return env


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Only `values` of the flywheel's variables in os.environ, for the time of one check."""
    saved = {k: os.environ[k] for k in list(os.environ) if k.upper() in VARIABLES}
    for key in saved:
        del os.environ[key]
    os.environ.update(values)
    try:
        yield
    finally:
        for key in values:
            os.environ.pop(key, None)
        os.environ.update(saved)


def check(
    env_file: Path, values: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    with environment(values):
        code = main(["config", "check", "--env-file", str(env_file)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


HOSTILE = {
    "REPORTS_DIR": "/dev/null",
    "STATE_DB_PATH": "/dev/null",
    "HTTP_HOST": "0",
    "JUPITER_API_KEY": "clé-été",
    "EPOCH_INTERVAL_SECONDS": "9" * 40,
    "EPOCH_JITTER_SECONDS": "86401",
    "CIRCUIT_BREAKER_TIMEOUT_SECONDS": "100000",
    "MAX_SLIPPAGE_BPS": "9" * 5000,
    "MAX_BUDGET_PER_EPOCH_USD": "1" * 5000,
    "TOKEN_MINT": "So11111111111111111111111111111111111111112",
    "BUYBACK_DESTINATION": "11111111111111111111111111111111",
    "ADS_TREASURY_PUBKEY": "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
    "FEE_COLLECTOR_PUBKEY": "SysvarRent111111111111111111111111111111111",
    "WEBHOOK_SECRET": "tab\tinside",
    "X_ADS_CONSUMER_KEY": "\u200bzero-width",
}


@pytest.mark.parametrize(("variable", "value"), list(HOSTILE.items()), ids=list(HOSTILE))
def test_a_hostile_value_is_one_line_and_exit_2(
    base: Path, capsys: pytest.CaptureFixture[str], variable: str, value: str
) -> None:
    code, output = check(base, {variable: value}, capsys)
    assert code == 2, output
    assert "Traceback" not in output and "int string conversion" not in output
    lines = [line for line in output.splitlines() if line.startswith("config:")]
    assert len(lines) == 1 and lines[0].startswith(f"config: {variable}:"), output
    assert len(lines[0]) < 400  # cut, not 5,000 digits echoed back


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HTTP_HOST", "lo\u200bcalhost"),
        ("HTTP_HOST", " 127.0.0.1"),
        ("HTTP_HOST", "127.1"),
        ("HTTP_HOST", "0x7f000001"),
        ("HTTP_HOST", "-x.example"),
        ("STATE_DB_PATH", "/proc/self/flywheel.sqlite"),
        ("STATE_DB_PATH", "/tmp"),
        ("REPORTS_DIR", "/etc/hostname"),
        ("STATE_DB_PATH", "a/" * 3000),
    ],
)
def test_hosts_and_paths_that_cannot_work_are_refused(
    base: Path, capsys: pytest.CaptureFixture[str], variable: str, value: str
) -> None:
    code, output = check(base, {variable: value}, capsys)
    assert code == 2, output
    assert f"config: {variable}:" in output and "Traceback" not in output


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_every_interface_is_accepted_with_a_warning(
    base: Path, capsys: pytest.CaptureFixture[str], host: str
) -> None:
    code, output = check(base, {"HTTP_HOST": host}, capsys)
    assert code == 0, output
    assert f"warning: HTTP_HOST={host} listens on every interface" in output


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "flywheel.internal"])
def test_ordinary_hosts_are_accepted_quietly(
    base: Path, capsys: pytest.CaptureFixture[str], host: str
) -> None:
    code, output = check(base, {"HTTP_HOST": host}, capsys)
    assert code == 0, output
    assert "warning" not in output


# Values an attacker or a bad paste would try: invisible and control characters, huge and odd
# numbers, devices, traversal and long paths, other encodings of numbers and addresses.
_SPECIAL = st.sampled_from(
    [
        "0",
        "-0",
        "+1",
        "1e309",
        "NaN",
        "Infinity",
        "0x10",
        "٣",  # an Arabic-Indic digit: str.isdigit() says yes
        "1_000",
        "9" * 4301,
        "-" + "9" * 100,
        "/dev/null",
        "/dev/zero",
        "/proc/1/mem",
        "../../../../etc/passwd",
        "~nobody-here/x",
        "a/" * 2100,
        "x" * 300,
        "\u200b",
        "\u202e",
        "\x1b[31m",
        "\r",
        "{}",
        "[]",
        '{"locations": "x"}',
        "So11111111111111111111111111111111111111112",
        "11111111111111111111111111111111",
        "http://",
        "https://[::1",
        "javascript:alert(1)",
        "true",
        "None",
    ]
)
_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", blacklist_characters="\x00"),
    max_size=60,
)


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(variable=st.sampled_from(VARIABLES), value=st.one_of(_SPECIAL, _TEXT))
def test_no_value_of_any_variable_gives_a_traceback_or_exit_1(
    base: Path, capsys: pytest.CaptureFixture[str], variable: str, value: str
) -> None:
    code, output = check(base, {variable: value}, capsys)
    assert "Traceback" not in output
    assert code in (0, 2), (variable, value, output)
    if code == 2:
        problems = [line for line in output.splitlines() if line.startswith("config:")]
        assert problems, output
        # Pydantic-settings reads an empty value as unset; everything else names its variable
        # (a cross-field problem names both).
        assert any(variable in line for line in problems), (variable, value, output)
