"""What each console page shows, gathered from the state, the chain and the running service.

Read-only: the routes decide who may see it; this module only collects and shapes the facts.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from flywheel.config.settings import Settings
from flywheel.domain.epoch_state import EpochMode, EpochState, IntentRecord
from flywheel.persistence.store import SqliteStore
from flywheel.service.console.charts import epoch_series, svg
from flywheel.service.console.explorer import tx_url
from flywheel.service.console.overview import (
    Balance,
    Overview,
    read_balances,
    read_overview,
    wallets_of,
)
from flywheel.service.http_app import WebhookBackend
from flywheel.solana.rpc import RpcClient

PAGE_SIZE = 20
CHART_EPOCHS = 500
RPC_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class ConsoleContext:
    settings: Settings
    store: SqliteStore
    service: WebhookBackend  # health, trigger, reset_breaker: the running `flywheel run`
    rpc: RpcClient | None = None


@dataclass(frozen=True)
class TxLink:
    kind: str
    status: str
    signature: str
    url: str


@dataclass(frozen=True)
class EpochRow:
    epoch: EpochState
    report_name: str | None
    transactions: list[TxLink] = field(default_factory=list)


def _next_epoch(service: WebhookBackend) -> datetime | None:
    _, body = service.health()
    text = body.get("nextEpoch")
    if not isinstance(text, str):
        return None
    with contextlib.suppress(ValueError):
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    return None


def epoch_row(ctx: ConsoleContext, epoch: EpochState) -> EpochRow:
    intents: list[IntentRecord] = [*epoch.swap_intents]
    if epoch.settle_intent is not None:
        intents.append(epoch.settle_intent)
    rpc_url, explorer = str(ctx.settings.solana_rpc_url), str(ctx.settings.explorer_url)
    links = [
        TxLink(i.kind, i.status, i.signature, tx_url(explorer, rpc_url, i.signature))
        for i in intents
        if i.signature
    ]
    name = Path(epoch.report_path).name if epoch.report_path else None
    return EpochRow(epoch, name, links)


def live_epochs(store: SqliteStore, limit: int) -> list[EpochState]:
    return [e for e in store.epochs(limit=limit) if e.mode is EpochMode.LIVE]


async def _supply(rpc: RpcClient | None, ctx: ConsoleContext) -> int | None:
    if rpc is None:
        return None
    try:
        return await asyncio.wait_for(rpc.get_token_supply(ctx.settings.token_mint), RPC_TIMEOUT_S)
    except Exception:  # the chart says the supply is unknown; the page still renders
        return None


async def _balances(ctx: ConsoleContext) -> list[Balance]:
    if ctx.rpc is None:
        return []
    try:
        wallets = wallets_of(ctx.settings)
    except Exception:  # an unreadable keypair file is `config check`'s to explain
        return []
    return await read_balances(ctx.rpc, wallets, RPC_TIMEOUT_S)


async def overview_page(ctx: ConsoleContext) -> dict[str, Any]:
    overview: Overview = read_overview(ctx.settings, ctx.store, next_epoch=_next_epoch(ctx.service))
    epochs = live_epochs(ctx.store, CHART_EPOCHS)
    balances, supply = await asyncio.gather(_balances(ctx), _supply(ctx.rpc, ctx))
    charts = [(s, svg(s)) for s in epoch_series(list(reversed(epochs)), supply)]
    _, health = ctx.service.health()
    return {
        "overview": overview,
        "balances": balances,
        "charts": charts,
        "recent": [epoch_row(ctx, e) for e in epochs[:10]],
        "health": health,
        "supply": supply,
    }


def epochs_page(ctx: ConsoleContext, page: int) -> dict[str, Any]:
    # One more than a page tells whether there is a next one.
    wanted = (page + 1) * PAGE_SIZE + 1
    epochs = live_epochs(ctx.store, wanted)
    shown = epochs[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    return {
        "rows": [epoch_row(ctx, e) for e in shown],
        "page": page,
        "has_next": len(epochs) > (page + 1) * PAGE_SIZE,
    }
