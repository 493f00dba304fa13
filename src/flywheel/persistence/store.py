"""The flywheel's durable state in one SQLite file: the `Store` port.

Every multi-row change is one transaction; the connection, durability and transaction rules
are `store_connection.SqliteDatabase`'s.

Simulate mode is just another file; nothing here knows about modes beyond the `mode` column.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from flywheel.domain.epoch_state import EpochMode, EpochState, EpochStatus, IntentRecord
from flywheel.domain.trade import PreparedTx, TxKind
from flywheel.errors import StateError
from flywheel.persistence.connection import iso_utc
from flywheel.persistence.receipts import FEE_CURSOR_KEY, FeeReceipts

__all__ = ["FEE_CURSOR_KEY", "AdsEntry", "SqliteStore", "StepRecord", "StoredIntent"]
ADS_KINDS: tuple[str, ...] = ("accrued", "committed", "spent", "released")
_INTENT_COLUMNS = "epoch_id, kind, signature, raw, last_valid_block_height, record"
_INTENT_COLUMNS += ", created_at, updated_at"


@dataclass(frozen=True)
class StepRecord:
    epoch_id: str
    step: str
    status: str
    detail: str
    at: datetime


@dataclass(frozen=True)
class StoredIntent:
    """A journaled transaction and what is known about its landing."""

    epoch_id: str
    tx: PreparedTx
    record: IntentRecord
    created_at: datetime
    updated_at: datetime

    @property
    def status(self) -> str:
        return self.record.status


@dataclass(frozen=True)
class AdsEntry:
    id: int
    epoch_id: str
    kind: str  # one of ADS_KINDS
    micro_usd: int
    lamports: int
    campaign_id: str | None
    note: str
    at: datetime


class SqliteStore(FeeReceipts):
    """The `Store` port on SQLite. Build it with `SqliteStore.open(path)`.

    Fee receipts are `FeeReceipts`'; meta keys, own addresses and internal transfers are
    `OwnershipRecords`'.
    """

    # --- epochs and steps ------------------------------------------------------------------

    def _epoch_from(self, epoch_id: str, text: str) -> EpochState:
        try:
            return EpochState.model_validate_json(text)
        except ValidationError as exc:
            raise StateError(
                f"epoch {epoch_id} in state database {self._path} cannot be read: "
                f"{exc.error_count()} invalid field(s)"
            ) from exc

    def _epochs_where(self, tail: str, params: Sequence[Any]) -> list[EpochState]:
        rows = self._all(f"SELECT id, state FROM epochs {tail}", params)  # noqa: S608
        return [self._epoch_from(str(eid), str(text)) for eid, text in rows]

    def save_epoch(self, state: EpochState) -> None:
        finished_at = None if state.finished_at is None else iso_utc(state.finished_at)
        with self.transaction():
            if state.status is EpochStatus.RUNNING:
                other = self._one(
                    "SELECT id FROM epochs WHERE mode = ? AND status = ? AND id != ?",
                    (state.mode.value, EpochStatus.RUNNING.value, state.id),
                )
                if other is not None:
                    raise StateError(
                        f"epoch {state.id} cannot run: epoch {other[0]} ({state.mode.value}) "
                        "is still running"
                    )
            existing = self._one("SELECT mode FROM epochs WHERE id = ?", (state.id,))
            if existing is not None and existing[0] != state.mode.value:
                raise StateError(f"epoch {state.id} is a {existing[0]} epoch, not {state.mode}")
            self._run(
                "INSERT INTO epochs(id, mode, status, started_at, finished_at, state, seq) "
                "VALUES (?, ?, ?, ?, ?, ?, (SELECT coalesce(max(seq), 0) + 1 FROM epochs)) "
                "ON CONFLICT(id) DO UPDATE SET "
                "status = excluded.status, finished_at = excluded.finished_at, "
                "state = excluded.state",
                (
                    state.id,
                    state.mode.value,
                    state.status.value,
                    iso_utc(state.started_at),
                    finished_at,
                    state.model_dump_json(),
                ),
            )

    def epoch(self, epoch_id: str) -> EpochState | None:
        found = self._epochs_where("WHERE id = ?", (epoch_id,))
        return found[0] if found else None

    def unfinished_epoch(self, mode: EpochMode) -> EpochState | None:
        found = self._epochs_where(
            "WHERE mode = ? AND status = ?", (mode.value, EpochStatus.RUNNING.value)
        )
        return found[0] if found else None

    def last_finished_epoch(self, mode: EpochMode) -> EpochState | None:
        found = self._epochs_where(
            "WHERE mode = ? AND status != ? ORDER BY seq DESC LIMIT 1",
            (mode.value, EpochStatus.RUNNING.value),
        )
        return found[0] if found else None

    def carried_lamports(self, mode: EpochMode) -> int:
        last = self.last_finished_epoch(mode)
        return 0 if last is None else last.carried_out_lamports

    def epochs(self, limit: int = 20) -> Iterator[EpochState]:
        """The latest `limit` epochs, newest first."""
        return iter(self._epochs_where("ORDER BY seq DESC LIMIT ?", (limit,)))

    def record_step(self, epoch_id: str, step: str, status: str, detail: str = "") -> None:
        self._run(
            "INSERT INTO epoch_steps(epoch_id, step, status, detail, at) VALUES (?, ?, ?, ?, ?)",
            (epoch_id, step, status, detail, iso_utc(self._now())),
        )

    def steps_of(self, epoch_id: str) -> list[StepRecord]:
        rows = self._all(
            "SELECT step, status, detail, at FROM epoch_steps WHERE epoch_id = ? ORDER BY id",
            (epoch_id,),
        )
        return [
            StepRecord(epoch_id, str(s), str(st), str(d), datetime.fromisoformat(at))
            for s, st, d, at in rows
        ]

    # --- transaction intents -----------------------------------------------------------------

    def add_intent(self, epoch_id: str, tx: PreparedTx) -> None:
        """Journal a signed transaction before it is sent. Adding the same one again is a no-op."""
        record = IntentRecord(
            kind=tx.kind.value,
            signature=tx.signature,
            last_valid_block_height=tx.last_valid_block_height,
            min_slot=tx.min_slot,
        )
        now = iso_utc(self._now())
        with self.transaction():
            added = self._run(
                "INSERT INTO intents(signature, epoch_id, kind, raw, last_valid_block_height, "
                "status, record, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(signature) DO NOTHING",
                (
                    tx.signature,
                    epoch_id,
                    tx.kind.value,
                    tx.raw,
                    tx.last_valid_block_height,
                    record.status,
                    record.model_dump_json(),
                    now,
                    now,
                ),
            )
            if not added:
                row = self._one(
                    "SELECT epoch_id, raw FROM intents WHERE signature = ?", (tx.signature,)
                )
                if row is None or row[0] != epoch_id or bytes(row[1]) != tx.raw:
                    raise StateError(
                        f"intent {tx.signature} is already journaled with other contents"
                    )

    def update_intent(self, signature: str, record: IntentRecord) -> None:
        if record.signature != signature:
            raise ValueError(f"record is for {record.signature}, not {signature}")
        changed = self._run(
            "UPDATE intents SET status = ?, record = ?, updated_at = ? WHERE signature = ?",
            (record.status, record.model_dump_json(), iso_utc(self._now()), signature),
        )
        if not changed:
            raise StateError(f"no intent {signature} in state database {self._path}")

    def _intents_where(self, where: str, params: Sequence[Any]) -> list[StoredIntent]:
        rows = self._all(
            f"SELECT {_INTENT_COLUMNS} FROM intents WHERE {where} ORDER BY created_at, rowid",  # noqa: S608
            params,
        )
        stored = []
        for epoch_id, kind, sig, raw, height, record_json, created, updated in rows:
            record = IntentRecord.model_validate_json(record_json)
            stored.append(
                StoredIntent(
                    epoch_id=str(epoch_id),
                    tx=PreparedTx(TxKind(kind), str(sig), bytes(raw), int(height), record.min_slot),
                    record=record,
                    created_at=datetime.fromisoformat(created),
                    updated_at=datetime.fromisoformat(updated),
                )
            )
        return stored

    def pending_intents(self) -> list[tuple[str, PreparedTx]]:
        """(epoch id, transaction) for every intent not yet known to have landed or expired."""
        return [(i.epoch_id, i.tx) for i in self._intents_where("status = ?", ("pending",))]

    def intents_of(self, epoch_id: str) -> list[StoredIntent]:
        return self._intents_where("epoch_id = ?", (epoch_id,))

    def intent_records(self, epoch_id: str) -> list[IntentRecord]:
        return [intent.record for intent in self.intents_of(epoch_id)]

    # --- circuit breaker --------------------------------------------------------------------

    def breaker_state(self) -> str | None:
        row = self._one("SELECT state FROM circuit_breaker WHERE id = 1")
        return None if row is None else str(row[0])

    def save_breaker_state(self, json: str) -> None:
        self._run(
            "INSERT INTO circuit_breaker(id, state, updated_at) VALUES (1, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET state = excluded.state, "
            "updated_at = excluded.updated_at",
            (json, iso_utc(self._now())),
        )

    # --- ads ledger -------------------------------------------------------------------------

    def add_ads_entry(
        self,
        epoch_id: str,
        kind: str,
        micro_usd: int,
        lamports: int,
        campaign_id: str | None = None,
        note: str = "",
    ) -> int:
        """Append to the ads ledger; the entry's id."""
        if kind not in ADS_KINDS:
            raise ValueError(f"ads ledger kind must be one of {', '.join(ADS_KINDS)}, not {kind!r}")
        with self._lock:
            self._run(
                "INSERT INTO ads_ledger(epoch_id, kind, micro_usd, lamports, campaign_id, note, "
                "at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (epoch_id, kind, micro_usd, lamports, campaign_id, note, iso_utc(self._now())),
            )
            row = self._one("SELECT last_insert_rowid()")
        assert row is not None
        return int(row[0])

    def ads_balance(self) -> dict[str, int]:
        """Micro-USD totals by ledger kind, every kind present."""
        totals = dict.fromkeys(ADS_KINDS, 0)
        for kind, micro_usd in self._all(
            "SELECT kind, sum(micro_usd) FROM ads_ledger GROUP BY kind"
        ):
            totals[str(kind)] = int(micro_usd)
        return totals

    def ads_reserve_in_executor_lamports(self) -> int:
        """SOL the ads ledger accrued and that is still in the executor (no ads treasury
        transfer of that epoch confirmed): not the allocation's to spend."""
        row = self._one(
            "SELECT coalesce(sum(a.lamports), 0) FROM ads_ledger a WHERE a.kind = 'accrued' "
            "AND NOT EXISTS (SELECT 1 FROM intents i WHERE i.epoch_id = a.epoch_id "
            "AND i.kind = 'ads-transfer' AND i.status = 'confirmed')"
        )
        return 0 if row is None else int(row[0])

    def ads_available_micro_usd(self) -> int:
        """Accrued and not committed to a campaign (released commitments count again)."""
        totals = self.ads_balance()
        return totals["accrued"] - totals["committed"] + totals["released"]

    def has_ads_entry(self, epoch_id: str, kind: str) -> bool:
        row = self._one(
            "SELECT 1 FROM ads_ledger WHERE epoch_id = ? AND kind = ? LIMIT 1", (epoch_id, kind)
        )
        return row is not None

    def ads_entries(self, epoch_id: str | None = None) -> list[AdsEntry]:
        sql = (
            "SELECT id, epoch_id, kind, micro_usd, lamports, campaign_id, note, at FROM ads_ledger"
        )
        rows = (
            self._all(sql + " ORDER BY id")
            if epoch_id is None
            else self._all(sql + " WHERE epoch_id = ? ORDER BY id", (epoch_id,))
        )
        return [
            AdsEntry(
                int(i), str(e), str(k), int(m), int(lam), c, str(n), datetime.fromisoformat(at)
            )
            for i, e, k, m, lam, c, n, at in rows
        ]
