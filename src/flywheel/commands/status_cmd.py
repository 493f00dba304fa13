"""`flywheel status` (the overview at a glance) and `flywheel history` (the last epochs)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Annotated, Any

import httpx
import typer
from rich.table import Table
from rich.text import Text

from flywheel.commands.common import EnvFile, console, load_settings
from flywheel.config.settings import Settings
from flywheel.domain.epoch_state import EpochMode, EpochState
from flywheel.domain.money import format_sol, format_usd
from flywheel.persistence.store import SqliteStore
from flywheel.service.console.overview import (
    Balance,
    Overview,
    read_balances,
    read_overview,
    wallets_of,
)
from flywheel.service.health import iso_z

HEALTH_TIMEOUT_S = 2.0


def register(app: typer.Typer) -> None:
    app.command("status")(status)
    app.command("history")(history)


def _service_next_epoch(settings: Settings) -> tuple[bool, datetime | None]:
    """(is a service answering on HTTP_PORT, the next epoch it has scheduled)."""
    host = "127.0.0.1" if settings.http_host in ("0.0.0.0", "::") else settings.http_host
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address in a URL
    url = f"http://{host}:{settings.http_port}/health"
    try:
        body = httpx.get(url, timeout=HEALTH_TIMEOUT_S).json()
    except (httpx.HTTPError, httpx.InvalidURL, ValueError):
        return False, None
    if not isinstance(body, dict) or "circuitBreaker" not in body:
        return False, None  # something else listens there
    text = body.get("nextEpoch")
    if not isinstance(text, str):
        return True, None
    try:
        return True, datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return True, None


def status(env_file: EnvFile = None) -> None:
    """The overview: circuit breaker, last and next epoch, balances, carried and quarantined
    fees, the ads reserve. Reads the state and the chain; changes nothing."""
    settings = load_settings(env_file)
    running, scheduled = _service_next_epoch(settings)
    if not settings.state_db_path.exists():
        console().print(
            f"No state database at {settings.state_db_path} yet: no epoch has run. "
            "`flywheel epoch` runs the first one."
        )
        return
    with SqliteStore.open(settings.state_db_path) as store:
        overview = read_overview(settings, store, next_epoch=scheduled)

    async def balances() -> list[Balance]:
        from flywheel.compose import rpc_client

        rpc = rpc_client(settings)
        try:
            return await read_balances(rpc, wallets_of(settings))
        finally:
            await rpc.close()

    out = console()
    out.print(overview_table(overview, running=running))
    out.print(balances_table(asyncio.run(balances())))


_STATUS_STYLE = {"succeeded": "green", "ads-failed": "yellow"}


def overview_table(overview: Overview, *, running: bool) -> Table:
    table = Table(title="Flywheel status", title_justify="left")
    table.add_column("what", no_wrap=True)
    table.add_column("value", overflow="fold")
    style = {"closed": "green", "open": "red"}.get(overview.breaker.value, "yellow")
    breaker = Text(overview.breaker.value, style=style)
    if overview.breaker_failures:
        breaker.append(f" ({overview.breaker_failures} consecutive failure(s))")
    if overview.breaker_retry_at is not None:
        breaker.append(f", trial epoch after {iso_z(overview.breaker_retry_at)}")
    table.add_row("circuit breaker", breaker)
    table.add_row("service", "running" if running else "not answering on HTTP_PORT")
    table.add_row("last epoch", _epoch_line(overview.last_epoch))
    success = overview.last_success
    table.add_row("last success", iso_z(success.finished_at) if success else "never")
    next_word = "scheduled" if running else "expected (if the service runs)"
    table.add_row(
        "next epoch",
        f"{iso_z(overview.next_epoch)} {next_word}" if overview.next_epoch else "not scheduled",
    )
    table.add_row("carried", format_sol(overview.carried_lamports))
    quarantined = f"{format_sol(overview.quarantined_lamports)} ({len(overview.quarantined)})"
    table.add_row(Text("quarantined", style="yellow" if overview.quarantined else ""), quarantined)
    if overview.rejected:
        rejected = sum(r.lamports for r in overview.rejected)
        table.add_row("rejected", f"{format_sol(rejected)} ({len(overview.rejected)}, never spent)")
    table.add_row(
        "ads reserve",
        f"{format_usd(overview.ads_available_micro_usd)} of "
        f"{format_usd(overview.ads_min_budget_micro_usd)} for a campaign "
        f"({overview.ads_progress_percent}%)",
    )
    table.add_row("ads pending launch", str(len(overview.pending_ads)))
    if overview.ads_consecutive_failures:
        table.add_row(
            Text("ads step failures", style="yellow"),
            f"{overview.ads_consecutive_failures} epoch(s) in a row (the buybacks stand;"
            " see the last report's .errors)",
        )
    return table


def balances_table(balances: list[Balance]) -> Table:
    table = Table(title="Balances", title_justify="left")
    for column in ("wallet", "address", "SOL"):
        table.add_column(column, justify="right" if column == "SOL" else "left")
    for balance in balances:
        figure = (
            Text(f"unknown: {balance.error}", style="red")
            if balance.lamports is None
            else Text(format_sol(balance.lamports))
        )
        table.add_row(balance.role, balance.pubkey, figure)
    return table


def _epoch_line(epoch: EpochState | None) -> str:
    if epoch is None:
        return "none yet"
    return f"{epoch.id} {epoch.status.value} at {iso_z(epoch.finished_at)}"


def epoch_row(epoch: EpochState) -> dict[str, Any]:
    """One epoch as `history --json` prints it (integers: lamports and token base units)."""
    return {
        "epoch_id": epoch.id,
        "status": epoch.status.value,
        "started_at": iso_z(epoch.started_at),
        "finished_at": iso_z(epoch.finished_at),
        "fees_in_lamports": epoch.fees_in_lamports,
        "spent_lamports": epoch.buyback_spent_lamports,
        "tokens_bought": epoch.tokens_bought,
        "tokens_settled": epoch.tokens_settled,
        "destination": epoch.destination,
        "ads_reserved_lamports": epoch.ads_reserved_lamports,
        "carried_out_lamports": epoch.carried_out_lamports,
        "errors": [f"{e.step}: {e.message}" for e in epoch.errors],
        "report": epoch.report_path,
    }


def history(
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="How many epochs, newest first.")
    ] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array, for scripts.")] = False,
    env_file: EnvFile = None,
) -> None:
    """The last live epochs, newest first: fees in, spent, bought, burned, carried, errors."""
    settings = load_settings(env_file)
    epochs: list[EpochState] = []
    if settings.state_db_path.exists():
        with SqliteStore.open(settings.state_db_path) as store:
            found = (e for e in store.epochs(limit=10 * limit) if e.mode is EpochMode.LIVE)
            epochs = [e for _, e in zip(range(limit), found, strict=False)]
    rows = [epoch_row(e) for e in epochs]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"Last {len(rows)} epoch(s)", title_justify="left")
    for column in (
        "epoch",
        "status",
        "finished",
        "fees in",
        "spent",
        "bought",
        "settled",
        "carried",
        "errors",
    ):
        table.add_column(
            column, justify="right" if column in {"fees in", "spent", "carried"} else "left"
        )
    for row in rows:
        table.add_row(
            row["epoch_id"],
            Text(row["status"], style=_STATUS_STYLE.get(row["status"], "red")),
            row["finished_at"] or "-",
            format_sol(row["fees_in_lamports"]),
            format_sol(row["spent_lamports"]),
            str(row["tokens_bought"]),
            f"{row['tokens_settled']} ({row['destination']})",
            format_sol(row["carried_out_lamports"]),
            Text("; ".join(row["errors"]), style="red") if row["errors"] else "",
        )
    out = console()
    out.print(table)
    if not rows:
        out.print(f"No live epoch yet ({datetime.now(UTC):%Y-%m-%d %H:%M}Z).")
