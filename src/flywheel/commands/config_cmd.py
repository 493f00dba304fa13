"""`flywheel config check`: validate the configuration and show it, every secret redacted.

Warnings (a misspelt variable, a risky value: `config.risks`) are printed and do not fail.

Problems are raised as ConfigError; `flywheel.cli.main` prints them one per line and exits 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from flywheel.config.places import host_warning
from flywheel.config.risks import check_problems, configuration_warnings
from flywheel.config.settings import Settings, resolve_env_file
from flywheel.errors import ConfigError


def register(app: typer.Typer) -> None:
    """Add the `config` command group to the top-level app."""
    config_app = typer.Typer(
        name="config", help="Check the configuration (.env and environment).", no_args_is_help=True
    )
    config_app.command("check")(check)
    app.add_typer(config_app, name="config")


def check(
    env_file: Annotated[
        Path | None,
        typer.Option(
            "--env-file",
            help="The .env file to read (default: ./.env when it exists). The environment wins.",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Validate every variable and print the effective configuration, secrets redacted."""
    path = resolve_env_file(env_file)
    settings = Settings.load(path)
    problems = check_problems(settings)
    if problems:
        raise ConfigError(problems)
    console = Console(soft_wrap=True)
    if not console.is_terminal:
        # Piped output is read by scripts and people alike: never cut a value to 80 columns.
        console = Console(width=200, soft_wrap=True)
    console.print(configuration_table(settings, path))
    console.print(Text(f"executor public key: {settings.executor_pubkey()}"))
    console.print(Text(f"fee funding: {settings.fee_funding_mode()}"))
    host = host_warning(settings.http_host)
    for warning in [*([host] if host is not None else []), *configuration_warnings(settings, path)]:
        console.print(Text(f"warning: {warning}", style="yellow"))
    console.print(Text("configuration OK", style="bold green"))


def configuration_table(settings: Settings, env_file: Path | None) -> Table:
    """One row per variable: its name, its shown value and where it came from."""
    origin = f".env = {env_file}" if env_file is not None else "no .env file"
    table = Table(title=f"Effective configuration ({origin})", title_justify="left")
    table.add_column("variable", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_column("source", no_wrap=True)
    for variable, shown in settings.redacted().items():
        # Text, not str: a value must never be read as rich markup.
        source = settings.source_of(variable.lower())
        table.add_row(Text(variable), Text(shown), Text(source, style=_SOURCE_STYLE[source]))
    return table


_SOURCE_STYLE = {"default": "dim", ".env": "cyan", "environment": "magenta", "argument": "cyan"}
