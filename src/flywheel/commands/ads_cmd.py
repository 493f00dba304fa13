"""`flywheel ads list`, `ads mark-launched` (runbook scenario 5, step 6) and `ads cancel`."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from flywheel.commands.common import EnvFile, console, load_settings
from flywheel.domain.money import format_usd, usd_to_micro
from flywheel.errors import OperationalError
from flywheel.persistence.store import SqliteStore
from flywheel.service.console import actions


def register(app: typer.Typer) -> None:
    ads = typer.Typer(name="ads", help="The ads ledger and campaign specs.", no_args_is_help=True)
    ads.command("list")(list_specs)
    ads.command("mark-launched")(mark_launched)
    ads.command("cancel")(cancel)
    app.add_typer(ads, name="ads")


def list_specs(env_file: EnvFile = None) -> None:
    """Every campaign spec the flywheel made, pending or launched, and the ledger's totals."""
    settings = load_settings(env_file)
    with SqliteStore.open(settings.state_db_path) as store:
        entries = store.ads_entries()
        totals = store.ads_balance()
        available = store.ads_available_micro_usd()
    table = Table(title="Ads campaign specs", title_justify="left")
    for column in ("epoch", "budget", "status", "campaign id", "note"):
        table.add_column(column)
    launched = {
        e.epoch_id: e.campaign_id for e in entries if e.kind == "committed" and e.campaign_id
    }
    cancelled = {e.epoch_id for e in entries if e.kind == "released"}
    for entry in entries:
        if entry.kind != "committed" or entry.micro_usd == 0:
            continue
        campaign = launched.get(entry.epoch_id)
        status = "launched" if campaign else "pending"
        if not campaign and entry.epoch_id in cancelled:
            status = "cancelled"
        table.add_row(
            entry.epoch_id,
            format_usd(entry.micro_usd),
            Text(status, style={"launched": "green", "pending": "yellow"}.get(status, "")),
            campaign or "-",
            entry.note,
        )
    out = console()
    out.print(table)
    out.print(
        f"ledger: accrued {format_usd(totals['accrued'])}, committed "
        f"{format_usd(totals['committed'])}, spent {format_usd(totals['spent'])}, "
        f"available {format_usd(available)} (campaigns start at {settings.ads_min_budget_usd} USD)"
    )


def _spent_micro_usd(text: str | None) -> int:
    if text is None:
        return 0
    try:
        value = Decimal(text)
        micro = usd_to_micro(value) if value.is_finite() else -1
    except (InvalidOperation, ValueError):
        micro = -1
    if micro < 0:
        raise typer.BadParameter(
            f"{text!r} is not a USD amount >= 0 with at most 6 decimals", param_hint="'--spent-usd'"
        )
    return micro


def mark_launched(
    epoch: Annotated[str, typer.Argument(help="The epoch id of the spec (flywheel ads list).")],
    campaign_id: Annotated[str, typer.Option("--campaign-id", help="The campaign's id on X.")],
    spent_usd: Annotated[
        str | None,
        typer.Option("--spent-usd", help="What the campaign cost, from X Ads Manager (USD)."),
    ] = None,
    env_file: EnvFile = None,
) -> None:
    """Record that the operator created the campaign for an epoch's spec (and what it cost)."""
    spent = _spent_micro_usd(spent_usd)
    settings = load_settings(env_file)
    with SqliteStore.open(settings.state_db_path) as store:
        why = actions.mark_launched(store, settings.reports_dir, epoch, campaign_id, spent)
    if why:
        raise OperationalError(f"{why}; `flywheel ads list` shows the pending specs")
    console().print(f"epoch {epoch}: campaign {campaign_id} recorded as launched")


def cancel(
    epoch: Annotated[str, typer.Argument(help="The epoch id of the spec (flywheel ads list).")],
    env_file: EnvFile = None,
) -> None:
    """Cancel a pending campaign spec: its budget goes back to the ads reserve."""
    settings = load_settings(env_file)
    with SqliteStore.open(settings.state_db_path) as store:
        why = actions.cancel_spec(store, settings.reports_dir, epoch)
    if why:
        raise OperationalError(f"{why}; `flywheel ads list` shows the pending specs")
    console().print(f"epoch {epoch}: spec cancelled, its budget is back in the ads reserve")
