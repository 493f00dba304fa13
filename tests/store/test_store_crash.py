"""SIGKILL a process in the middle of multi-row transactions; every batch is all-or-nothing."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from flywheel.persistence.store import SqliteStore

WRITER = Path(__file__).with_name("crash_writer.py")
BATCH = 500
KILLS = 5


def _last_log_line(log: Path) -> tuple[str, int] | None:
    lines = log.read_text().splitlines()
    if not lines:
        return None
    word, number = lines[-1].split()
    return word, int(number)


def _check_database(db: Path) -> int:
    """Integrity and atomicity of everything the writer committed; the complete batches."""
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        receipts = int(conn.execute("SELECT count(*) FROM fee_receipts").fetchone()[0])
        assert receipts % BATCH == 0, f"a torn batch: {receipts} receipts"
        batches = receipts // BATCH
        cursor = conn.execute("SELECT value FROM meta WHERE key = 'fee_cursor'").fetchone()
        assert cursor == (None if batches == 0 else (f"batch-{batches:06d}",))
        per_batch = conn.execute(
            "SELECT count(*), min(substr(signature, 5, 6)), max(substr(signature, 5, 6)) "
            "FROM fee_receipts GROUP BY substr(signature, 5, 6) HAVING count(*) != ?",
            (BATCH,),
        ).fetchall()
        assert per_batch == []
        epochs = [row[0] for row in conn.execute("SELECT id FROM epochs ORDER BY id")]
        assert epochs == [f"e-{n:06d}" for n in range(1, batches + 1)]
        # an epoch and its intent, step and ads entry are both present or both absent
        for table in ("intents", "epoch_steps", "ads_ledger"):
            ids = [row[0] for row in conn.execute(f"SELECT epoch_id FROM {table} ORDER BY 1")]  # noqa: S608
            assert ids == epochs, table
    finally:
        conn.close()
    with SqliteStore.open(db) as store:  # and the store itself opens it and agrees
        assert len(store.receipts()) == receipts
        assert len(store.pending_intents()) == batches
    return batches


def test_sigkill_never_tears_a_transaction(tmp_path: Path) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    db, log = tmp_path / "state" / "flywheel.db", tmp_path / "writer.log"
    committed = 0
    mid_transaction = 0
    for kill in range(KILLS):
        log.write_text("")
        writer = subprocess.Popen(
            [sys.executable, str(WRITER), str(db), str(log), str(BATCH)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert writer.stdout is not None
            ready = writer.stdout.readline()
            assert ready == "ready\n", writer.communicate(timeout=10)[1]
            time.sleep(rng.uniform(0.05, 0.4))
            writer.send_signal(signal.SIGKILL)
            writer.wait(timeout=10)
        finally:
            if writer.poll() is None:
                writer.kill()
                writer.wait(timeout=10)
            if writer.stdout is not None:
                writer.stdout.close()
            if writer.stderr is not None:
                writer.stderr.close()
        assert writer.returncode == -signal.SIGKILL, f"seed {seed}, kill {kill}"

        batches = _check_database(db)
        last = _last_log_line(log)
        context = f"seed {seed}, kill {kill}, last log {last}, {batches} batches"
        assert batches >= committed, context
        if last is not None:
            word, n = last
            if word == "done":
                assert batches == n, context
            else:  # killed inside the transaction or during its COMMIT: all of it or none
                mid_transaction += 1
                assert batches in (n - 1, n), context
        committed = batches
    assert committed > KILLS, f"the writer barely wrote (seed {seed}): {committed} batches"
    print(f"{committed} batches committed, {mid_transaction}/{KILLS} kills inside a transaction")
