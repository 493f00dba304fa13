"""The state database's schema and its forward migrations.

`PRAGMA user_version` holds the schema version: the number of migrations applied. Each
migration runs in its own `BEGIN IMMEDIATE` transaction together with the version bump, so a
crash mid-migration leaves the previous version intact. `PRAGMA application_id` marks the file
as a flywheel database, so pointing the flywheel at some other application's SQLite file fails
with a clear message instead of adding tables to it.

Migrations are append-only: never edit a released one, add the next.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from flywheel.errors import StateError

# "FLYW" in ASCII: marks a SQLite file as a flywheel state database.
APPLICATION_ID = 0x464C5957

# One migration = the statements that take the schema from version i to i + 1. Statements are
# run one by one with `execute`: `executescript` would commit the surrounding transaction.
Migration = Sequence[str]

_V1: Migration = (
    f"PRAGMA application_id = {APPLICATION_ID}",
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )
    """,
    # epoch ids are referenced by the tables below; references are DEFERRABLE so one
    # transaction may claim receipts or journal an intent before saving the epoch row.
    """
    CREATE TABLE epochs (
        id          TEXT PRIMARY KEY,
        mode        TEXT NOT NULL,
        status      TEXT NOT NULL,
        started_at  TEXT NOT NULL,
        finished_at TEXT,
        state       TEXT NOT NULL
    )
    """,
    # The runner resumes an unfinished epoch before starting another; two running epochs of
    # one mode would mean two journals spending the same fees.
    "CREATE UNIQUE INDEX epochs_one_running_per_mode ON epochs(mode) WHERE status = 'running'",
    "CREATE INDEX epochs_by_mode_finished ON epochs(mode, status, finished_at)",
    """
    CREATE TABLE fee_receipts (
        signature   TEXT PRIMARY KEY,
        lamports    INTEGER NOT NULL CHECK (lamports > 0),
        slot        INTEGER NOT NULL,
        block_time  INTEGER,
        source      TEXT NOT NULL DEFAULT '',
        status      TEXT NOT NULL CHECK (status IN ('available', 'quarantined', 'claimed')),
        epoch_id    TEXT REFERENCES epochs(id) DEFERRABLE INITIALLY DEFERRED,
        detected_at TEXT NOT NULL,
        CHECK ((status = 'claimed') = (epoch_id IS NOT NULL))
    )
    """,
    "CREATE INDEX fee_receipts_by_status ON fee_receipts(status, slot)",
    "CREATE INDEX fee_receipts_by_epoch ON fee_receipts(epoch_id)",
    """
    CREATE TABLE epoch_steps (
        id       INTEGER PRIMARY KEY,
        epoch_id TEXT NOT NULL REFERENCES epochs(id) DEFERRABLE INITIALLY DEFERRED,
        step     TEXT NOT NULL,
        status   TEXT NOT NULL,
        detail   TEXT NOT NULL DEFAULT '',
        at       TEXT NOT NULL
    )
    """,
    "CREATE INDEX epoch_steps_by_epoch ON epoch_steps(epoch_id, id)",
    """
    CREATE TABLE intents (
        signature               TEXT PRIMARY KEY,
        epoch_id                TEXT NOT NULL
                                REFERENCES epochs(id) DEFERRABLE INITIALLY DEFERRED,
        kind                    TEXT NOT NULL,
        raw                     BLOB NOT NULL,
        last_valid_block_height INTEGER NOT NULL,
        status                  TEXT NOT NULL,
        record                  TEXT NOT NULL,
        created_at              TEXT NOT NULL,
        updated_at              TEXT NOT NULL
    )
    """,
    "CREATE INDEX intents_by_status ON intents(status)",
    "CREATE INDEX intents_by_epoch ON intents(epoch_id)",
    """
    CREATE TABLE circuit_breaker (
        id         INTEGER PRIMARY KEY CHECK (id = 1),
        state      TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE ads_ledger (
        id          INTEGER PRIMARY KEY,
        epoch_id    TEXT NOT NULL REFERENCES epochs(id) DEFERRABLE INITIALLY DEFERRED,
        kind        TEXT NOT NULL
                    CHECK (kind IN ('accrued', 'committed', 'spent', 'released')),
        micro_usd   INTEGER NOT NULL,
        lamports    INTEGER NOT NULL,
        campaign_id TEXT,
        note        TEXT NOT NULL DEFAULT '',
        at          TEXT NOT NULL
    )
    """,
    "CREATE INDEX ads_ledger_by_epoch ON ads_ledger(epoch_id, id)",
)

