"""`flywheel epoch` (one live epoch, the runbook's `epoch:once`) and `flywheel simulate`."""

from __future__ import annotations

import asyncio

import typer

from flywheel.commands.backfill_progress import BackfillProgress
from flywheel.commands.common import EnvFile, console, load_settings
from flywheel.commands.views import epoch_table
from flywheel.domain.epoch_state import EpochMode, EpochState, EpochStatus
from flywheel.errors import EpochLocked, FlywheelError, InFlight, OperationalError
from flywheel.service.alerts import Alerts
from flywheel.service.epoch_lock import epoch_lock, lock_path_for
from flywheel.service.notifications import notifier_from


def register(app: typer.Typer) -> None:
    app.command("epoch")(epoch)
    app.command("simulate")(simulate)


def _run(mode: EpochMode, env_file: EnvFile) -> EpochState:
    from flywheel.compose import open_flywheel

    settings = load_settings(env_file)

    async def once() -> EpochState:
        # Like the service: a failed live epoch reaches the operator, not only this terminal
        # (an epoch run from cron has nobody reading its output).
        urls = settings.notify_urls
        alerts = Alerts(
            notifier_from(None if urls is None else urls.get_secret_value()),
            settings.min_executor_balance_lamports,
        )
        try:
            with BackfillProgress() as progress:
                async with open_flywheel(settings, mode, progress=progress) as flywheel:
                    state = await flywheel.run_epoch()
        except FlywheelError as exc:
            if mode is EpochMode.LIVE:
                alerts.epoch_exception(None, exc, interrupted=isinstance(exc, InFlight))
                await alerts.drain()
            raise
        if mode is EpochMode.LIVE:
            # The manual ads engine has already sent its spec: only failures and quarantines.
            alerts.after_epoch(state.model_copy(update={"ads": None}))
            await alerts.drain()
        return state

    if mode is EpochMode.SIMULATE:
        return asyncio.run(once())  # its own copy of the state: nothing to exclude
    # The same lock as the service's epochs: never two live epochs at once, across processes.
    try:
        with epoch_lock(lock_path_for(settings.state_db_path)):
            return asyncio.run(once())
    except EpochLocked:
        raise OperationalError(
            "another epoch is running on this state (the service, or another `flywheel epoch`);"
            " wait for it to finish, or use the webhook trigger"
        ) from None


def epoch(env_file: EnvFile = None) -> None:
    """Run one live epoch now (bypasses the scheduler), then exit: 0 succeeded, 1 failed."""
    state = _run(EpochMode.LIVE, env_file)
    console().print(epoch_table(state))
    if state.status != EpochStatus.SUCCEEDED:
        raise typer.Exit(1)


def simulate(env_file: EnvFile = None) -> None:
    """Run the full epoch logic with real quotes and simulated transactions: nothing is sent.

    It runs on a copy of the live state, so it shows what the next live epoch would do and
    changes nothing live mode relies on. Reports go to REPORTS_DIR/simulate/.
    """
    state = _run(EpochMode.SIMULATE, env_file)
    console().print(epoch_table(state, title=f"Simulated epoch {state.id}: nothing was sent"))
    if state.status != EpochStatus.SUCCEEDED:
        raise typer.Exit(1)
