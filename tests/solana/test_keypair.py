"""The one keypair loader: solana-keygen files, checked like ssh checks a private key; its
errors describe the file and never echo the secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from solders.keypair import Keypair

from flywheel.errors import KeypairFileError
from flywheel.solana.keypair import read_keypair_file, write_keypair_file


def write(path: Path, content: str) -> Path:
    path.write_text(content, encoding="utf-8")
    path.chmod(0o600)
    return path


def test_reads_what_it_writes_and_the_file_is_private(tmp_path: Path) -> None:
    keypair = Keypair()
    path = tmp_path / "id.json"
    write_keypair_file(path, keypair)
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_keypair_file(path) == keypair


def test_a_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(KeypairFileError) as caught:
        read_keypair_file(tmp_path / "absent.json")
    assert caught.value.what == "the keypair file does not exist"
    assert "solana-keygen new -o" in caught.value.fix


def test_open_permissions_are_refused_with_the_chmod_to_run(tmp_path: Path) -> None:
    path = write(tmp_path / "id.json", json.dumps(list(bytes(Keypair()))))
    path.chmod(0o644)
    with pytest.raises(KeypairFileError, match="mode 0644") as caught:
        read_keypair_file(path)
    assert caught.value.fix == f"make it private: chmod 600 {path}"


def test_a_mismatched_public_half_is_refused_without_echoing_the_secret(tmp_path: Path) -> None:
    secret = list(bytes(Keypair()))
    secret[32:] = list(bytes(Keypair().pubkey()))  # someone else's public key
    path = write(tmp_path / "bad.json", json.dumps(secret))
    with pytest.raises(KeypairFileError, match="public half does not match") as caught:
        read_keypair_file(path)
    assert str(secret[:8])[1:-1] not in str(caught.value)
    assert caught.value.__suppress_context__


@pytest.mark.parametrize("content", ["", "not json", "[1, 2, 3]", '{"key": 1}', "[" * 4000])
def test_malformed_files_are_refused_by_shape(tmp_path: Path, content: str) -> None:
    path = write(tmp_path / "id.json", content)
    with pytest.raises(KeypairFileError, match="keypair file is not"):
        read_keypair_file(path)


def test_binary_garbage_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "id.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    path.chmod(0o600)
    with pytest.raises(KeypairFileError, match="cannot be read"):
        read_keypair_file(path)
