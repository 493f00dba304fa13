"""What the state database knows about the flywheel's own wallets.

- Own addresses: every address the flywheel has controlled (executors past and present, the
  fee collector, treasuries). A SOL transfer signed by one of them is the flywheel moving its
  own money (a key rotation's sweep, the collect step), never a fee.
- Internal transfers: such transfers found at the fee collector, kept so fetch-fees and the
  report can show them and so they are never counted twice.
- The binding: the fee collector and the token mint the state belongs to, recorded on first
  use. Fee receipts, the cursor and the carried amounts only mean something for those two.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from flywheel.domain.fees import FeeReceipt
from flywheel.persistence.connection import SqliteDatabase, iso_utc

BOUND_COLLECTOR_KEY = "bound.fee_collector"
BOUND_MINT_KEY = "bound.token_mint"
COLLECT_OWED_KEY = "collect.owed_lamports"
SWEEP_JOURNAL_KEY = "wallet.sweep"  # the sweep's own journal (solana/sweep.py), outside epochs


@dataclass(frozen=True)
class OwnAddress:
    address: str
    role: str  # executor | fee_collector | treasury | ads_treasury | ...
    first_seen: str


class OwnershipRecords(SqliteDatabase):
    """Own addresses, internal transfers and the wallet binding (meta keys)."""

    # --- meta (the binding lives there) ---------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._run(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def delete_meta(self, key: str) -> None:
        self._run("DELETE FROM meta WHERE key = ?", (key,))

    def bound_collector(self) -> str | None:
        return self.get_meta(BOUND_COLLECTOR_KEY)

    def bound_mint(self) -> str | None:
        return self.get_meta(BOUND_MINT_KEY)

    def bind(self, *, collector: str | None = None, mint: str | None = None) -> None:
        with self.transaction():
            if collector is not None:
                self.set_meta(BOUND_COLLECTOR_KEY, collector)
                self.add_own_address(collector, "fee_collector")
            if mint is not None:
                self.set_meta(BOUND_MINT_KEY, mint)

    # --- own addresses --------------------------------------------------------------------

    def add_own_address(self, address: str, role: str) -> bool:
        """Remember that the flywheel controls `address` (as `role`); True if it was new."""
        added = self._run(
            "INSERT OR IGNORE INTO own_addresses(address, role, first_seen) VALUES (?, ?, ?)",
            (address, role, iso_utc(self._now())),
        )
        return added == 1

    def own_addresses(self) -> list[OwnAddress]:
        rows = self._all(
            "SELECT address, role, first_seen FROM own_addresses ORDER BY first_seen, rowid"
        )
        return [OwnAddress(str(a), str(r), str(f)) for a, r, f in rows]

    # --- what the intent journal knows (for the chain check) --------------------------------

    def intent_status(self, signature: str) -> str | None:
        row = self._one("SELECT status FROM intents WHERE signature = ?", (signature,))
        return None if row is None else str(row[0])

    def intent_signatures(self, kind: str | None = None) -> set[str]:
        rows = (
            self._all("SELECT signature FROM intents")
            if kind is None
            else self._all("SELECT signature FROM intents WHERE kind = ?", (kind,))
        )
        return {str(r[0]) for r in rows}

    def known_flywheel_signatures(self) -> set[str]:
        """Every transaction this database journaled: the epochs' intents and the sweeps'.
        The start-up check compares the executor's state memos on chain with these."""
        known = self.intent_signatures()
        try:
            sweep = json.loads(self.get_meta(SWEEP_JOURNAL_KEY) or "{}")
            known |= {str(i["signature"]) for i in sweep.get("intents", [])}
        except (ValueError, TypeError, KeyError, AttributeError):
            pass  # an unreadable sweep journal stops the sweep itself, with its own message
        return known

    # --- the collect step's debt: detected at the collector, not yet in the executor -------

    def collect_owed_lamports(self) -> int:
        return int(self.get_meta(COLLECT_OWED_KEY) or 0)

    def set_collect_owed_lamports(self, lamports: int) -> None:
        self.set_meta(COLLECT_OWED_KEY, str(lamports))

    # --- internal transfers ---------------------------------------------------------------

    def add_internal_transfers(self, transfers: list[FeeReceipt], epoch_id: str | None) -> int:
        rows = [
            (t.signature, t.lamports, t.slot, t.source, epoch_id, iso_utc(self._now()))
            for t in transfers
        ]
        return self._many(
            "INSERT OR IGNORE INTO internal_transfers(signature, lamports, slot, source, "
            "epoch_id, detected_at) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )

    def internal_transfers(self) -> list[FeeReceipt]:
        rows = self._all(
            "SELECT signature, lamports, slot, source FROM internal_transfers ORDER BY slot"
        )
        return [
            FeeReceipt(str(s), int(lam), int(slot), None, str(src)) for s, lam, slot, src in rows
        ]


def binding_problems(
    store: OwnershipRecords, *, collector: str, mint: str, bind: bool = True
) -> list[str]:
    """Why the configured wallets do not match the state's (empty: they do, or first use).

    On first use the state is bound to `collector` and `mint`. A database that already belongs
    to another collector or mint is refused: its receipts, cursor and carried amounts are
    about that wallet, and a new collector's history would otherwise all be counted as fees.
    """
    bound_collector, bound_mint = store.bound_collector(), store.bound_mint()
    if bind and (bound_collector is None or bound_mint is None):
        store.bind(
            collector=collector if bound_collector is None else None,
            mint=mint if bound_mint is None else None,
        )
    problems: list[str] = []
    if bound_collector not in (None, collector):
        problems.append(
            f"FEE_COLLECTOR_PUBKEY is {collector}, but state database {store.path} belongs to"
            f" fee collector {bound_collector}. After a key rotation, `flywheel wallet sweep"
            " --to NEW_PUBKEY` moves the state to the new wallet (runbook: Key Rotation);"
            " to count fees at the new collector run `flywheel fees rebase --from now`"
            " (nothing older counts) or `--from all` (its whole history counts); or set"
            f" FEE_COLLECTOR_PUBKEY={bound_collector} again"
        )
    if bound_mint not in (None, mint):
        problems.append(
            f"TOKEN_MINT is {mint}, but state database {store.path} belongs to token mint"
            f" {bound_mint}: set TOKEN_MINT={bound_mint} again, use a new STATE_DB_PATH for"
            " another token, or run `flywheel fees rebase --from now` to move this state to it"
        )
    return problems


def record_own_addresses(store: OwnershipRecords, roles: dict[str, str | None]) -> frozenset[str]:
    """Remember the configured wallets (role -> address); every own address known."""
    with store.transaction():
        for role, address in roles.items():
            if address is not None:
                store.add_own_address(address, role)
    return frozenset(a.address for a in store.own_addresses())
