"""Read-only commands about money at rest: `fetch-fees`, `fees release`, `snapshot`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from flywheel.commands.common import EnvFile, console, load_settings
from flywheel.domain.epoch_state import EpochMode
from flywheel.domain.fees import FeeReceipt, ReceiptStatus
from flywheel.domain.money import format_sol, format_usd
from flywheel.errors import OperationalError
from flywheel.persistence.store import SqliteStore
from flywheel.reports.snapshot import SnapshotReport


def register(app: typer.Typer) -> None:
    app.command("fetch-fees")(fetch_fees)
    app.command("snapshot")(snapshot)
    fees = typer.Typer(name="fees", help="Review quarantined fees.", no_args_is_help=True)
    fees.command("release")(release)
    app.add_typer(fees, name="fees")


def fetch_fees(env_file: EnvFile = None) -> None:
    """What has arrived and not yet been spent: carried, detected, new and quarantined fees.

    Changes nothing: the state database is only read, the chain only queried.
    """
    from flywheel.compose import open_fee_reader

    settings = load_settings(env_file)
    carried, detected, quarantined, cursor = 0, [], [], None
    if settings.state_db_path.exists():
        with SqliteStore.open(settings.state_db_path) as store:
            carried = store.carried_lamports(EpochMode.LIVE)
            detected = store.receipts(ReceiptStatus.AVAILABLE)
            quarantined = store.receipts(ReceiptStatus.QUARANTINED)
            cursor = store.fee_cursor()

    async def read_chain() -> tuple[int, list[FeeReceipt]]:
        async with open_fee_reader(settings) as (rpc, fee_source):
            balance = await rpc.get_balance(settings.fee_collector_pubkey)
            batch = await fee_source.fetch_new(cursor)
            return balance, batch.receipts

    balance, new = asyncio.run(read_chain())
    table = Table(title=f"Fees of {settings.fee_collector_pubkey}", title_justify="left")
    table.add_column("what", no_wrap=True)
    table.add_column("SOL", justify="right")
    table.add_column("count", justify="right")
    table.add_row("fee collector balance", format_sol(balance), "")
    table.add_row("carried from the last epoch", format_sol(carried), "")
    table.add_row("detected, not yet in an epoch", _sum(detected), str(len(detected)))
    table.add_row("new since the last detection", _sum(new), str(len(new)))
    table.add_row(
        Text("unspent in total", style="bold"),
        format_sol(carried + sum(r.lamports for r in [*detected, *new])),
        "",
    )
    table.add_row(
        Text("quarantined (not spent)", style="yellow"), _sum(quarantined), str(len(quarantined))
    )
    out = console()
    out.print(table)
    if cursor is None and settings.fee_start == "now":
        out.print("No detection has run yet: with FEE_START=now, fees count from the first epoch.")
    for receipt in quarantined:
        out.print(
            Text(
                f"quarantined {receipt.signature}: {format_sol(receipt.lamports)}"
                f" from {receipt.source or '?'}"
            )
        )


def release(
    signature: Annotated[
        str | None, typer.Argument(help="The quarantined fee's transaction signature.")
    ] = None,
    release_all: Annotated[
        bool, typer.Option("--all", help="Release every quarantined fee (after reviewing them).")
    ] = False,
    env_file: EnvFile = None,
) -> None:
    """Release a quarantined fee after review: the next epoch spends it like any other."""
    if (signature is None) == (not release_all):
        raise typer.BadParameter("give one SIGNATURE, or --all (not both)", param_hint="SIGNATURE")
    settings = load_settings(env_file)
    if not settings.state_db_path.exists():
        # Opening the store would create an empty state database: a review changes nothing.
        what = (
            "there is no quarantined fee"
            if signature is None
            else (f"{signature} is not a quarantined fee")
        )
        raise OperationalError(
            f"{what}: there is no state database at {settings.state_db_path} yet (no epoch has run)"
        )
    with SqliteStore.open(settings.state_db_path) as store:
        if signature is None:
            chosen = [r.signature for r in store.receipts(ReceiptStatus.QUARANTINED)]
            released = [s for s in chosen if store.release_receipt(s)]
            if not released:
                console().print("no quarantined fee to release")
                return
        elif store.release_receipt(signature):
            released = [signature]
        else:
            raise OperationalError(
                f"{signature} is not a quarantined fee; `flywheel fetch-fees` lists them"
            )
    for done in released:
        console().print(f"released {done}: the next epoch will spend it")


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
