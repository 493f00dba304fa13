"""`flywheel demo`: the whole flywheel on the embedded sandbox. No keys, no network.

It starts the sandbox in this process (a LiteSVM chain behind a Solana JSON-RPC server, a
Jupiter-compatible DEX, simulated traders who pay creator fees), then runs real epochs through
the same adapters as production: fee detection, Jupiter quote and swap, the guard, exactly-once
sending, the burn, the ads plan, the report. Then a simulation, fetch-fees and a snapshot.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.table import Table
from rich.text import Text

from flywheel.commands.common import console
from flywheel.commands.views import epoch_table
from flywheel.config.settings import Settings
from flywheel.domain.epoch_state import STEPS, EpochMode, EpochState, EpochStatus
from flywheel.domain.money import format_sol, format_usd
from flywheel.logs import configure_logging

if TYPE_CHECKING:  # the sandbox (LiteSVM and its servers) loads only when the demo runs
    from flywheel.sandbox.runner import Sandbox


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    epochs: Annotated[int, typer.Option(min=1, max=20, help="How many epochs to run.")] = 3,
    trades: Annotated[
        int, typer.Option(min=0, max=500, help="Simulated trades (each pays a fee) per epoch.")
    ] = 12,
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="Keep state and reports here (default: a temporary folder)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the sandbox scenario and traders.")] = 7,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show the epochs' log lines.")] = False,
) -> None:
    """Run the flywheel on the embedded sandbox: fees in, buyback and burn, ads plan, reports."""
    from flywheel.sandbox.runner import Sandbox, SandboxConfig

    configure_logging("INFO" if verbose else "ERROR")
    out = console()
    work = directory or Path(tempfile.mkdtemp(prefix="flywheel-demo-"))
    with Sandbox(SandboxConfig(seed=seed, traders=False, workdir=work / "sandbox")) as sandbox:
        env = sandbox.env(work)
        settings = Settings.from_mapping(env)
        out.print(
            Text.assemble(
                ("Sandbox ", "bold"),
                f"RPC {sandbox.rpc_url}  Jupiter {sandbox.jupiter_url}  mint {sandbox.token_mint}",
            )
        )
        supply_before = _token_supply(sandbox)
        states = asyncio.run(_run_epochs(settings, sandbox, epochs, trades))
        supply_after = _token_supply(sandbox)
        for state in states:
            out.print(epoch_table(state))
        out.print(_summary(states, supply_before, supply_after))
        simulated, snapshot_path = asyncio.run(_simulate_and_snapshot(settings, sandbox, trades))
        out.print(epoch_table(simulated, title="flywheel simulate: the next epoch, nothing sent"))
        out.print(Text(f"snapshot written to {snapshot_path}"))
    out.print(Text(f"State and reports are in {work}", style="bold"))
    failed = [s for s in states if s.status != EpochStatus.SUCCEEDED]
    if failed or supply_before - supply_after != sum(s.tokens_settled for s in states):
        raise typer.Exit(1)


def _token_supply(sandbox: Sandbox) -> int:
    from solders.token.state import Mint

    account = sandbox.chain.get_account(sandbox.token_mint)
    assert account is not None, "the sandbox scenario creates the mint"
    return Mint.from_bytes(bytes(account.data)[:82]).supply


async def _run_epochs(
    settings: Settings, sandbox: Sandbox, epochs: int, trades: int
) -> list[EpochState]:
    from flywheel.compose import open_flywheel

    states: list[EpochState] = []
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[step]}")
    ) as progress:
        for number in range(1, epochs + 1):
            sandbox.traders.step(trades)
            task = progress.add_task(f"epoch {number}/{epochs}", total=len(STEPS), step="")

            def advance(step: str, _state: EpochState, task: TaskID = task) -> None:
                progress.update(task, advance=1, step=step)

            async with open_flywheel(settings, EpochMode.LIVE, on_step=advance) as flywheel:
                states.append(await flywheel.run_epoch())
    return states


async def _simulate_and_snapshot(
    settings: Settings, sandbox: Sandbox, trades: int
) -> tuple[EpochState, Path]:
    from flywheel.compose import open_flywheel

    sandbox.traders.step(trades)
    async with open_flywheel(settings, EpochMode.SIMULATE) as flywheel:
        simulated = await flywheel.run_epoch()
    async with open_flywheel(settings, EpochMode.LIVE) as flywheel:
        _, path = await flywheel.snapshot()
    return simulated, path


def _summary(states: list[EpochState], supply_before: int, supply_after: int) -> Table:
    table = Table(title="Flywheel demo: what each epoch did", title_justify="left")
    for column in ("epoch", "status", "fees in", "bought back", "tokens burned", "ads", "carried"):
        table.add_column(column, justify="left" if column in {"epoch", "status"} else "right")
    for number, state in enumerate(states, start=1):
        ads = state.ads.spec.budget_micro_usd if state.ads and state.ads.spec else 0
        table.add_row(
            str(number),
            Text(state.status.value, style="green" if not state.errors else "red"),
            format_sol(state.fees_in_lamports),
            format_sol(state.buyback_spent_lamports),
            str(state.tokens_settled),
            format_usd(ads),
            format_sol(state.carried_out_lamports),
        )
    burned = sum(s.tokens_settled for s in states)
    table.caption = (
        f"token supply {supply_before} -> {supply_after}: dropped by {supply_before - supply_after}"
        f", reports say {burned} burned"
        + (" (equal)" if supply_before - supply_after == burned else " (MISMATCH)")
    )
    return table
