"""SqliteStore against real SQLite files: every method, transactions, migrations, refusals."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from flywheel.domain.epoch_state import EpochMode, EpochState, EpochStatus, IntentRecord
from flywheel.domain.fees import FeeReceipt, ReceiptStatus
from flywheel.domain.trade import PreparedTx, TxKind
from flywheel.errors import StateError
from flywheel.persistence.connection import iso_utc
from flywheel.persistence.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION, migrate
from flywheel.persistence.store import SqliteStore

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "flywheel.db"


@pytest.fixture
def store(db: Path) -> Iterator[SqliteStore]:
    with SqliteStore.open(db, now=Clock()) as opened:
        yield opened


def receipt(n: int, lamports: int = 1_000, source: str = "") -> FeeReceipt:
    return FeeReceipt(
        f"sig{n}", lamports, slot=100 + n, block_time=1_700_000_000 + n, source=source
    )


def epoch(
    epoch_id: str,
    mode: EpochMode = EpochMode.LIVE,
    status: EpochStatus = EpochStatus.RUNNING,
    finished: datetime | None = None,
    **fields: int,
) -> EpochState:
    return EpochState(
        id=epoch_id, mode=mode, started_at=T0, status=status, finished_at=finished, **fields
    )


def tx(n: int, kind: TxKind = TxKind.SWAP) -> PreparedTx:
    return PreparedTx(kind, f"tx{n}", bytes([n]) * 64, last_valid_block_height=1_000 + n)


def raw(db: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


# --- opening, pragmas, schema -----------------------------------------------------------------


def test_open_creates_directory_and_a_durable_wal_database(db: Path, store: SqliteStore) -> None:
    assert db.is_file()
    assert store.path == db
    assert store.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
    assert raw(db, "PRAGMA journal_mode") == [("wal",)]  # persistent in the file
    assert raw(db, "PRAGMA application_id") == [(APPLICATION_ID,)]
    # per-connection settings of the store's own connection
    assert store._one("PRAGMA synchronous") == (2,)  # FULL
    assert store._one("PRAGMA foreign_keys") == (1,)
    assert store._one("PRAGMA busy_timeout") == (5000,)
    tables = {row[0] for row in raw(db, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {
        "meta",
        "fee_receipts",
        "epochs",
        "epoch_steps",
        "intents",
        "circuit_breaker",
        "ads_ledger",
        "own_addresses",
        "internal_transfers",
    }


def test_data_survives_reopening_and_a_closed_store_refuses(db: Path) -> None:
    with SqliteStore.open(db) as first:
        first.set_meta("k", "v")
    with pytest.raises(StateError, match="closed"):
        first.get_meta("k")
    first.close()  # closing twice is harmless
    with SqliteStore.open(db) as second:
        assert second.get_meta("k") == "v"
        assert second.schema_version == SCHEMA_VERSION


def test_an_empty_file_is_migrated(db: Path) -> None:
    db.parent.mkdir(parents=True)
    db.write_bytes(b"")
    with SqliteStore.open(db) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.receipts() == []


def test_a_newer_schema_is_refused_with_an_upgrade_message(db: Path) -> None:
    SqliteStore.open(db).close()
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 3}")
    conn.close()
    expected = (
        f"state database {db} is schema version {SCHEMA_VERSION + 3}, "
        f"this flywheel knows up to {SCHEMA_VERSION}: upgrade flywheel"
    )
    with pytest.raises(StateError) as refused:
        SqliteStore.open(db)
    assert str(refused.value) == expected
    assert raw(db, "PRAGMA user_version") == [(SCHEMA_VERSION + 3,)]  # left untouched


def test_a_file_that_is_not_sqlite_is_refused_and_left_alone(db: Path) -> None:
    db.parent.mkdir(parents=True)
    content = b"STATE_DB=./flywheel.db\n" * 200
    db.write_bytes(content)
    with pytest.raises(StateError, match="is not a SQLite database") as refused:
        SqliteStore.open(db)
    assert str(db) in str(refused.value)
    assert db.read_bytes() == content


def test_another_applications_sqlite_file_is_refused(db: Path) -> None:
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE photos (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(StateError, match="another application") as refused:
        SqliteStore.open(db)
    assert str(db) in str(refused.value)
    assert raw(db, "SELECT name FROM sqlite_master") == [("photos",)]


def test_an_unusable_path_is_a_state_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StateError, match="cannot create the directory"):
        SqliteStore.open(blocker / "sub" / "flywheel.db")
    with pytest.raises(StateError, match=r"cannot open|cannot use"):
        SqliteStore.open(tmp_path)  # a directory


def test_migrations_run_forward_in_order_and_a_failing_one_rolls_back(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    conn = sqlite3.connect(path, isolation_level=None)
    n = len(MIGRATIONS)
    assert migrate(conn, path) == n
    conn.execute("INSERT INTO meta(key, value) VALUES ('kept', 'yes')")
    extra = ("CREATE TABLE extra (x INTEGER)", "INSERT INTO extra VALUES (42)")
    broken = ("CREATE TABLE half (x INTEGER)", "INSERT INTO nowhere VALUES (1)")
    with pytest.raises(StateError, match=f"to schema version {n + 2} failed"):
        migrate(conn, path, [*MIGRATIONS, extra, broken])
    assert conn.execute("PRAGMA user_version").fetchone() == (n + 1,)  # committed on its own
    assert conn.execute("SELECT x FROM extra").fetchall() == [(42,)]
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "half" not in names  # the broken one left nothing behind
    assert conn.execute("SELECT value FROM meta").fetchall() == [("yes",)]
    assert migrate(conn, path, [*MIGRATIONS, extra]) == n + 1  # idempotent at the latest
    conn.close()


# --- transactions --------------------------------------------------------------------------------


def test_an_exception_rolls_back_receipts_and_cursor_together(store: SqliteStore) -> None:
    store.add_receipts([receipt(1)], ReceiptStatus.AVAILABLE, "c1")

    def crash_midway() -> None:
        with store.transaction():
            store.add_receipts([receipt(2), receipt(3)], ReceiptStatus.AVAILABLE, "c3")
            raise RuntimeError("crash before the epoch step finished")

    with pytest.raises(RuntimeError):
        crash_midway()
    assert store.fee_cursor() == "c1"
    assert [r.signature for r in store.receipts()] == ["sig1"]


def test_transactions_nest_with_savepoints(store: SqliteStore) -> None:
    def fail_inside(key: str, error: Exception) -> None:
        with store.transaction():
            store.set_meta(key, "1")
            raise error

    def fail_outside() -> None:
        with store.transaction():
            with store.transaction():
                store.set_meta("nested", "1")
            raise KeyError("outer failure")

    with store.transaction():
        store.set_meta("outer", "1")
        with store.transaction():
            store.set_meta("inner", "1")
        with pytest.raises(ValueError, match="inner failure"):
            fail_inside("undone", ValueError("inner failure"))
        store.set_meta("after", "1")
    assert store.get_meta("outer") == store.get_meta("inner") == store.get_meta("after") == "1"
    assert store.get_meta("undone") is None
    with pytest.raises(KeyError):
        fail_outside()
    assert store.get_meta("nested") is None


def test_uncommitted_writes_are_invisible_to_another_connection(db: Path) -> None:
    with SqliteStore.open(db) as writer, SqliteStore.open(db) as reader:
        with writer.transaction():
            writer.add_receipts([receipt(1)], ReceiptStatus.AVAILABLE, "c1")
            assert reader.receipts() == []
            assert reader.fee_cursor() is None
        assert [r.signature for r in reader.receipts()] == ["sig1"]
        assert reader.fee_cursor() == "c1"


def test_a_locked_database_is_a_state_error(db: Path) -> None:
    with SqliteStore.open(db) as holder, SqliteStore.open(db, busy_timeout_ms=50) as waiter:
        with holder.transaction(), pytest.raises(StateError, match="locked"):
            waiter.set_meta("k", "v")
        waiter.set_meta("k", "v")
        assert holder.get_meta("k") == "v"


def test_threads_sharing_one_store_serialize_whole_transactions(store: SqliteStore) -> None:
    def work(worker: int) -> None:
        for i in range(25):
            n = worker * 1000 + i
            with store.transaction():
                store.add_receipts([receipt(n)], ReceiptStatus.AVAILABLE, None)
                total = int(store.get_meta("count") or "0")
                store.set_meta("count", str(total + 1))

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.receipts()) == 100
    assert store.get_meta("count") == "100"  # no lost update: read-modify-write was atomic


async def test_a_task_cannot_join_another_tasks_open_transaction(store: SqliteStore) -> None:
    inside = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        with store.transaction():
            store.set_meta("holder", "1")
            inside.set()
            await release.wait()  # the bug the store guards against

    task = asyncio.create_task(holder())
    await inside.wait()
    with pytest.raises(StateError, match="another asyncio task"):
        store.set_meta("intruder", "1")
    release.set()
    await task
    store.set_meta("after", "1")
    assert store.get_meta("holder") == store.get_meta("after") == "1"
    assert store.get_meta("intruder") is None


# --- meta and receipts -----------------------------------------------------------------------


def test_meta_values_are_set_and_replaced(store: SqliteStore) -> None:
    assert store.get_meta("k") is None
    store.set_meta("k", "one")
    store.set_meta("k", "two")
    assert store.get_meta("k") == "two"


def test_receipts_are_unique_by_signature_and_move_the_cursor(store: SqliteStore) -> None:
    assert store.fee_cursor() is None
    added = store.add_receipts(
        [receipt(1), receipt(2, source="payer"), receipt(1)], ReceiptStatus.AVAILABLE, "c2"
    )
    assert added == 2
    assert store.fee_cursor() == "c2"
    # the same signature again (even with other contents) is stored once: the first stays
    again = store.add_receipts(
        [receipt(2, lamports=999_999), receipt(3)], ReceiptStatus.QUARANTINED, None
    )
    assert again == 1
    assert store.fee_cursor() == "c2"  # None leaves it where it was
    assert store.receipts() == [receipt(1), receipt(2, source="payer"), receipt(3)]
    assert store.receipts(ReceiptStatus.QUARANTINED) == [receipt(3)]
    assert store.add_receipts([], ReceiptStatus.AVAILABLE, "c9") == 0
    assert store.fee_cursor() == "c9"
    with pytest.raises(ValueError, match="claimed"):
        store.add_receipts([receipt(4)], ReceiptStatus.CLAIMED, None)


def test_claiming_takes_every_available_receipt_once(store: SqliteStore) -> None:
    store.add_receipts([receipt(1, 10), receipt(2, 20)], ReceiptStatus.AVAILABLE, None)
    store.add_receipts([receipt(3, 30)], ReceiptStatus.QUARANTINED, None)
    with store.transaction():
        store.save_epoch(epoch("e1"))
        claimed = store.claim_available_receipts("e1")
    assert claimed == [receipt(1, 10), receipt(2, 20)]
    assert store.claim_available_receipts("e1") == []
    assert store.receipts(ReceiptStatus.CLAIMED) == claimed
    assert raw(store.path, "SELECT signature, epoch_id FROM fee_receipts ORDER BY 1") == [
        ("sig1", "e1"),
        ("sig2", "e1"),
        ("sig3", None),
    ]
    assert store.receipt_totals() == {
        "available": 0,
        "quarantined": 30,
        "claimed": 30,
        "rejected": 0,
    }


def test_claiming_for_an_epoch_never_saved_is_refused(store: SqliteStore) -> None:
    store.add_receipts([receipt(1)], ReceiptStatus.AVAILABLE, None)
    with pytest.raises(StateError, match="FOREIGN KEY"):
        store.claim_available_receipts("ghost")
    assert store.receipts(ReceiptStatus.AVAILABLE) == [receipt(1)]
    store.set_meta("usable", "yes")  # the failed COMMIT did not leave a transaction open
    assert store.get_meta("usable") == "yes"


def test_only_a_quarantined_receipt_is_released(store: SqliteStore) -> None:
    store.add_receipts([receipt(1)], ReceiptStatus.QUARANTINED, None)
    store.add_receipts([receipt(2)], ReceiptStatus.AVAILABLE, None)
    assert store.release_receipt("sig1") is True
    assert store.release_receipt("sig1") is False
    assert store.release_receipt("sig2") is False
    assert store.release_receipt("unknown") is False
    assert store.receipts(ReceiptStatus.AVAILABLE) == [receipt(1), receipt(2)]
    assert store.receipt_totals() == {
        "available": 2_000,
        "quarantined": 0,
        "claimed": 0,
        "rejected": 0,
    }


# --- epochs and steps ----------------------------------------------------------------------------


def test_epochs_are_upserted_and_found_by_mode(store: SqliteStore) -> None:
    assert store.unfinished_epoch(EpochMode.LIVE) is None
    assert store.epoch("e1") is None
    running = epoch("e1", fees_in_lamports=500)
    store.save_epoch(running)
    store.save_epoch(epoch("s1", EpochMode.SIMULATE))  # another mode may run at the same time
    assert store.unfinished_epoch(EpochMode.LIVE) == running
    assert store.epoch("e1") == running
    done = running.model_copy(
        update={"status": EpochStatus.SUCCEEDED, "finished_at": T0 + timedelta(hours=1)}
    )
    store.save_epoch(done)
    assert store.epoch("e1") == done
    assert store.unfinished_epoch(EpochMode.LIVE) is None
    assert store.unfinished_epoch(EpochMode.SIMULATE) == epoch("s1", EpochMode.SIMULATE)
    assert raw(store.path, "SELECT status, finished_at FROM epochs WHERE id = 'e1'") == [
        ("succeeded", "2026-05-01T13:00:00.000000+00:00")
    ]


def test_two_running_epochs_of_one_mode_are_refused(store: SqliteStore) -> None:
    store.save_epoch(epoch("e1"))
    with pytest.raises(StateError, match=r"epoch e1 .* is still running"):
        store.save_epoch(epoch("e2"))
    assert store.epoch("e2") is None
    with pytest.raises(StateError, match="is a live epoch"):
        store.save_epoch(epoch("e1", EpochMode.SIMULATE))


def test_carried_lamports_come_from_the_last_epoch_created(
    store: SqliteStore,
) -> None:
    assert store.carried_lamports(EpochMode.LIVE) == 0
    assert store.last_finished_epoch(EpochMode.LIVE) is None
    first = epoch(
        "e1",
        status=EpochStatus.SUCCEEDED,
        finished=T0 + timedelta(hours=1),
        fees_in_lamports=1_000,
        buyback_spent_lamports=600,
    )
    second = epoch(
        "e2",
        status=EpochStatus.FAILED,
        # A clock a day behind: it "finished" before the first, yet it was created after it.
        finished=T0 - timedelta(days=1),
        carried_in_lamports=400,
        fees_in_lamports=100,
    )
    store.save_epoch(first)  # creation order decides, never the wall clock
    store.save_epoch(second)
    store.save_epoch(first)  # saving again keeps its place
    store.save_epoch(epoch("e3", fees_in_lamports=7))  # still running: not finished
    store.save_epoch(epoch("s1", EpochMode.SIMULATE, EpochStatus.SUCCEEDED, T0, fees_in_lamports=9))
    assert store.last_finished_epoch(EpochMode.LIVE) == second
    assert store.carried_lamports(EpochMode.LIVE) == 500
    assert store.carried_lamports(EpochMode.SIMULATE) == 9


def test_epochs_lists_the_newest_first(store: SqliteStore) -> None:
    for n in range(5):
        finished = T0 + timedelta(hours=n + 1)
        state = EpochState(
            id=f"e{n}",
            mode=EpochMode.LIVE,
            started_at=T0 + timedelta(hours=n),
            finished_at=finished,
            status=EpochStatus.SUCCEEDED,
        )
        store.save_epoch(state)
    assert [e.id for e in store.epochs(limit=3)] == ["e4", "e3", "e2"]
    assert len(list(store.epochs())) == 5


def test_steps_are_recorded_in_order_with_utc_times(store: SqliteStore) -> None:
    store.save_epoch(epoch("e1"))
    store.record_step("e1", "detect", "started")
    store.record_step("e1", "detect", "done", "3 receipts")
    steps = store.steps_of("e1")
    assert [(s.step, s.status, s.detail) for s in steps] == [
        ("detect", "started", ""),
        ("detect", "done", "3 receipts"),
    ]
    assert steps[0].at < steps[1].at
    assert steps[0].at.tzinfo is not None and steps[0].at.utcoffset() == timedelta(0)
    assert store.steps_of("other") == []


def test_a_corrupt_epoch_row_is_a_state_error(store: SqliteStore) -> None:
    store.save_epoch(epoch("e1"))
    conn = sqlite3.connect(store.path)
    conn.execute("""UPDATE epochs SET state = '{"id": "e1"}'""")
    conn.commit()
    conn.close()
    with pytest.raises(StateError, match=r"epoch e1 .* cannot be read"):
        store.epoch("e1")


# --- intents ---------------------------------------------------------------------------------


def test_intents_are_journaled_updated_and_listed(store: SqliteStore) -> None:
    with store.transaction():
        store.add_intent("e1", tx(1))  # before its epoch row: checked at COMMIT
        store.save_epoch(epoch("e1"))
    store.add_intent("e1", tx(2, TxKind.BURN))
    store.add_intent("e1", tx(1))  # the same intent again: nothing changes
    assert store.pending_intents() == [("e1", tx(1)), ("e1", tx(2, TxKind.BURN))]

    landed = IntentRecord(
        kind="swap",
        signature="tx1",
        last_valid_block_height=1_001,
        status="confirmed",
        fee_lamports=5_000,
        sol_delta=-1_005_000,
        token_delta=42,
    )
    store.update_intent("tx1", landed)
    assert store.pending_intents() == [("e1", tx(2, TxKind.BURN))]
    stored = store.intents_of("e1")
    assert [(i.tx, i.status) for i in stored] == [
        (tx(1), "confirmed"),
        (tx(2, TxKind.BURN), "pending"),
    ]
    assert stored[0].record == landed
    assert stored[0].updated_at > stored[0].created_at
    assert stored[1].record == IntentRecord(
        kind="burn", signature="tx2", last_valid_block_height=1_002
    )
    assert store.intents_of("e2") == []


def test_intent_mistakes_are_refused(store: SqliteStore) -> None:
    store.save_epoch(epoch("e1"))
    store.add_intent("e1", tx(1))
    with pytest.raises(StateError, match="already journaled with other contents"):
        store.add_intent("e1", PreparedTx(TxKind.SWAP, "tx1", b"other bytes", 1_001))
    record = IntentRecord(kind="swap", signature="tx9", last_valid_block_height=1)
    with pytest.raises(StateError, match="no intent tx9"):
        store.update_intent("tx9", record)
    with pytest.raises(ValueError, match="not tx1"):
        store.update_intent("tx1", record)
    with pytest.raises(StateError, match="FOREIGN KEY"):
        store.add_intent("ghost", tx(3))
    assert store.pending_intents() == [("e1", tx(1))]


# --- breaker and ads ledger ----------------------------------------------------------------------


def test_breaker_state_is_a_single_row(store: SqliteStore) -> None:
    assert store.breaker_state() is None
    store.save_breaker_state('{"state": "open", "failures": 3}')
    store.save_breaker_state('{"state": "closed", "failures": 0}')
    assert store.breaker_state() == '{"state": "closed", "failures": 0}'
    assert raw(store.path, "SELECT count(*) FROM circuit_breaker") == [(1,)]


def test_ads_ledger_entries_and_balance(store: SqliteStore) -> None:
    assert store.ads_balance() == {"accrued": 0, "committed": 0, "spent": 0, "released": 0}
    store.save_epoch(epoch("e1", status=EpochStatus.SUCCEEDED, finished=T0))
    store.save_epoch(epoch("e2"))
    first = store.add_ads_entry("e1", "accrued", 3_000_000, 20_000_000, note="below minimum")
    second = store.add_ads_entry("e2", "committed", 5_000_000, 33_000_000, campaign_id="c-1")
    store.add_ads_entry("e2", "spent", 4_500_000, 30_000_000, campaign_id="c-1")
    store.add_ads_entry("e2", "accrued", 1, 7)
    assert second == first + 1
    assert store.ads_balance() == {
        "accrued": 3_000_001,
        "committed": 5_000_000,
        "spent": 4_500_000,
        "released": 0,
    }
    entries = store.ads_entries("e2")
    assert [(e.kind, e.micro_usd, e.lamports, e.campaign_id) for e in entries] == [
        ("committed", 5_000_000, 33_000_000, "c-1"),
        ("spent", 4_500_000, 30_000_000, "c-1"),
        ("accrued", 1, 7, None),
    ]
    everything = store.ads_entries()
    assert [e.id for e in everything] == [first, second, second + 1, second + 2]
    assert everything[0].note == "below minimum" and everything[0].epoch_id == "e1"
    with pytest.raises(ValueError, match="kind must be one of"):
        store.add_ads_entry("e1", "refunded", 1, 1)


# --- time ----------------------------------------------------------------------------------


def test_timestamps_are_iso_8601_utc(store: SqliteStore) -> None:
    store.add_receipts([receipt(1)], ReceiptStatus.AVAILABLE, None)
    assert raw(store.path, "SELECT detected_at FROM fee_receipts") == [
        ("2026-05-01T12:00:01.000000+00:00",)
    ]
    east = timezone(timedelta(hours=9))
    assert iso_utc(datetime(2026, 5, 1, 21, 0, tzinfo=east)) == "2026-05-01T12:00:00.000000+00:00"
    assert iso_utc(datetime(2026, 5, 1, 12, 0)) == "2026-05-01T12:00:00.000000+00:00"


def test_the_database_and_its_wal_are_private_to_the_owner(tmp_path: Path) -> None:
    path = tmp_path / "state" / "private.sqlite"
    path.parent.mkdir()
    path.touch(mode=0o644)
    path.chmod(0o644)
    with SqliteStore.open(path) as store:
        store.set_meta("k", "v")
        for file in (path, Path(f"{path}-wal")):
            assert file.stat().st_mode & 0o777 == 0o600, file


def test_a_rejected_receipt_keeps_its_reason_and_is_reported_once(store: SqliteStore) -> None:
    store.add_receipts([receipt(1, 10), receipt(2, 20)], ReceiptStatus.QUARANTINED, None)
    store.add_receipts([receipt(3, 30)], ReceiptStatus.AVAILABLE, None)
    with pytest.raises(ValueError, match="needs a reason"):
        store.reject_receipt("sig1", " ")
    assert not store.reject_receipt("sig3", "not quarantined")  # available: refused
    assert not store.reject_receipt("nope", "unknown")
    assert store.reject_receipt("sig1", "an airdrop")
    assert not store.reject_receipt("sig1", "twice")
    assert not store.release_receipt("sig1")  # rejected is final
    assert store.receipt_status("sig1") is ReceiptStatus.REJECTED
    assert store.receipt_status("nope") is None
    store.save_epoch(epoch("e1"))
    assert store.claim_available_receipts("e1") == [receipt(3, 30)]  # never the rejected one
    [shown] = store.report_rejected_receipts("e1")
    assert (shown.signature, shown.lamports, shown.reason) == ("sig1", 10, "an airdrop")
    assert store.report_rejected_receipts("e1") == []  # once
    assert [r.signature for r in store.rejected_receipts()] == ["sig1"]
    assert store.receipt_totals() == {
        "available": 0,
        "quarantined": 20,
        "claimed": 30,
        "rejected": 10,
    }
    # A rejected fee detected again (a rebase to the whole history) stays rejected.
    assert store.add_receipts([receipt(1, 10)], ReceiptStatus.AVAILABLE, None) == 0
    assert store.receipt_status("sig1") is ReceiptStatus.REJECTED


def test_the_rejection_migration_keeps_every_receipt(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, path, MIGRATIONS[:2]) == 2
    conn.execute(
        "INSERT INTO fee_receipts(signature, lamports, slot, source, status, detected_at) "
        "VALUES ('old', 5, 1, 'payer', 'quarantined', '2026-01-01T00:00:00Z')"
    )
    assert migrate(conn, path) == SCHEMA_VERSION
    conn.close()
    with SqliteStore.open(path) as store:
        assert store.receipts(ReceiptStatus.QUARANTINED) == [FeeReceipt("old", 5, 1, None, "payer")]
        assert store.reject_receipt("old", "spam")
        with pytest.raises(StateError, match="CHECK constraint"), store.transaction():
            store._run("UPDATE fee_receipts SET reason = NULL WHERE signature = 'old'")
