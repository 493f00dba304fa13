"""`flywheel reports prune`: the runbook's report retention, safe to run from cron.

Replaces `find reports/ -name "epoch-*.json" -mtime +30 -delete`: age comes from the timestamp
in each name (mtimes lie after a copy or restore), and only report files are ever deleted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from flywheel.config.settings import Settings, resolve_env_file
from flywheel.errors import ConfigError
from flywheel.reports.files import prune_reports

DEFAULT_REPORTS_DIR = Path("reports")

reports_app = typer.Typer(
    name="reports",
    help="Manage the JSON reports (epoch-, snapshot-, ads-*.json).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(reports_app, name="reports")


def _reports_dir(explicit: Path | None, env_file: Path | None) -> Path:
    if explicit is not None:
        return explicit
    try:
        settings = Settings.load(resolve_env_file(env_file))
    except ConfigError as exc:
        # Pruning needs no keys or RPC: a configuration that is incomplete for epochs must not
        # stop retention, but the operator should know which directory was used and why.
        typer.echo(
            f"note: configuration did not load ({len(exc.problems)} problem(s); see "
            f"`flywheel config check`); using {DEFAULT_REPORTS_DIR}/. "
            "Pass --reports-dir to choose.",
            err=True,
        )
        return DEFAULT_REPORTS_DIR
    return Path(settings.reports_dir)


@reports_app.command("prune")
def prune(
    days: Annotated[
        int,
        typer.Option(
            "--days",
            metavar="N",
            help="Delete reports older than N days (N >= 1).",
            show_default=False,
        ),
    ],
    reports_dir: Annotated[
        Path | None,
        typer.Option(
            "--reports-dir",
            help="Directory of the reports (default: REPORTS_DIR from the config, else ./reports).",
            file_okay=False,
        ),
    ] = None,
    env_file: Annotated[
        Path | None,
        typer.Option("--env-file", help="Config file to read REPORTS_DIR from (default ./.env)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be deleted; delete nothing.")
    ] = False,
) -> None:
    """Delete epoch-, snapshot- and ads- report files older than N days; nothing else."""
    if days < 1:
        raise typer.BadParameter(
            f"must be at least 1 (got {days}); reports newer than N days are kept.",
            param_hint="'--days'",
        )
    directory = _reports_dir(reports_dir, env_file)
    if not directory.is_dir():
        typer.echo(f"Nothing to prune: {directory} does not exist.")
        return
    deleted = prune_reports(directory, days, datetime.now(UTC), dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    for path in deleted:
        typer.echo(f"{verb} {path}")
    noun = "report" if len(deleted) == 1 else "reports"
    summary = "Would delete" if dry_run else "Deleted"
    typer.echo(f"{summary} {len(deleted)} {noun} older than {days} days from {directory}.")
