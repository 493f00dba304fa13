"""Commands about money at rest: `fetch-fees`, `fees release|reject|rebase`, `snapshot`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from flywheel.commands.common import EnvFile, console, load_settings
from flywheel.commands.quarantine_cmd import reject, release
from flywheel.config.settings import Settings
from flywheel.domain.epoch_state import EpochMode
from flywheel.domain.fees import FeeReceipt, ReceiptStatus, RejectedFee
from flywheel.domain.money import format_sol, format_usd
from flywheel.errors import ConfigError, OperationalError
from flywheel.persistence.store import FEE_CURSOR_KEY, SqliteStore
from flywheel.reports.snapshot import SnapshotReport


def register(app: typer.Typer) -> None:
    app.command("fetch-fees")(fetch_fees)
    app.command("snapshot")(snapshot)
    fees = typer.Typer(
        name="fees",
        help="Review quarantined fees; move the state to a new fee collector.",
        no_args_is_help=True,
    )
    fees.command("release")(release)
    fees.command("reject")(reject)
    fees.command("rebase")(rebase)
    app.add_typer(fees, name="fees")


def fetch_fees(env_file: EnvFile = None) -> None:
    """What has arrived and not yet been spent: carried, detected, new and quarantined fees.

    Changes nothing: the state database is only read, the chain only queried. SOL the
    flywheel's own wallets moved into the collector (a sweep) is listed apart: never a fee.
    """
    from flywheel.compose import bind_state, open_fee_reader

    settings = load_settings(env_file)
    held = _Held()
    own: frozenset[str] = frozenset()
    if settings.state_db_path.exists():
        with SqliteStore.open(settings.state_db_path) as store:
            own = bind_state(settings, store, settings.executor_pubkey(), write=False)
            held = _Held.read(store)

    async def read_chain() -> tuple[int, list[FeeReceipt], list[FeeReceipt]]:
        async with open_fee_reader(settings, own) as (rpc, fee_source):
            balance = await rpc.get_balance(settings.fee_collector_pubkey)
            batch = await fee_source.fetch_new(held.cursor)
            return balance, batch.receipts, batch.internal

    balance, new, new_internal = asyncio.run(read_chain())
    internal = [*held.internal, *new_internal]
    out = console()
    out.print(_fees_table(settings, held, balance, new, internal))
    _print_fee_notes(out, settings, held, internal)


def _fees_table(
    settings: Settings,
    held: _Held,
    balance: int,
    new: list[FeeReceipt],
    internal: list[FeeReceipt],
) -> Table:
    table = Table(title=f"Fees of {settings.fee_collector_pubkey}", title_justify="left")
    table.add_column("what", no_wrap=True)
    table.add_column("SOL", justify="right")
    table.add_column("count", justify="right")
    table.add_row("fee collector balance", format_sol(balance), "")
    table.add_row("carried from the last epoch", format_sol(held.carried), "")
    if held.epoch_id is not None:
        table.add_row(f"held by interrupted epoch {held.epoch_id}", format_sol(held.in_epoch), "")
    table.add_row("detected, not yet in an epoch", _sum(held.detected), str(len(held.detected)))
    table.add_row("new since the last detection", _sum(new), str(len(new)))
    table.add_row(
        Text("unspent in total", style="bold"),
        format_sol(held.total + sum(r.lamports for r in new)),
        "",
    )
    table.add_row(
        Text("quarantined (not spent)", style="yellow"),
        _sum(held.quarantined),
        str(len(held.quarantined)),
    )
    table.add_row(
        Text("rejected by the operator (never spent)", style="dim"),
        format_sol(sum(r.lamports for r in held.rejected)),
        str(len(held.rejected)),
    )
    table.add_row(
        Text("internal transfers (own wallets, never fees)", style="dim"),
        _sum(internal),
        str(len(internal)),
    )
    return table


def _print_fee_notes(
    out: Console, settings: Settings, held: _Held, internal: list[FeeReceipt]
) -> None:
    """What the table cannot say: a missing wallet source, no detection yet, each held item."""
    if "wallet" not in settings.fee_sources:
        out.print(
            "FEE_SOURCES has no wallet: SOL sent to the fee collector is not counted as fees;"
            " claim sources are claimed by `flywheel epoch` (docs/fee-sources.md)."
        )
    if held.cursor is None and settings.fee_start == "now":
        out.print("No detection has run yet: with FEE_START=now, fees count from the first epoch.")
    for receipt in held.quarantined:
        out.print(
            Text(
                f"quarantined {receipt.signature}: {format_sol(receipt.lamports)}"
                f" from {receipt.source or '?'}"
            )
        )
    for rejected in held.rejected:
        out.print(
            Text(
                f"rejected {rejected.signature}: {format_sol(rejected.lamports)}"
                f" ({rejected.reason})"
            )
        )
    for transfer in internal:
        out.print(
            Text(
                f"internal {transfer.signature}: {format_sol(transfer.lamports)}"
                f" from {transfer.source or '?'} (own wallet)"
            )
        )


@dataclass
class _Held:
    """What the state database holds that has not been spent yet."""

    carried: int = 0
    detected: list[FeeReceipt] = field(default_factory=list)
    quarantined: list[FeeReceipt] = field(default_factory=list)
    rejected: list[RejectedFee] = field(default_factory=list)
    internal: list[FeeReceipt] = field(default_factory=list)
    cursor: str | None = None
    epoch_id: str | None = None  # an interrupted epoch, holding what it claimed
    in_epoch: int = 0

    @classmethod
    def read(cls, store: SqliteStore) -> _Held:
        held = cls(
            carried=store.carried_lamports(EpochMode.LIVE),
            detected=store.receipts(ReceiptStatus.AVAILABLE),
            quarantined=store.receipts(ReceiptStatus.QUARANTINED),
            rejected=store.rejected_receipts(),
            internal=store.internal_transfers(),
            cursor=store.fee_cursor(),
        )
        running = store.unfinished_epoch(EpochMode.LIVE)
        if running is not None:
            # It carried in what the last epoch left: count that once, in its row.
            held.epoch_id = running.id
            held.in_epoch = running.carried_out_lamports
            held.carried = 0
        return held

    @property
    def total(self) -> int:
        return self.carried + self.in_epoch + sum(r.lamports for r in self.detected)


def rebase(
    start: Annotated[
        str,
        typer.Option(
            "--from",
            help="now: count only fees arriving from now on; all: the collector's whole history",
        ),
    ],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    env_file: EnvFile = None,
) -> None:
    """Bind the state to the configured FEE_COLLECTOR_PUBKEY and TOKEN_MINT.

    For a deliberate change of fee collector (not a key rotation: `flywheel wallet sweep`
    moves the state itself). Fees already detected, carried and the ads ledger stay; the fee
    cursor starts again at the new collector, from now or from the beginning of its history.
    """
    if start not in ("now", "all"):
        raise ConfigError([f"--from must be now or all (got '{start}')"])
    settings = load_settings(env_file)
    if not settings.state_db_path.exists():
        raise OperationalError(
            f"there is no state database at {settings.state_db_path}: nothing to rebase"
            " (the first epoch binds the state to the configured wallets)"
        )
    asyncio.run(_rebase(settings, start, yes))


async def _rebase(settings: Settings, start: str, yes: bool) -> None:
    from flywheel.compose import rpc_client
    from flywheel.service.epoch_lock import epoch_lock, lock_path_for
    from flywheel.solana.sweep import newest_signature

    collector = settings.fee_collector_pubkey
    out = console()
    with (
        epoch_lock(lock_path_for(settings.state_db_path)),
        SqliteStore.open(settings.state_db_path) as store,
    ):
        if store.unfinished_epoch(EpochMode.LIVE) is not None:
            raise OperationalError(
                "an epoch is unfinished: run `flywheel epoch` to finish it, then rebase"
            )
        async with rpc_client(settings) as rpc:
            cursor = await newest_signature(rpc, collector)
            history = len(await rpc.get_signatures_for_address(collector, limit=1000))
        cursor_text, plan = _rebase_plan(str(collector), start, cursor, history)
        out.print(
            Text(
                f"The state is bound to fee collector {store.bound_collector()} and token"
                f" {store.bound_mint()}; it will be bound to {collector} and"
                f" {settings.token_mint}. {plan} Detected, carried and quarantined fees and"
                " the ads ledger stay as they are."
            )
        )
        if not yes and not typer.confirm("Rebase the state?", default=False):
            out.print("Nothing was changed.")
            raise typer.Exit(1)
        owed = store.collect_owed_lamports()
        old = store.bound_collector()
        moved = old != str(collector)
        with store.transaction():
            store.bind(collector=str(collector), mint=str(settings.token_mint))
            store.set_meta(FEE_CURSOR_KEY, cursor_text)
            if moved and owed:
                # The new collector's key cannot collect what the old collector holds.
                store.set_collect_owed_lamports(0)
    out.print(Text(f"Rebased: fee cursor {cursor_text}."))
    if moved and owed:
        out.print(
            Text(
                f"{format_sol(owed)} of fees detected at {old} were never"
                " collected into the executor: move them from the old collector by hand.",
                style="yellow",
            )
        )


def _rebase_plan(collector: str, start: str, cursor: str, history: int) -> tuple[str, str]:
    """The new fee cursor and the sentence telling the operator what it means."""
    from flywheel.solana.fee_source import START_OF_HISTORY

    more = "+" if history == 1000 else ""
    if start == "now":
        return cursor, (
            f"Fees at {collector} will count from now on: its {history}{more} earlier"
            " transaction(s) are not counted."
        )
    return START_OF_HISTORY, (
        f"Every one of {collector}'s {history}{more} transaction(s) will be examined"
        " by the next epoch: each inflow from outside the flywheel's wallets counts as"
        " a fee."
    )


def snapshot(env_file: EnvFile = None) -> None:
    """Balances of the executor, fee collector and treasuries, with USD values, to a report."""
    from flywheel.compose import open_flywheel

    settings = load_settings(env_file)

    async def take() -> tuple[SnapshotReport, Path]:
        async with open_flywheel(settings) as flywheel:
            return await flywheel.snapshot()

    report, path = asyncio.run(take())
    _print_snapshot(report, str(path))


def _print_snapshot(report: SnapshotReport, path: str) -> None:
    table = Table(title=f"Snapshot {report.taken_at:%Y-%m-%d %H:%M:%S}Z", title_justify="left")
    for column in ("wallet", "address", "SOL", "tokens (base units)", "USD"):
        table.add_column(column, justify="right" if column in {"SOL", "USD"} else "left")
    for wallet in report.wallets:
        usd = "-" if wallet.usd_value_micro is None else format_usd(wallet.usd_value_micro)
        table.add_row(
            wallet.role.value,
            wallet.pubkey,
            format_sol(wallet.sol_lamports),
            str(wallet.token_amount),
            usd,
        )
    out = console()
    out.print(table)
    out.print(Text(f"written to {path}"))


def _sum(receipts: list[FeeReceipt]) -> str:
    return format_sol(sum(r.lamports for r in receipts))
