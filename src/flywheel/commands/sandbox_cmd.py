"""`flywheel sandbox`: the runbook's staging, locally: a chain, a Jupiter-compatible DEX, an
X-Ads-compatible API and traders paying creator fees, until Ctrl-C or SIGTERM.

DIR/.env and DIR/executor.json are written only once every server listens, so a script that
waits for DIR/.env can start the bot right away.
"""

from __future__ import annotations

import shlex
import signal
import threading
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from flywheel.errors import ConfigError
from flywheel.sandbox.runner import Sandbox, SandboxConfig
from flywheel.solana.keypair import write_private_file

_console = Console()
_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


class FeeSourceChoice(StrEnum):
    wallet = "wallet"
    pump = "pump"
    token2022 = "token2022"


class TokenProgramChoice(StrEnum):
    spl = "spl"
    token_2022 = "token-2022"  # noqa: S105 (a token program's name, not a password)


def sandbox(
    directory: Annotated[
        Path,
        typer.Option("--dir", help="Where to write .env, executor.json, state and reports."),
    ],
    seed: Annotated[int, typer.Option(help="Same seed, same keys and mint.")] = 0,
    rpc_port: Annotated[int, typer.Option(help="JSON-RPC port (0: a free one).")] = 0,
    jupiter_port: Annotated[int, typer.Option(help="Jupiter API port (0: a free one).")] = 0,
    x_ads_port: Annotated[int, typer.Option(help="X Ads API port (0: a free one).")] = 0,
    token_program: Annotated[
        TokenProgramChoice,
        typer.Option(help="spl, or token-2022 with a 1% transfer fee."),
    ] = TokenProgramChoice.spl,
    traders: Annotated[
        bool, typer.Option("--traders/--no-traders", help="Simulated traders paying fees.")
    ] = True,
    trader_interval: Annotated[
        float, typer.Option(help="Seconds between simulated trades.", min=0.05)
    ] = 5.0,
    slot_ms: Annotated[int, typer.Option(help="Slot length in ms (0: manual).", min=0)] = 400,
    separate_fee_collector: Annotated[
        bool, typer.Option(help="A fee collector other than the executor.")
    ] = False,
    fee_source: Annotated[
        FeeSourceChoice,
        typer.Option(
            help="wallet (SOL to the fee collector), pump (an emulated pump.fun coin whose"
            " creator is the executor; traders' fees accrue in its creator vaults), or token2022"
            " (a Token-2022 mint whose withheld transfer fees the executor withdraws; implies"
            " --token-program token-2022)."
        ),
    ] = FeeSourceChoice.wallet,
    market: Annotated[
        bool,
        typer.Option(
            help="A market that behaves like one: seeded arbitrage back to a drifting reference"
            " price, and a sandwich searcher on the public send path (docs/sandbox.md)."
        ),
    ] = False,
) -> None:
    """Run a local staging world (chain + DEX + X Ads API + traders) until Ctrl-C or SIGTERM."""
    # Absolute, so the paths in .env hold after `cd DIR` as well as from here.
    directory = directory.expanduser().resolve()
    _check_ports(
        ("--rpc-port", rpc_port), ("--jupiter-port", jupiter_port), ("--x-ads-port", x_ads_port)
    )
    config = SandboxConfig(
        seed=seed,
        slot_ms=slot_ms,
        rpc_port=rpc_port,
        jupiter_port=jupiter_port,
        x_ads_port=x_ads_port,
        token_program=token_program.value,
        traders=traders,
        trader_interval_seconds=trader_interval,
        separate_fee_collector=separate_fee_collector,
        fee_source=fee_source.value,
        arbitrage=market,
        searcher=market,
        workdir=directory,
    )
    _run_until_stopped(config, directory)


def _check_ports(*ports: tuple[str, int]) -> None:
    for name, port in ports:
        if not 0 <= port <= 65535:
            raise ConfigError([f"{name} must be within 0..65535, not {port}"])


