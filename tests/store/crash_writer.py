"""Writes multi-row transactions to a state database in a loop until it is killed.

Run by test_store_crash.py as `python crash_writer.py DB LOG BATCH`. Iteration n (continuing
after whatever a previous, killed run committed) is one transaction: BATCH fee receipts plus
the cursor "batch-n", a finished epoch "e-n", its swap intent, a step and an ads entry. LOG gets
"begin n" once the transaction is open and "done n" after it committed (unbuffered), so the test
knows where the kill landed.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from flywheel.domain.epoch_state import EpochMode, EpochState, EpochStatus
from flywheel.domain.fees import FeeReceipt, ReceiptStatus
from flywheel.domain.trade import PreparedTx, TxKind
from flywheel.persistence.store import SqliteStore

MAX_SECONDS = 30.0  # bounded even if the test never kills it


def cursor_of(n: int) -> str:
    return f"batch-{n:06d}"


def batch_number(cursor: str | None) -> int:
    return 0 if cursor is None else int(cursor.removeprefix("batch-"))


def main() -> None:
    db, log_path, batch = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    store = SqliteStore.open(db)
    n = batch_number(store.fee_cursor())
    print("ready", flush=True)
    deadline = time.monotonic() + MAX_SECONDS
    while time.monotonic() < deadline:
        n += 1
        now = datetime.now(UTC)
        with store.transaction():
            os.write(log, f"begin {n}\n".encode())
            receipts = [
                FeeReceipt(f"sig-{n:06d}-{i:04d}" + "x" * 70, 1000 + i, n * 10_000 + i)
                for i in range(batch)
            ]
            store.add_receipts(receipts, ReceiptStatus.AVAILABLE, cursor_of(n))
            epoch_id = f"e-{n:06d}"
            store.add_intent(epoch_id, PreparedTx(TxKind.SWAP, f"tx-{n:06d}", os.urandom(1232), n))
            store.save_epoch(
                EpochState(
                    id=epoch_id,
                    mode=EpochMode.LIVE,
                    started_at=now,
                    finished_at=now,
                    status=EpochStatus.SUCCEEDED,
                    fees_in_lamports=n,
                )
            )
            store.record_step(epoch_id, "detect", "done")
            store.add_ads_entry(epoch_id, "accrued", n, n)
        os.write(log, f"done {n}\n".encode())


if __name__ == "__main__":
    main()
