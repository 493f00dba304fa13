"""One SQLite connection for the state store: durable, serialized, with re-entrant transactions.

Durability: WAL journaling with `synchronous=FULL`, so a committed write survives a power cut.
One object may be shared by threads (an RLock serializes every statement, and a thread holds it
for a whole transaction) and by asyncio tasks of one thread, as long as no task awaits inside
`transaction()`: a statement from another task while a transaction is open is refused rather
than silently joining it. Every sqlite3 error leaves as a StateError naming the file.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from flywheel.errors import StateError, StateFileGone
from flywheel.persistence.schema import migrate


def _utc_now() -> datetime:
    return datetime.now(UTC)


def iso_utc(moment: datetime) -> str:
    """Fixed-width ISO-8601 in UTC, so text order is time order; naive means UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running event loop in this thread
        return None


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _private_sidecars(path: Path) -> None:
    """-wal and -shm left by an older flywheel (or another tool) with a wider mode: 0600."""
    for suffix in ("-wal", "-shm"):
        sidecar = Path(f"{path}{suffix}")
        if sidecar.exists():
            sidecar.chmod(0o600)


class SqliteDatabase:
    """One SQLite connection: WAL, re-entrant transactions, StateError for every failure."""

    def __init__(
        self, conn: sqlite3.Connection, path: Path, now: Callable[[], datetime] = _utc_now
    ) -> None:
        self._conn: sqlite3.Connection | None = conn
        self._path = path
        self._now = now
        self._lock = threading.RLock()
        self._depth = 0
        self._owner: asyncio.Task[Any] | None = None
        self._identity = _file_identity(path)

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        busy_timeout_ms: int = 5000,
        now: Callable[[], datetime] = _utc_now,
    ) -> Self:
        """Open (creating the file and its directory, migrating the schema) or raise StateError."""
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(
                f"cannot create the directory of state database {path}: {exc.strerror}"
            ) from exc
        try:
            # The state names the wallets and holds signed transactions: the owner's alone.
            # SQLite gives the -wal and -shm files the database file's mode.
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
            path.chmod(0o600)
        except OSError as exc:
            raise StateError(f"cannot open state database {path}: {exc.strerror}") from exc
        try:
            conn = sqlite3.connect(
                path,
                timeout=busy_timeout_ms / 1000,
                isolation_level=None,  # autocommit: transactions are ours, not the module's
                check_same_thread=False,  # the RLock serializes access instead
            )
        except sqlite3.Error as exc:
            raise StateError(f"cannot open state database {path}: {exc}") from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StateError(
                    f"state database {path} cannot use WAL journaling (got {mode!r}); "
                    "put it on a local filesystem"
                )
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            migrate(conn, path)
            _private_sidecars(path)
        except sqlite3.DatabaseError as exc:
            conn.close()
            if "not a database" in str(exc):
                raise StateError(
                    f"{path} is not a SQLite database; is the state database path right?"
                ) from exc
            raise StateError(f"cannot use state database {path}: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        return cls(conn, path, now)

    @property
    def path(self) -> Path:
        return self._path

    def verify_file(self) -> None:
        """StateError when the file at `path` is no longer the one this connection writes to
        (deleted, or replaced by another file): every write would go to a file nobody reads."""
        now = _file_identity(self._path)
        if now == self._identity:
            return
        what = "was deleted" if now is None else "was replaced by another file"
        raise StateFileGone(
            f"state database {self._path} {what} while in use; nothing more is written. "
            "Stop the service, find out what happened to the file and restore it (runbook: "
            "Disaster Recovery) before starting again"
        )

    @property
    def schema_version(self) -> int:
        row = self._one("PRAGMA user_version")
        return 0 if row is None else int(row[0])

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- statements and transactions ---------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StateError(f"state database {self._path} is closed")
        self.verify_file()  # one stat: cheaper than any statement, and never a lost write
        if self._depth and _current_task() is not self._owner:
            raise StateError(
                f"state database {self._path}: a transaction is open in another asyncio task "
                "(never await inside store.transaction())"
            )
        return self._conn

    def _failure(self, exc: sqlite3.Error) -> StateError:
        if "locked" in str(exc) or "busy" in str(exc):
            return StateError(f"state database {self._path} is locked by another process: {exc}")
        return StateError(f"state database {self._path}: {exc}")

    def _run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Execute one statement; the number of rows it changed."""
        with self._lock:
            try:
                return self._connection().execute(sql, params).rowcount
            except sqlite3.Error as exc:
                raise self._failure(exc) from exc

    def _many(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """Execute one statement per row; the number of rows changed in all."""
        with self._lock:
            try:
                conn = self._connection()
                before = conn.total_changes
                conn.executemany(sql, rows)
                return conn.total_changes - before
            except sqlite3.Error as exc:
                raise self._failure(exc) from exc

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return list(self._connection().execute(sql, params).fetchall())
            except sqlite3.Error as exc:
                raise self._failure(exc) from exc

    def _one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        rows = self._all(sql, params)
        return rows[0] if rows else None

    def _abort(self) -> None:
        conn = self._conn
        if conn is not None and conn.in_transaction:
            conn.execute("ROLLBACK")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything inside commits together or not at all.

        Re-entrant: an inner block is a SAVEPOINT, so an exception caught inside the outer
        block undoes the inner block's writes only. Never await inside it.
        """
        with self._lock:
            depth = self._depth
            if depth == 0:
                self._run("BEGIN IMMEDIATE")
                self._owner = _current_task()
            else:
                self._run(f"SAVEPOINT nested_{depth}")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if depth == 0:
                    self._owner = None
                    self._abort()
                else:
                    self._run(f"ROLLBACK TO nested_{depth}")
                    self._run(f"RELEASE nested_{depth}")
                raise
            self._depth -= 1
            if depth:
                self._run(f"RELEASE nested_{depth}")
                return
            self._owner = None
            try:
                self._run("COMMIT")
            except StateError:
                # a failed COMMIT (deferred foreign key, I/O error) may leave it open
                self._abort()
                raise
