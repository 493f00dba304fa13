"""`flywheel state backup | verify | rebuild`: the state database's backup and recovery."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from flywheel.commands.common import EnvFile, console, load_settings
from flywheel.config.settings import Settings
from flywheel.domain.money import format_sol, format_usd
from flywheel.errors import OperationalError

if TYPE_CHECKING:
    from flywheel.solana.chain_state import ExecutorHistory


def register(app: typer.Typer) -> None:
    state = typer.Typer(
        name="state", help="Back up, verify and rebuild the state database.", no_args_is_help=True
    )
    state.command("backup")(backup)
    state.command("verify")(verify)
    state.command("rebuild")(rebuild)
    app.add_typer(state, name="state")


def backup(
    path: Annotated[Path, typer.Argument(help="Where to write the copy (must not exist).")],
    env_file: EnvFile = None,
) -> None:
    """A consistent copy of the state database (safe while the service runs), mode 0600."""
    from flywheel.persistence.backup import backup_database

    settings = load_settings(env_file)
    epochs = backup_database(settings.state_db_path, path)
    console().print(Text(f"Backed up {settings.state_db_path} to {path} ({epochs} epochs)."))


def verify(env_file: EnvFile = None) -> None:
    """Compare the executor's recent anchors on chain with the state database.

    Exit 1, with what to run, when the chain holds a flywheel state the database does not
    know (a restored backup older than the chain, or another flywheel on this executor)."""
    settings = load_settings(env_file)
    if not settings.state_db_path.exists():
        raise OperationalError(
            f"there is no state database at {settings.state_db_path}; to recover one from the"
            " chain run `flywheel state rebuild`"
        )
    history = asyncio.run(_verify(settings))
    newest = history.newest
    out = console()
    if newest is None:
        out.print(Text(f"No anchor among the executor's last {history.scanned} transactions."))
        return
    out.print(
        Text(
            f"The state database knows all {len(history.anchors)} anchor(s) of the executor's"
            f" last {history.scanned} transactions; newest: epoch {newest.anchor.epoch_id}"
            f" ({newest.signature})."
        )
    )


async def _verify(settings: Settings) -> ExecutorHistory:
    from flywheel.compose import rpc_client
    from flywheel.persistence.store import SqliteStore
    from flywheel.solana.chain_state import check_state_against_chain

    with SqliteStore.open(settings.state_db_path) as store:
        async with rpc_client(settings) as rpc:
            return await check_state_against_chain(store, rpc, settings.executor_pubkey())


def rebuild(
    replace: Annotated[
        bool,
        typer.Option("--replace", help="Move an existing state database aside first."),
    ] = False,
    env_file: EnvFile = None,
) -> None:
    """Rebuild the state database from the chain alone: the executor's newest anchor.

    Fee cursor, carried lamports, ads budget and unsettled tokens come from the anchor; fees
    after its cursor are detected again by the next epoch (they were carried, never spent)."""
    from flywheel.service.epoch_lock import epoch_lock, lock_path_for

    settings = load_settings(env_file)
    path = settings.state_db_path
    if path.exists() and not replace:
        raise OperationalError(
            f"state database {path} exists: `flywheel state rebuild --replace` moves it aside"
            " and rebuilds (or `flywheel state verify` to compare it with the chain first)"
        )
    with epoch_lock(lock_path_for(path)):
        asyncio.run(_rebuild(settings))


async def _rebuild(settings: Settings) -> None:
    from flywheel.compose import own_wallet_roles, rpc_client
    from flywheel.persistence.rebuild import rebuild_from_anchors
    from flywheel.persistence.store import SqliteStore
    from flywheel.solana.chain_state import read_executor_history

    executor = settings.executor_pubkey()
    async with rpc_client(settings) as rpc:
        history = await read_executor_history(rpc, executor)
    newest = history.newest
    if newest is None:
        raise OperationalError(
            f"no flywheel anchor among the executor's last {history.scanned} transactions:"
            " nothing to rebuild from. Restore a backup, or start with FEE_START=now (only fees"
            " from now on count; carried amounts are lost)"
        )
    if history.after_newest:
        raise OperationalError(
            f"the executor signed {len(history.after_newest)} transaction(s) after its newest"
            f" anchor (epoch {newest.anchor.epoch_id}), newest {history.after_newest[0]}: an"
            " epoch was interrupted after it spent, and the chain alone cannot say what it"
            " spent. Restore the newest backup instead (runbook: Disaster Recovery)"
        )
    path = settings.state_db_path
    moved = _move_aside(path)
    with SqliteStore.open(path) as store:
        rebuild_from_anchors(
            store,
            [(a.signature, a.anchor) for a in history.anchors],
            collector=str(settings.fee_collector_pubkey),
            mint=str(settings.token_mint),
            own=own_wallet_roles(settings, executor),
            now=datetime.now(UTC),
        )
    out = console()
    if moved is not None:
        out.print(Text(f"Moved the old state database to {moved}."))
    anchor = newest.anchor
    out.print(
        Text(
            f"Rebuilt {path} from {len(history.anchors)} anchor(s); newest: epoch"
            f" {anchor.epoch_id} ({newest.signature})."
            f" Carried {format_sol(anchor.carried_lamports)},"
            f" ads budget {format_usd(anchor.ads_available_micro_usd)}, unsettled tokens"
            f" {anchor.unsettled_tokens}; fees after {anchor.cursor} are detected again."
        )
    )
    if anchor.quarantined_lamports:
        out.print(
            Text(
                f"{format_sol(anchor.quarantined_lamports)} were quarantined: their receipts"
                " are not on chain; review them in the old database or the collector's history"
                " and pay them out by hand if they are fees.",
                style="yellow",
            )
        )


def _move_aside(path: Path) -> Path | None:
    if not path.exists():
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    moved = path.with_name(f"{path.name}.replaced-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{path}{suffix}")
        if source.exists():
            source.rename(Path(f"{moved}{suffix}"))
    return moved
