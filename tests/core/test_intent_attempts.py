"""Re-sign attempts are counted in the state, so a restart does not hand out fresh ones."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from flywheel.domain.epoch_state import EpochMode, EpochState
from flywheel.domain.trade import Destination, PreparedTx
from flywheel.errors import OperationalError
from flywheel.intent_journal import IntentJournal
from flywheel.persistence.store import SqliteStore
from tests.core.fakes import Ledger, LedgerWallet


async def test_settle_attempts_survive_a_restart(tmp_path: Path) -> None:
    ledger = Ledger(executor_tokens=500, expire_next_sends=1)
    db = tmp_path / "state.sqlite"
    prepared: list[PreparedTx] = []

    async def prepare(wallet: LedgerWallet) -> PreparedTx:
        tx = await wallet.prepare_settle(500, Destination.BURN)
        prepared.append(tx)
        return tx

    with SqliteStore.open(db) as store:
        state = EpochState(id="e1", mode=EpochMode.LIVE, started_at=datetime.now(UTC))
        store.save_epoch(state)
        wallet = LedgerWallet(ledger)
        journal = IntentJournal(store, wallet)
        record = await journal.land_once(
            state, "settle", lambda: prepare(wallet), max_attempts=3, what="burn", then="later"
        )
        assert record.status == "confirmed" and len(prepared) == 2  # one expired, one landed

    # Another process: the count comes from the state database, not from a local counter.
    with SqliteStore.open(db) as store:
        resumed = store.unfinished_epoch(EpochMode.LIVE)
        assert resumed is not None and resumed.settle_attempts == 2
        assert resumed.settle_intent is not None
        expired = resumed.settle_intent.model_copy(update={"status": "expired"})
        resumed.settle_intent = expired  # as if the landed one had been an expiry too
        wallet = LedgerWallet(ledger)
        journal = IntentJournal(store, wallet)
        with pytest.raises(OperationalError, match="failed 2 times"):
            await journal.land_once(
                resumed, "settle", lambda: prepare(wallet), max_attempts=2, what="burn", then="x"
            )
    assert len(prepared) == 2, "nothing new was signed after the limit"
