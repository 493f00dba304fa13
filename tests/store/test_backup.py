"""`flywheel state backup`: a consistent, private copy of a live database (online backup API)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flywheel.domain.fees import FeeReceipt, ReceiptStatus
from flywheel.errors import StateError
from flywheel.persistence.backup import backup_database
from flywheel.persistence.store import SqliteStore


def test_a_backup_of_a_live_database_holds_what_was_committed(tmp_path: Path) -> None:
    live = tmp_path / "data" / "flywheel.sqlite"
    target = tmp_path / "backups" / "flywheel-1.sqlite"
    with SqliteStore.open(live) as store:
        store.add_receipts([FeeReceipt("sig-1", 5_000, 1)], ReceiptStatus.AVAILABLE, "sig-1")
        with store.transaction():  # open, uncommitted: not in the copy
            store.add_receipts([FeeReceipt("sig-2", 7_000, 2)], ReceiptStatus.AVAILABLE, "sig-2")
            assert backup_database(live, target) == 0
    assert target.stat().st_mode & 0o777 == 0o600
    with SqliteStore.open(target) as copy:
        assert [r.signature for r in copy.receipts()] == ["sig-1"]
        assert copy.fee_cursor() == "sig-1"
    assert not list(target.parent.glob(".*partial*")), "no partial file left behind"


def test_a_backup_never_overwrites_and_needs_a_database(tmp_path: Path) -> None:
    live = tmp_path / "flywheel.sqlite"
    with pytest.raises(StateError, match="nothing to back up"):
        backup_database(live, tmp_path / "copy.sqlite")
    SqliteStore.open(live).close()
    existing = tmp_path / "copy.sqlite"
    existing.write_text("keep me")
    with pytest.raises(StateError, match="already exists"):
        backup_database(live, existing)
    assert existing.read_text() == "keep me"
