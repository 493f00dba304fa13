"""`flywheel state backup | verify | rebuild`: the state database's backup and recovery."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from flywheel.commands.common import EnvFile, console, load_settings


def register(app: typer.Typer) -> None:
    state = typer.Typer(
        name="state", help="Back up, verify and rebuild the state database.", no_args_is_help=True
    )
    state.command("backup")(backup)
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
