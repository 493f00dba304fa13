"""A consistent copy of a live state database, by SQLite's online backup API.

Safe while the service writes (WAL): the copy is one snapshot, never half an epoch. It is
written beside its destination first and renamed into place, so an interrupted backup never
leaves a truncated file where a good one is expected, and it is 0600 like the state itself.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from flywheel.errors import StateError
from flywheel.persistence.store import SqliteStore


def backup_database(source: Path, target: Path) -> int:
    """Copy `source` to `target` (which must not exist); the number of epochs it holds."""
    if not source.exists():
        raise StateError(f"there is no state database at {source}: nothing to back up")
    if target.exists():
        raise StateError(f"{target} already exists: choose a new path (nothing was written)")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    os.close(os.open(partial, os.O_CREAT | os.O_WRONLY, 0o600))
    try:
        # Not `mode=ro`: a read-only connection leaves -wal/-shm files it cannot remove.
        src = sqlite3.connect(source)
        try:
            src.execute("PRAGMA query_only = ON")
            dst = sqlite3.connect(partial)
            try:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            finally:
                dst.close()
        finally:
            src.close()
        with SqliteStore.open(partial) as copy:  # it is a flywheel database, and it reads
            epochs = sum(1 for _ in copy.epochs(limit=10**9))
        for suffix in ("-wal", "-shm"):
            Path(f"{partial}{suffix}").unlink(missing_ok=True)
        os.replace(partial, target)
    except sqlite3.Error as exc:
        raise StateError(f"backing up {source} to {target} failed: {exc}") from exc
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{partial}{suffix}").unlink(missing_ok=True)
    return epochs
