"""What every operational command shares: the --env-file option, settings and logging."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import structlog
import typer
from rich.console import Console

from flywheel.config.settings import Settings, resolve_env_file
from flywheel.logs import configure_logging

EnvFile = Annotated[
    Path | None,
    typer.Option(
        "--env-file",
        help="The .env file to read (default: ./.env when it exists). The environment wins.",
        dir_okay=False,
    ),
]


def load_settings(env_file: Path | None) -> Settings:
    """Settings (ConfigError on any problem: exit 2), with logging configured from them, and
    each warning about them (a misspelt variable, a risky value) logged once."""
    from flywheel.config.risks import configuration_warnings

    path = resolve_env_file(env_file)
    settings = Settings.load(path)
    configure_logging(settings.log_level, settings.log_format)
    for warning in configuration_warnings(settings, path):
        structlog.get_logger("flywheel.config").warning("config.warning", warning=warning)
    return settings


def console() -> Console:
    """stdout for results; logs go to stderr, so piping a command's output stays clean."""
    out = Console(soft_wrap=True)
    return out if out.is_terminal else Console(width=160, soft_wrap=True)
