"""The fee receipts in the state database: one row per inflow, keyed by its signature.

    detected -> available -> claimed (an epoch spends it, reserves it or carries it)
             -> quarantined -> available (`fees release`)
                            -> rejected (`fees reject`: never spent; the next epoch reports it)

A receipt is never deleted: its signature stays, so no later detection (a rebase, a rebuild)
counts the same inflow again. Every lamport detected is claimed, quarantined, rejected or still
available: the accounting identity the tests check.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flywheel.domain.fees import FeeReceipt, ReceiptStatus, RejectedFee
from flywheel.persistence.connection import iso_utc
from flywheel.persistence.ownership import OwnershipRecords

FEE_CURSOR_KEY = "fee_cursor"
_RECEIPT_COLUMNS = "signature, lamports, slot, block_time, source"
_REJECTED = ReceiptStatus.REJECTED.value


class FeeReceipts(OwnershipRecords):
    """Fee receipts and the fee source's cursor."""

    def fee_cursor(self) -> str | None:
        return self.get_meta(FEE_CURSOR_KEY)

    def add_receipts(
        self, receipts: list[FeeReceipt], status: ReceiptStatus, new_cursor: str | None
    ) -> int:
        """Store the new receipts and move the cursor, together; how many were new.

        A receipt already stored (same signature) is left as it is. `new_cursor=None` leaves
        the cursor where it was.
        """
        if status is ReceiptStatus.CLAIMED:
            raise ValueError("receipts are claimed by an epoch, not added as claimed")
        detected_at = iso_utc(self._now())
        rows = [
            (r.signature, r.lamports, r.slot, r.block_time, r.source, status.value, detected_at)
            for r in receipts
        ]
        with self.transaction():
            added = self._many(
                "INSERT OR IGNORE INTO fee_receipts(signature, lamports, slot, block_time, "
                "source, status, epoch_id, detected_at) VALUES (?, ?, ?, ?, ?, ?, NULL, ?)",
                rows,
            )
            if new_cursor is not None:
                self.set_meta(FEE_CURSOR_KEY, new_cursor)
        return added

    def claim_available_receipts(self, epoch_id: str) -> list[FeeReceipt]:
        with self.transaction():
            claimed = self._receipts_where("status = ?", (ReceiptStatus.AVAILABLE.value,))
            self._run(
                "UPDATE fee_receipts SET status = ?, epoch_id = ? WHERE status = ?",
                (ReceiptStatus.CLAIMED.value, epoch_id, ReceiptStatus.AVAILABLE.value),
            )
        return claimed

    def receipts(self, status: ReceiptStatus | None = None) -> list[FeeReceipt]:
        if status is None:
            return self._receipts_where("1", ())
        return self._receipts_where("status = ?", (status.value,))

    def _receipts_where(self, where: str, params: Sequence[Any]) -> list[FeeReceipt]:
        rows = self._all(
            # `where` is always a literal of this module; values go through `params`
            f"SELECT {_RECEIPT_COLUMNS} FROM fee_receipts WHERE {where} ORDER BY slot, signature",  # noqa: S608
            params,
        )
        return [
            FeeReceipt(str(s), int(lam), int(slot), bt, str(src)) for s, lam, slot, bt, src in rows
        ]

    def release_receipt(self, signature: str) -> bool:
        """Quarantined -> available (an operator's decision); False if it was not quarantined."""
        changed = self._run(
            "UPDATE fee_receipts SET status = ? WHERE signature = ? AND status = ?",
            (ReceiptStatus.AVAILABLE.value, signature, ReceiptStatus.QUARANTINED.value),
        )
        return changed == 1

    def receipt_totals(self) -> dict[str, int]:
        """Lamports by receipt status, every status present."""
        totals = {status.value: 0 for status in ReceiptStatus}
        for status, lamports in self._all(
            "SELECT status, sum(lamports) FROM fee_receipts GROUP BY status"
        ):
            totals[str(status)] = int(lamports)
        return totals

    def reject_receipt(self, signature: str, reason: str) -> bool:
        """Quarantined -> rejected, with the operator's reason; False if it was not quarantined.

        Its epoch_id stays empty until an epoch reports it (`report_rejected_receipts`)."""
        if not reason.strip():
            raise ValueError("a rejection needs a reason")
        changed = self._run(
            "UPDATE fee_receipts SET status = ?, reason = ?, rejected_at = ? "
            "WHERE signature = ? AND status = ?",
            (
                _REJECTED,
                reason,
                iso_utc(self._now()),
                signature,
                ReceiptStatus.QUARANTINED.value,
            ),
        )
        return changed == 1

    def receipt_status(self, signature: str) -> ReceiptStatus | None:
        row = self._one("SELECT status FROM fee_receipts WHERE signature = ?", (signature,))
        return None if row is None else ReceiptStatus(str(row[0]))

    def rejected_receipts(self, *, unreported: bool = False) -> list[RejectedFee]:
        """Every rejected fee (or only those no epoch's report has shown yet), oldest first."""
        where = "status = ?" + (" AND epoch_id IS NULL" if unreported else "")
        rows = self._all(
            # `where` is built from literals of this method; values go through the parameters
            f"SELECT signature, lamports, reason FROM fee_receipts WHERE {where} "  # noqa: S608
            "ORDER BY rejected_at, signature",
            (_REJECTED,),
        )
        return [RejectedFee(str(s), int(lam), str(reason)) for s, lam, reason in rows]

    def report_rejected_receipts(self, epoch_id: str) -> list[RejectedFee]:
        """The rejections no report has shown yet, now `epoch_id`'s to report (once)."""
        with self.transaction():
            rejected = self.rejected_receipts(unreported=True)
            self._run(
                "UPDATE fee_receipts SET epoch_id = ? WHERE status = ? AND epoch_id IS NULL",
                (epoch_id, _REJECTED),
            )
        return rejected