def _run_until_stopped(config: SandboxConfig, directory: Path) -> None:
    """Start the sandbox, write DIR/.env, and serve until Ctrl-C or SIGTERM sets `stop`."""
    stop = threading.Event()
    previous = _trap_signals(stop)
    try:
        box = Sandbox(config)
        try:
            box.start()
        except OSError as exc:
            raise ConfigError(
                [f"cannot start the sandbox: {exc.strerror or exc} (is a port already in use?)"]
            ) from None
        try:
            env_path = write_env_file(directory, box.env(directory))
            _print_banner(box, directory, env_path)
            while not stop.wait(0.2):
                pass
            _console.print("Stopping the sandbox…")
        finally:
            box.stop()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def write_env_file(directory: Path, env: dict[str, str]) -> Path:
    """DIR/.env readable by `set -a; . DIR/.env` and by the bot; 0600 (it holds a secret)."""
    path = directory / ".env"
    lines = [f"{key}={env_file_quote(key, value)}" for key, value in env.items()]
    header = "# Written by `flywheel sandbox`: the bot's settings for the local sandbox.\n"
    write_private_file(path, header + "\n".join(lines) + "\n")
    return path


def env_file_quote(key: str, value: str) -> str:
    """`value` quoted so the bot's .env reader (python-dotenv) and a shell both read it as is.

    Single quotes are literal to both; a value with a single quote (a directory named
    "it's") goes in double quotes, where both undo the same two escapes (backslash, double
    quote) as long as nothing in it would expand ($ or a backtick).
    """
    if "'" not in value:
        return f"'{value}'"
    if "$" in value or "`" in value:
        raise ConfigError(
            [
                f"{key}: cannot be written to .env (got {value!r}: both ' and $ or `);"
                " use another --dir"
            ]
        )
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _trap_signals(stop: threading.Event) -> dict[int, _Handler]:
    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: dict[int, _Handler] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.getsignal(signum)
        signal.signal(signum, handle)
    return previous


def _print_banner(box: Sandbox, directory: Path, env_path: Path) -> None:
    table = Table(title="flywheel sandbox", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("Solana RPC", box.rpc_url)
    table.add_row("Jupiter API", box.jupiter_url)
    table.add_row("X Ads API", f"{box.x_ads_url} (account {box.x_ads.account_id})")
    table.add_row("Token mint", f"{box.token_mint} ({box.config.token_program})")
    if box.faults.arbitrage or box.faults.sandwich:
        table.add_row("Market", f"arbitrage and a sandwich searcher (seed {box.config.seed})")
    table.add_row("Executor", f"{box.executor.pubkey()} ({box.executor_keypair_path})")
    table.add_row("Fee collector", str(box.fee_collector))
    table.add_row("Fee source", box.config.fee_source)
    traders = f"on, every {box.config.trader_interval_seconds:g}s" if box.config.traders else "off"
    table.add_row("Traders", traders)
    table.add_row("Configuration", str(env_path))
    _console.print(table)
    _console.print(
        run_commands_text(directory, env_path), highlight=False, markup=False, soft_wrap=True
    )


def run_commands_text(directory: Path, env_path: Path) -> str:
    """How to point the bot at the sandbox: commands that let the bot read .env itself.

    Never `set -a; . .env`: a shell reads `ADS_TARGETING={"languages":["en"]}` (the way
    .env.example writes JSON) as `{languages:[en]}`, and the bot would get broken JSON.
    """
    return (
        "Point the bot at it (the bot reads that .env itself; do not source it into a shell:"
        " JSON values such as ADS_TARGETING are not shell syntax):\n"
        f"  cd {shlex.quote(str(directory))} && flywheel simulate\n"
        f"  flywheel epoch --env-file {shlex.quote(str(env_path))}\n"
        "X ads campaigns against the sandbox: set ADS_ENGINE_MODE=api in that .env.\n"
        "Stop with Ctrl-C."
    )


def register(app: typer.Typer) -> None:
    app.command("sandbox")(sandbox)
