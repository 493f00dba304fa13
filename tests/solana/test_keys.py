"""Loading the executor keypair from a solana-keygen file; errors never show the secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from solders.keypair import Keypair

from flywheel.errors import ConfigError
from flywheel.solana.keys import load_keypair


def write(path: Path, content: str) -> Path:
    path.write_text(content, encoding="utf-8")
    path.chmod(0o600)
    return path


def test_loads_a_keygen_file(tmp_path: Path) -> None:
    keypair = Keypair()
    path = write(tmp_path / "id.json", json.dumps(list(bytes(keypair))))
    assert load_keypair(path).pubkey() == keypair.pubkey()
    assert load_keypair(str(path)) == keypair


def test_a_missing_file_names_the_setting_and_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_keypair(tmp_path / "absent.json")
    assert caught.value.problems == [
        f"EXECUTOR_KEYPAIR_PATH: cannot read {tmp_path / 'absent.json'}: No such file or directory"
    ]


def test_a_mismatched_public_half_is_refused_without_echoing_the_secret(tmp_path: Path) -> None:
    secret = list(bytes(Keypair()))
    secret[32:] = list(bytes(Keypair().pubkey()))  # someone else's public key
    path = write(tmp_path / "bad.json", json.dumps(secret))
    with pytest.raises(ConfigError, match="not a valid solana-keygen keypair file") as caught:
        load_keypair(path)
    text = str(caught.value)
    assert str(secret[:8])[1:-1] not in text
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


@pytest.mark.parametrize("content", ["", "not json", "[1, 2, 3]", '{"key": 1}'])
def test_malformed_files_are_config_errors(tmp_path: Path, content: str) -> None:
    path = write(tmp_path / "id.json", content)
    with pytest.raises(ConfigError, match="EXECUTOR_KEYPAIR_PATH"):
        load_keypair(path)


def test_binary_garbage_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "id.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="EXECUTOR_KEYPAIR_PATH"):
        load_keypair(path)
