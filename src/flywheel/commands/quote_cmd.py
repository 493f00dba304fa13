"""`flywheel quote`: the runbook's "Test DEX Quote", with what the guard would demand.

Nothing is built or signed: one quote request to JUPITER_API_URL, then arithmetic.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from flywheel.commands.common import EnvFile, console, load_settings
from flywheel.domain.money import LAMPORTS_PER_SOL, format_sol
from flywheel.domain.trade import Quote
from flywheel.jupiter.client import JupiterClient
from flywheel.reports.common import realized_price

DEFAULT_SOL = "0.001"  # the runbook's example: amount=1000000 lamports

BPS = 10_000


def register(app: typer.Typer) -> None:
    app.command("quote")(quote)


def guard_minimum(out_amount: int, max_slippage_bps: int) -> int:
    """The least the swap may deliver by our own limit: outAmount less our slippage room,
    rounded down (an integer of base units; rounding up could refuse an exact fill)."""
    return out_amount * (BPS - max_slippage_bps) // BPS


def _lamports(sol: str) -> int:
    try:
        value = Decimal(sol)
    except InvalidOperation:
        raise typer.BadParameter(f"{sol!r} is not a number of SOL", param_hint="'--sol'") from None
    lamports = value * LAMPORTS_PER_SOL
    if not value.is_finite() or lamports != lamports.to_integral_value() or lamports <= 0:
        raise typer.BadParameter(
            f"{sol} SOL must be positive with at most 9 decimals", param_hint="'--sol'"
        )
    return int(lamports)


def quote(
    sol: Annotated[
        str, typer.Option("--sol", metavar="X", help="SOL to quote into the token.")
    ] = DEFAULT_SOL,
    env_file: EnvFile = None,
) -> None:
    """Quote X SOL into the token: the quote, its price impact, and the minimum the
    transaction guard would require. Nothing is signed or sent."""
    in_lamports = _lamports(sol)
    settings = load_settings(env_file)

    async def ask() -> Quote:
        async with JupiterClient(
            base_url=settings.jupiter_api_url,
            token_mint=str(settings.token_mint),
            user_pubkey=str(settings.executor_pubkey()),
            max_slippage_bps=settings.swap_slippage_bps,
            api_key=(
                settings.jupiter_api_key.get_secret_value() if settings.jupiter_api_key else None
            ),
        ) as jupiter:
            return await jupiter.quote(in_lamports)

    answer = asyncio.run(ask())
    ours = guard_minimum(answer.out_amount, settings.swap_slippage_bps)
    impact_ok = answer.price_impact_bps <= settings.max_price_impact_bps
    table = Table(
        title=f"Quote {format_sol(in_lamports)} -> {settings.token_mint}", title_justify="left"
    )
    table.add_column("what", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_row("out amount", f"{answer.out_amount} base units")
    table.add_row(
        "price", f"{realized_price(in_lamports, answer.out_amount)} lamports per base unit"
    )
    table.add_row(
        "price impact",
        Text(
            f"{answer.price_impact_bps} bps (limit MAX_PRICE_IMPACT_BPS="
            f"{settings.max_price_impact_bps}: "
            + ("within" if impact_ok else "over, an epoch would buy a smaller amount")
            + ")",
            style="" if impact_ok else "yellow",
        ),
    )
    table.add_row(
        "guard minimum",
        f"{ours} base units (out amount less {settings.swap_slippage_bps} bps: the least of "
        f"MAX_SLIPPAGE_BPS={settings.max_slippage_bps}, SLIPPAGE_MARGIN_BPS="
        f"{settings.slippage_margin_bps})",
    )
    table.add_row(
        "Jupiter's threshold", f"{answer.min_out_amount} (slippage {answer.slippage_bps} bps)"
    )
    table.add_row("signed", "nothing: this is a quote only")
    console().print(table)
