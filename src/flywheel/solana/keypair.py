"""The one keypair loader: the keypair file, checked like ssh checks a private key, never echoed.

A keypair file written by `solana-keygen` is a JSON array of 64 integers (the 32-byte secret seed,
then the 32-byte public key). Every message here describes the file, never its contents: parser
errors from serde would quote the offending bytes, so the JSON shape is checked here first.
"""

from __future__ import annotations

import json
import shlex
import stat
from pathlib import Path

from solders.keypair import Keypair

from flywheel.errors import KeypairFileError
from flywheel.persistence.atomic_file import write_atomic

# A real keypair file is about 250 bytes; anything far larger is the wrong file, and reading
# must stay bounded even when the path points at something like a huge log.
MAX_KEYPAIR_FILE_BYTES = 4096
KEYPAIR_LENGTH = 64


def read_keypair_file(path: Path) -> Keypair:
    """Read and check the keypair at `path`; raise KeypairFileError if it is unsafe or invalid."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise KeypairFileError(
            "the keypair file does not exist",
            f"create one with `solana-keygen new -o {shlex.quote(str(path))}` "
            "or point the variable at the right file",
        ) from None
    except OSError as exc:
        raise KeypairFileError(
            f"the keypair file cannot be examined ({exc.strerror})",
            "check the path and the permissions of its directories",
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise KeypairFileError("is not a regular file", "point it at the keypair JSON file")
    _refuse_open_permissions(path, info.st_mode)
    if info.st_size > MAX_KEYPAIR_FILE_BYTES:
        raise KeypairFileError(
            f"is {info.st_size} bytes, too large for a keypair file",
            "point it at the JSON file written by solana-keygen",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise KeypairFileError(
            f"the keypair file cannot be read ({reason})",
            "make it readable by this user (and only this user)",
        ) from None
    return _parse_keypair(text)


def chmod_fix(path: Path) -> str:
    """The command that makes `path` private, quoted so it can be pasted into a shell."""
    return f"chmod 600 {shlex.quote(str(path))}"


def _refuse_open_permissions(path: Path, mode: int) -> None:
    # Like ssh with a private key: any access by group or others means the key may already be
    # copied, and running with it would hide that. Refuse rather than warn.
    if mode & 0o077:
        raise KeypairFileError(
            f"the keypair file is accessible by group or others (mode {stat.S_IMODE(mode):04o})",
            f"make it private: {chmod_fix(path)}",
        )


def _parse_keypair(text: str) -> Keypair:
    shape_fix = "use the JSON file written by `solana-keygen new` (an array of 64 numbers 0-255)"
    try:
        numbers = json.loads(text)
    except (ValueError, RecursionError):  # deep nesting fits in 4 KiB and exhausts the parser
        raise KeypairFileError("the keypair file is not valid JSON", shape_fix) from None
    if (
        not isinstance(numbers, list)
        or len(numbers) != KEYPAIR_LENGTH
        or not all(type(n) is int and 0 <= n <= 255 for n in numbers)
    ):
        raise KeypairFileError(
            "the keypair file is not a JSON array of 64 numbers from 0 to 255", shape_fix
        )
    try:
        return Keypair.from_json(text)
    except ValueError:
        raise KeypairFileError(
            "the keypair file's public half does not match its secret half (a damaged file)",
            "restore the file from a backup or recover it with `solana-keygen recover`",
        ) from None


def write_keypair_file(path: Path, keypair: Keypair) -> None:
    """solana-keygen's format (a JSON array of the 64 secret bytes), readable by the owner only.

    Written to a temporary file created 0600, then renamed: a reader never sees half a key,
    and the secret never sits in a file with looser permissions.
    """
    write_private_file(path, json.dumps(list(bytes(keypair))))


def write_private_file(path: Path, text: str) -> None:
    """Atomically replace `path` with `text`, mode 0600 from the first byte."""
    write_atomic(path, text.encode("utf-8"), mode=0o600)
