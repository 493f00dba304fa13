"""`flywheel run` (the service: scheduler + HTTP + metrics until SIGTERM) and
`flywheel reset-circuit-breaker` (the runbook's webhook reset, also while the service is down)."""

from __future__ import annotations

import asyncio
import math

import typer

from flywheel.commands.common import EnvFile, console, load_settings
from flywheel.config.settings import Settings
from flywheel.domain.epoch_state import EpochMode
from flywheel.errors import EpochLocked, FlywheelError, OperationalError
from flywheel.persistence.store import SqliteStore
from flywheel.service.circuit_breaker import CircuitBreaker
from flywheel.service.console.app import console_for
from flywheel.service.epoch_lock import FileLock, lock_path_for, service_lock_path_for
from flywheel.service.metrics import FlywheelMetrics
from flywheel.service.notifications import notifier_from
from flywheel.service.service import FlywheelService, ServiceOptions


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("reset-circuit-breaker")(reset_circuit_breaker)


def breaker_for(settings: Settings, store: SqliteStore) -> CircuitBreaker:
    return CircuitBreaker(
        store,
        threshold=settings.circuit_breaker_threshold,
        timeout_seconds=settings.circuit_breaker_timeout_seconds,
    )


def service_options(settings: Settings) -> ServiceOptions:
    secret = settings.webhook_secret
    return ServiceOptions(
        lock_path=lock_path_for(settings.state_db_path),
        interval_seconds=settings.epoch_interval_seconds,
        jitter_seconds=settings.epoch_jitter_seconds,
        enable_scheduler=settings.enable_scheduler,
        http_host=settings.http_host,
        http_port=settings.http_port,
        metrics_port=settings.metrics_port,
        webhook_secret=None if secret is None else secret.get_secret_value(),
        min_executor_balance_lamports=settings.min_executor_balance_lamports,
        ads_mode=settings.ads_engine_mode,
    )


def run(env_file: EnvFile = None) -> None:
    """Run the flywheel service: epochs on the schedule, /health and webhooks on HTTP_PORT,
    Prometheus metrics on METRICS_PORT, until SIGTERM or Ctrl-C (a running epoch finishes)."""
    settings = load_settings(env_file)
    service_lock = FileLock(service_lock_path_for(settings.state_db_path))
    try:
        service_lock.acquire()
    except EpochLocked:
        raise OperationalError(
            f"another `flywheel run` is using the state in {settings.state_db_path.parent}; "
            "stop it first (two services would double the epochs)"
        ) from None
    try:
        asyncio.run(_serve(settings))
    finally:
        service_lock.release()


async def _serve(settings: Settings) -> None:
    from flywheel.compose import open_flywheel  # the adapters: only when really serving

    metrics = FlywheelMetrics()
    urls = settings.notify_urls
    notifier = notifier_from(None if urls is None else urls.get_secret_value())
    async with open_flywheel(settings, EpochMode.LIVE, rpc_hook=metrics.rpc_hook) as flywheel:
        metrics.watch_state(flywheel.store)

        async def balances() -> int:
            # The fee collector's balance rides on the executor's check (same schedule, same
            # error handling in the service); it is the executor's that alerts.
            try:
                collector = float(await flywheel.rpc.get_balance(settings.fee_collector_pubkey))
            except FlywheelError:  # unknown, and it must not hide the executor's figure
                collector = math.nan
            metrics.fee_collector_balance.set(collector)
            return await flywheel.executor_balance()

        service = FlywheelService(
            trigger=flywheel.run_epoch,
            history=flywheel.store,
            breaker=breaker_for(settings, flywheel.store),
            metrics=metrics,
            options=service_options(settings),
            notifier=notifier,
            balance=balances,
            console=lambda backend: console_for(settings, flywheel.store, backend, flywheel.rpc),
        )
        await service.serve()


def reset_circuit_breaker(env_file: EnvFile = None) -> None:
    """Close the circuit breaker (same as POST /webhook/reset-circuit-breaker); a running
    service sees it at once, and it works while the service is down."""
    settings = load_settings(env_file)
    with SqliteStore.open(settings.state_db_path) as store:
        transition = breaker_for(settings, store).reset()
    console().print(f"circuit breaker closed (was {transition.before.value})")
