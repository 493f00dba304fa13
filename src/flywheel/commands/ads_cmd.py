"""`flywheel ads list` and `flywheel ads mark-launched` (runbook scenario 5, step 6)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from flywheel.ads.manual import ads_file, write_ads_file
from flywheel.commands.common import EnvFile, console, load_settings
from flywheel.domain.money import format_usd
from flywheel.errors import OperationalError
from flywheel.persistence.store import SqliteStore


def register(app: typer.Typer) -> None:
    ads = typer.Typer(name="ads", help="The ads ledger and campaign specs.", no_args_is_help=True)
    ads.command("list")(list_specs)
    ads.command("mark-launched")(mark_launched)
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
    for entry in entries:
        if entry.kind != "committed" or entry.micro_usd == 0:
            continue
        campaign = launched.get(entry.epoch_id)
        status = "launched" if campaign else "pending"
        table.add_row(
            entry.epoch_id,
            format_usd(entry.micro_usd),
            Text(status, style="green" if campaign else "yellow"),
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


def mark_launched(
    epoch: Annotated[str, typer.Argument(help="The epoch id of the spec (flywheel ads list).")],
    campaign_id: Annotated[str, typer.Option("--campaign-id", help="The campaign's id on X.")],
    env_file: EnvFile = None,
) -> None:
    """Record that the operator created the campaign for an epoch's spec."""
    settings = load_settings(env_file)
    with SqliteStore.open(settings.state_db_path) as store:
        entries = store.ads_entries(epoch)
        committed = [e for e in entries if e.kind == "committed"]
        if not committed:
            raise OperationalError(
                f"epoch {epoch} has no campaign spec; `flywheel ads list` shows the pending ones"
            )
        already = next((e.campaign_id for e in committed if e.campaign_id), None)
        if already is not None:
            raise OperationalError(f"epoch {epoch} is already marked launched as {already}")
        store.add_ads_entry(epoch, "committed", 0, 0, campaign_id=campaign_id, note="launched")
    path = ads_file(settings.reports_dir, epoch)
    if path.exists():
        document = json.loads(path.read_text(encoding="utf-8"))
        document.update(status="launched", campaign_id=campaign_id)
        write_ads_file(path, document)
    console().print(f"epoch {epoch}: campaign {campaign_id} recorded as launched")
