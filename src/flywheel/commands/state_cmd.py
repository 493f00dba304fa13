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
    from flywheel.persistence.rebuild import Rebuilt
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
    """Compare the flywheel's recent transactions on chain (their state memos) with the state
    database.

    Exit 1, with what to run, when the chain holds a flywheel state the database does not
    know (a restored backup older than the chain, or another flywheel on this executor)."""
    settings = load_settings(env_file)
    if not settings.state_db_path.exists():
        raise OperationalError(
            f"there is no state database at {settings.state_db_path}; to recover one from the"
            " chain run `flywheel state rebuild`"
        )
    history = asyncio.run(_verify(settings))
    console().print(
        Text(
            "The state database knows every flywheel transaction (state memo) among the"
            f" executor's last {history.scanned} transactions."
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
    from flywheel.persistence.rebuild import ChainTx, rebuild_from_chain
    from flywheel.persistence.store import SqliteStore
    from flywheel.solana.chain_state import read_executor_history

    executor = settings.executor_pubkey()
    async with rpc_client(settings) as rpc:
        history = await read_executor_history(rpc, executor, mint=settings.token_mint)
    newest = history.newest
    if newest is None:
        raise OperationalError(
            f"no flywheel state memo among the executor's last {history.scanned} transactions:"
            " nothing to rebuild from. Restore a backup, or start with FEE_START=now (only fees"
            " from now on count; carried amounts are lost)"
        )
    if history.after_newest:
        raise OperationalError(
            f"the executor signed {len(history.after_newest)} transaction(s) without a state"
            f" memo after its newest one (epoch {newest.anchor.epoch_id}), newest"
            f" {history.after_newest[0]}: a Jupiter v1 swap (API-built, it carries no memo) or"
            " someone else using the key, and the chain alone cannot say what it spent. Restore"
            " the newest backup instead (runbook: Disaster Recovery)"
        )
    path = settings.state_db_path
    moved = _move_aside(path)
    with SqliteStore.open(path) as store:
        rebuilt = rebuild_from_chain(
            store,
            [ChainTx(m.signature, m.anchor, m.after) for m in history.memos],
            collector=str(settings.fee_collector_pubkey),
            mint=str(settings.token_mint),
            own=own_wallet_roles(settings, executor),
            now=datetime.now(UTC),
        )
    if moved is not None:
        console().print(Text(f"Moved the old state database to {moved}."))
    _print_rebuilt(path, rebuilt, len(history.memos))


def _print_rebuilt(path: Path, rebuilt: Rebuilt, found: int) -> None:
    out = console()
    state = rebuilt.newest.after
    out.print(
        Text(
            f"Rebuilt {path} from {found} flywheel transaction(s) of {rebuilt.epochs} epoch(s);"
            f" newest: the {rebuilt.newest.memo.kind} of epoch {state.epoch_id}"
            f" ({rebuilt.newest.signature}). Carried {format_sol(state.carried_lamports)},"
            f" ads budget {format_usd(state.ads_available_micro_usd)}, unsettled tokens"
            f" {state.unsettled_tokens}, {rebuilt.quarantined_restored} quarantined receipt(s);"
            f" fees after {state.cursor} are detected again."
        )
    )
    if rebuilt.interrupted is not None:
        out.print(
            Text(
                f"Epoch {rebuilt.interrupted} has no closing anchor (interrupted before it, or"
                " its memos said it all): rebuilt from its newest transaction's memo and what"
                " that transaction did on chain (nothing it bought is bought again; its"
                " unsettled tokens are settled by the next epoch).",
                style="yellow",
            )
        )
    if rebuilt.quarantined_missing_lamports:
        out.print(
            Text(
                f"{format_sol(abs(rebuilt.quarantined_missing_lamports))} of quarantined fees"
                " are not listed on chain (more than a memo holds, or quarantined after the"
                " last anchor): review the collector's history and pay them out by hand if"
                " they are fees.",
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
