"""Replacing a file so that a reader, or a crash, sees the old content or the new, never half.

Used for reports (0644: backups and other users read them) and keypair files (0600). The data
is written to a temporary file created 0600 in the same directory, synced, given its final
mode, renamed over the target, and the directory entry synced: a secret never sits in a file
with looser permissions, and a committed write survives a power cut.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from flywheel.errors import OperationalError


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write `data` to `path` atomically; a full disk or a permission is an OperationalError."""
    try:
        _write(path, data, mode)
    except OSError as exc:
        raise OperationalError(
            f"cannot write {path} ({exc.strerror or type(exc).__name__}): free disk space or "
            f"fix the permissions of {path.parent}, then run again"
        ) from exc


def _write(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            os.fchmod(handle.fileno(), mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk too.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
