"""`flywheel wallet sweep --to PUBKEY`: move everything from the executor to a new wallet.

For the runbook's compromised-executor and key-rotation procedures, without the solana CLI.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text
from solders.pubkey import Pubkey

from flywheel.commands.common import EnvFile, console, load_settings
from flywheel.config.parsers import InvalidValue, parse_pubkey
from flywheel.config.settings import Settings
from flywheel.domain.epoch_state import EpochMode
from flywheel.domain.money import format_sol
from flywheel.errors import ConfigError, OperationalError


def register(app: typer.Typer) -> None:
    wallet = typer.Typer(name="wallet", help="Executor wallet operations.", no_args_is_help=True)
    wallet.command("new")(new)
    wallet.command("sweep")(sweep)
    wallet.command("accept-balances")(accept_balances)
    app.add_typer(wallet, name="wallet")


def new(
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the keypair file.")],
) -> None:
    """Generate a new executor keypair file (solana-keygen's format, mode 0600).

    For the runbook's key rotation and compromised-executor procedures, without the solana CLI.
    Refuses to overwrite an existing file.
    """
    from solders.keypair import Keypair

    from flywheel.solana.keypair import write_keypair_file

    if out.exists():
        raise OperationalError(f"{out} already exists: choose another path (nothing was written)")
    keypair = Keypair()
    write_keypair_file(out, keypair)
    console().print(f"Wrote {out} (mode 600). Public key: {keypair.pubkey()}")


def sweep(
    to: Annotated[str, typer.Option("--to", help="The new wallet's base58 address.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    env_file: EnvFile = None,
) -> None:
    """Move every token and all SOL but the fee from the executor to the wallet --to.

    Each transaction is journaled before it is sent; running the command again after an
    interruption finishes the same transactions instead of sending new ones.
    """
    try:
        target = parse_pubkey(to)
    except InvalidValue as exc:
        raise ConfigError([f"--to: {exc.what} (got '{to}'); {exc.fix}"]) from None
    settings = load_settings(env_file)
    asyncio.run(_sweep(settings, target, yes))


async def _sweep(settings: Settings, target: Pubkey, yes: bool) -> None:
    from flywheel.service.epoch_lock import epoch_lock, lock_path_for

    # The epoch lock: no epoch (service or `flywheel epoch`) may spend while the sweep moves
    # the executor's money, nor detect fees half-way through a rotation.
    with epoch_lock(lock_path_for(settings.state_db_path)):
        await _sweep_locked(settings, target, yes)


async def _sweep_locked(settings: Settings, target: Pubkey, yes: bool) -> None:
    from flywheel.compose import bind_state, rpc_client
    from flywheel.persistence.store import SqliteStore
    from flywheel.solana.sender import Sender
    from flywheel.solana.sweep import Sweeper, finish_rotation, prepare_rotation

    keypair = settings.load_executor_keypair()
    out = console()
    with SqliteStore.open(settings.state_db_path) as store:
        if store.unfinished_epoch(EpochMode.LIVE) is not None:
            raise OperationalError(
                "an epoch is unfinished (its transactions may be in flight): stop the service,"
                " run `flywheel epoch` to finish it, then sweep"
            )
        # Run again after a rotation finished, the state already follows --to: nothing to bind.
        rotated = store.bound_collector() == str(target)
        own = bind_state(settings, store, keypair.pubkey(), write=not rotated, check=not rotated)
        async with rpc_client(settings) as rpc:
            sender = Sender(rpc, keypair.pubkey(), settings.token_mint)
            sweeper = Sweeper(rpc, keypair, store, sender)
            plan = await sweeper.plan(target)
            table = Table(title=f"Sweep {keypair.pubkey()} -> {target}", title_justify="left")
            table.add_column("what")
            table.add_column("amount", justify="right")
            table.add_row("SOL (all but the fee)", format_sol(plan.sol_lamports))
            for holding in plan.tokens:
                table.add_row(f"token {holding.mint}", str(holding.amount))
            out.print(table)
            if not yes and not typer.confirm("Move all of this to the new wallet?", default=False):
                out.print("Nothing was sent.")
                raise typer.Exit(1)
            # Recorded before anything moves: the sweep landing at the new wallet is ours.
            store.add_own_address(str(target), "executor")
            moves_collector = settings.fee_collector_pubkey == keypair.pubkey() and not rotated
            if moves_collector:
                await prepare_rotation(rpc, store, target)
            landings = await sweeper.sweep(target)
            if moves_collector:
                await finish_rotation(settings, rpc, store, keypair.pubkey(), own)
    for landing in landings:
        out.print(Text(f"{landing.status.value}: {landing.signature}"))
    out.print(Text("Executor swept. Point EXECUTOR_KEYPAIR_PATH at the new wallet's keypair."))
    if moves_collector:
        out.print(
            Text(
                f"The fee collector was the executor: the state now follows {target}."
                f" Set FEE_COLLECTOR_PUBKEY={target} too, and point the token's fees there."
            )
        )


def accept_balances(
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    env_file: EnvFile = None,
) -> None:
    """Take the executor's balances on chain as what the journal expects from now on.

    Epochs stop when the executor holds SOL or tokens its journal cannot explain. Once you know
    why (tokens sent in by hand, a swap an RPC node hid), run this to start checking from the
    chain's figures again. It changes the check's starting point, never the chain.
    """
    from flywheel.errors import EpochLocked
    from flywheel.service.epoch_lock import epoch_lock, lock_path_for

    settings = load_settings(env_file)
    try:
        with epoch_lock(lock_path_for(settings.state_db_path)):
            asyncio.run(_accept_balances(settings, yes))
    except EpochLocked:
        raise OperationalError(
            "an epoch is running on this state: wait for it to finish, then accept the balances"
        ) from None


async def _accept_balances(settings: Settings, yes: bool) -> None:
    from flywheel.compose import rpc_client
    from flywheel.intent_journal import accept_balances as accept
    from flywheel.persistence.store import SqliteStore
    from flywheel.solana.wallet import SolanaWallet

    keypair = settings.load_executor_keypair()
    out = console()
    with SqliteStore.open(settings.state_db_path) as store:
        async with rpc_client(settings) as rpc:
            wallet = SolanaWallet(rpc, keypair, settings.token_mint)
            if not yes:
                now = await wallet.executor_balances()
                out.print(
                    f"On chain now: {format_sol(now.sol_lamports)} and {now.token_units} token "
                    f"units (slot {now.slot})."
                )
                if not typer.confirm("Take these as the journal's figures?", default=False):
                    out.print("Nothing was changed.")
                    raise typer.Exit(1)
            previous, reading = await accept(store, wallet)
    before = (
        "none"
        if previous is None
        else f"{previous.reading.sol_lamports} lamports, {previous.reading.token_units} tokens"
        f" at slot {previous.reading.slot}"
    )
    out.print(
        Text(
            f"Balance checkpoint: was {before}; now {reading.sol_lamports} lamports, "
            f"{reading.token_units} tokens at slot {reading.slot}. Epochs check from here."
        )
    )
