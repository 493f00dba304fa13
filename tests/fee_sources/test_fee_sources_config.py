"""FEE_SOURCES and MIN_CLAIM_SOL: each bad value is one clear line; good ones as the code uses."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from solders.keypair import Keypair

from flywheel.config.settings import Settings
from flywheel.errors import ConfigError
from flywheel.solana.keypair import write_keypair_file


@pytest.fixture
def required(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "executor.json"
    write_keypair_file(path, Keypair())
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    return {
        "EXECUTOR_KEYPAIR_PATH": str(path),
        "FEE_COLLECTOR_PUBKEY": str(Keypair().pubkey()),
        "TOKEN_MINT": str(Keypair().pubkey()),
    }


def problem(values: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        Settings.from_mapping(values)
    found = [p for p in caught.value.problems if p.startswith("FEE_SOURCES:")]
    assert len(found) == 1, caught.value.problems
    return found[0]


def test_default_is_the_wallet_watcher(required: dict[str, str]) -> None:
    settings = Settings.from_mapping(required)
    assert settings.fee_sources == ("wallet",)
    assert settings.min_claim_lamports is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("token2022", ("token2022",)),
        (" Wallet , TOKEN2022 ", ("wallet", "token2022")),
        ("token2022,wallet,", ("token2022", "wallet")),
        ("pump", ("pump",)),
        ("wallet, Pump ,token2022", ("wallet", "pump", "token2022")),
    ],
)
def test_sources_are_parsed_in_order(
    required: dict[str, str], text: str, expected: tuple[str, ...]
) -> None:
    settings = Settings.from_mapping({**required, "FEE_SOURCES": text, "MIN_CLAIM_SOL": "0.001"})
    assert settings.fee_sources == expected
    assert settings.min_claim_lamports == 1_000_000


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("raydium-launchlab", "not built yet"),
        ("wallet,meteora-dbc", "not built yet"),
        ("solana", "unknown fee source 'solana'"),
        ("wallet,wallet", "twice"),
        (" , ", "names no fee source"),
    ],
)
def test_bad_sources_are_one_clear_line(required: dict[str, str], text: str, words: str) -> None:
    line = problem({**required, "FEE_SOURCES": text})
    assert words in line
    assert "wallet" in line or "once" in line  # it says what to use instead


def test_min_claim_sol_must_be_positive(required: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_mapping({**required, "MIN_CLAIM_SOL": "-1"})
    assert any(p.startswith("MIN_CLAIM_SOL:") for p in caught.value.problems)