# The flywheel's own money: every address it has controlled (a transfer between two of them is
# an internal transfer, never a fee) and the internal transfers found at the fee collector.
_V2: Migration = (
    """
    CREATE TABLE own_addresses (
        address    TEXT NOT NULL,
        role       TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        PRIMARY KEY (address, role)
    )
    """,
    """
    CREATE TABLE internal_transfers (
        signature   TEXT PRIMARY KEY,
        lamports    INTEGER NOT NULL CHECK (lamports > 0),
        slot        INTEGER NOT NULL,
        source      TEXT NOT NULL DEFAULT '',
        epoch_id    TEXT,
        detected_at TEXT NOT NULL
    )
    """,
    # Creation order, never the wall clock: the previous epoch is the one created before, even
    # when a clock a day behind finished it "earlier". The rowid is not stable (VACUUM).
    "ALTER TABLE epochs ADD COLUMN seq INTEGER",
    "UPDATE epochs SET seq = rowid",
    "CREATE UNIQUE INDEX epochs_by_seq ON epochs(seq)",
)

# A quarantined fee the operator rejected (`flywheel fees reject SIG --reason TEXT`): never spent,
# kept by signature (so no later detection counts it again) with the reason. Its epoch_id is
# the epoch whose report first shows it (NULL until then). SQLite cannot change a CHECK in
# place: the table is rebuilt, in the migration's one transaction.
_V3: Migration = (
    """
    CREATE TABLE fee_receipts_v3 (
        signature   TEXT PRIMARY KEY,
        lamports    INTEGER NOT NULL CHECK (lamports > 0),
        slot        INTEGER NOT NULL,
        block_time  INTEGER,
        source      TEXT NOT NULL DEFAULT '',
        status      TEXT NOT NULL
                    CHECK (status IN ('available', 'quarantined', 'claimed', 'rejected')),
        epoch_id    TEXT REFERENCES epochs(id) DEFERRABLE INITIALLY DEFERRED,
        detected_at TEXT NOT NULL,
        reason      TEXT,
        rejected_at TEXT,
        CHECK (status = 'rejected' OR (status = 'claimed') = (epoch_id IS NOT NULL)),
        CHECK ((status = 'rejected') = (reason IS NOT NULL))
    )
    """,
    "INSERT INTO fee_receipts_v3(signature, lamports, slot, block_time, source, status, "
    "epoch_id, detected_at) SELECT signature, lamports, slot, block_time, source, status, "
    "epoch_id, detected_at FROM fee_receipts",
    "DROP TABLE fee_receipts",
    "ALTER TABLE fee_receipts_v3 RENAME TO fee_receipts",
    "CREATE INDEX fee_receipts_by_status ON fee_receipts(status, slot)",
    "CREATE INDEX fee_receipts_by_epoch ON fee_receipts(epoch_id)",
)

MIGRATIONS: tuple[Migration, ...] = (_V1, _V2, _V3)
SCHEMA_VERSION = len(MIGRATIONS)


def _pragma_int(conn: sqlite3.Connection, name: str) -> int:
    row = conn.execute(f"PRAGMA {name}").fetchone()
    return int(row[0])


def _check_identity(conn: sqlite3.Connection, path: Path, known: int) -> int:
    """The file's schema version, after refusing files that are not ours or are too new."""
    version = _pragma_int(conn, "user_version")
    app_id = _pragma_int(conn, "application_id")
    if version == 0 and app_id == 0:
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if tables:
            raise StateError(
                f"{path} is a SQLite database of another application (it has tables but no "
                "flywheel schema); point the flywheel at a new or a flywheel state file"
            )
        return 0
    if app_id != APPLICATION_ID:
        raise StateError(
            f"{path} is a SQLite database of another application "
            f"(application_id {app_id:#x}); point the flywheel at a flywheel state file"
        )
    if version > known:
        raise StateError(
            f"state database {path} is schema version {version}, this flywheel knows up to "
            f"{known}: upgrade flywheel"
        )
    return version


def migrate(
    conn: sqlite3.Connection, path: Path, migrations: Sequence[Migration] = MIGRATIONS
) -> int:
    """Bring the database at `conn` (autocommit mode) up to `len(migrations)`; the new version.

    Safe against another process migrating the same file at once: the version is read again
    under the write lock before each step.
    """
    known = len(migrations)
    while True:
        target = "the current schema"
        try:
            conn.execute("BEGIN IMMEDIATE")
            version = _check_identity(conn, path, known)
            if version == known:
                conn.execute("COMMIT")
                return version
            target = f"schema version {version + 1}"
            for statement in migrations[version]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except StateError:
            _rollback(conn)
            raise
        except sqlite3.Error as exc:
            _rollback(conn)
            raise StateError(f"migrating state database {path} to {target} failed: {exc}") from exc


def _rollback(conn: sqlite3.Connection) -> None:
    # SQLite may already have rolled back by itself (SQLITE_FULL, SQLITE_IOERR, ...).
    if conn.in_transaction:
        conn.execute("ROLLBACK")
