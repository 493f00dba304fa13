"""The console's routes for one service: its settings, state, RPC client and webhook secret."""

from __future__ import annotations

from starlette.routing import BaseRoute

from flywheel.config.settings import Settings
from flywheel.persistence.store import SqliteStore
from flywheel.service.console.auth import ConsoleAuth
from flywheel.service.console.pages import ConsoleContext
from flywheel.service.console.routes import console_routes
from flywheel.service.http_app import WebhookBackend
from flywheel.solana.rpc import RpcClient


def console_for(
    settings: Settings, store: SqliteStore, service: WebhookBackend, rpc: RpcClient | None
) -> list[BaseRoute]:
    secret = settings.webhook_secret
    auth = ConsoleAuth(None if secret is None else secret.get_secret_value())
    return console_routes(ConsoleContext(settings, store, service, rpc), auth)
