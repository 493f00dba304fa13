"""FlywheelService: the long-running `flywheel run` around an epoch trigger.

It runs epochs (from the scheduler or the webhook) one at a time, gated by the circuit breaker
and the cross-process epoch lock; counts them in the metrics; tells the operator what needs a
person; answers /health; and on SIGTERM/SIGINT takes no new work, lets the running epoch finish
(bounded; the runner journals every step, so cancelling one that overstays is resumed by the
next run), then exits.

It takes abstractions, not the composition: an `EpochTrigger` (run or resume one epoch), the
epoch history (the store), an optional executor balance probe.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any

import structlog
from starlette.routing import BaseRoute

from flywheel.domain.epoch_state import EpochMode, EpochState
from flywheel.errors import EpochLocked, InFlight, OperationalError, StateFileGone
from flywheel.ports import Notifier
from flywheel.service.alerts import Alerts
from flywheel.service.circuit_breaker import BreakerState, CircuitBreaker, Transition
from flywheel.service.draining import between_slices, drain
from flywheel.service.epoch_lock import FileLock
from flywheel.service.health import HealthFacts, health_report
from flywheel.service.http_app import (
    TriggerResult,
    WebhookBackend,
    build_http_app,
    usable_secret,
    webhook_status_reason,
)
from flywheel.service.metrics import BREAKER_VALUES, FlywheelMetrics
from flywheel.service.notifications import NullNotifier
from flywheel.service.options import BalanceProbe, EpochHistory, EpochTrigger, ServiceOptions
from flywheel.service.scheduler import Scheduler
from flywheel.service.servers import BackgroundServer, bind_sockets, install_stop_signals

log = structlog.get_logger("flywheel.service")

# Re-exported: the service's callers build it from these.
__all__ = ["BalanceProbe", "EpochHistory", "EpochTrigger", "FlywheelService", "ServiceOptions"]


class FlywheelService:
    def __init__(
        self,
        *,
        trigger: EpochTrigger,
        history: EpochHistory,
        breaker: CircuitBreaker,
        metrics: FlywheelMetrics,
        options: ServiceOptions,
        notifier: Notifier | None = None,
        balance: BalanceProbe | None = None,
        mode: EpochMode = EpochMode.LIVE,
        now: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,  # the scheduler's, with `now`
        console: Callable[[WebhookBackend], list[BaseRoute]] | None = None,
    ) -> None:
        self._trigger = trigger
        self._history = history
        self.breaker = breaker
        self.metrics = metrics
        self.options = options
        self._balance = balance
        self.mode = mode
        self._now, self._sleep = now, sleep
        self._console = console
        self.started_at = now()
        self.alerts = Alerts(notifier or NullNotifier(), options.min_executor_balance_lamports)
        self._task: asyncio.Task[EpochState | None] | None = None
        self._current_id: str | None = None
        self._stopping = False
        self._stop = asyncio.Event()
        self._scheduler: Scheduler | None = None
        # Why the service must stop (its state file vanished or was replaced), once it must.
        self.fatal: str | None = None
        self._servers: list[BackgroundServer] = []
        self.last_success_at: datetime | None = self._seed_history()
        metrics.set_info(version=options.version, mode=mode.value, ads_mode=options.ads_mode)
        # Read at every scrape: a reset by the CLI or an elapsed timeout shows at once.
        metrics.breaker.set_function(lambda: BREAKER_VALUES[self.breaker.state])

    # --- starting epochs ----------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None

    def try_start(self, source: str) -> TriggerResult:
        """Start an epoch in the background now, or say why not. Synchronous, so two callers
        in this event loop can never both pass the check (the in-process lock)."""
        if self._stopping:
            return TriggerResult("stopping")
        if self._task is not None:
            self.metrics.skip("busy")
            return TriggerResult("busy", epoch_id=self.current_epoch_id())
        lock = FileLock(self.options.lock_path)
        try:
            lock.acquire()
        except EpochLocked:
            self.metrics.skip("locked")
            log.warning("epoch.skipped", source=source, reason="another process holds the lock")
            return TriggerResult("locked")
        if not self.breaker.allow():
            lock.release()
            self.metrics.skip("breaker-open")
            log.warning("epoch.skipped", source=source, reason="circuit breaker open")
            return TriggerResult("breaker-open", retry_at=self.breaker.retry_at)
        self._current_id = None
        self._task = asyncio.create_task(self._execute(lock, source))
        return TriggerResult("accepted")

    async def trigger(self, source: str) -> TriggerResult:
        """Start an epoch and return once its journal id is known (the webhook's answer); a
        refusal because one runs carries that one's id."""
        result = self.try_start(source)
        task = self._task
        if result.status not in ("accepted", "busy") or task is None:
            return result
        # The runner journals the epoch (and so its id) before its first await.
        for _ in range(100):
            await asyncio.sleep(0)
            if task.done():
                state = None if task.cancelled() else task.result()
                return replace(result, epoch_id=None if state is None else state.id)
            epoch_id = self.current_epoch_id()
            if epoch_id is not None:
                return replace(result, epoch_id=epoch_id)
            await asyncio.sleep(0.01)
        return result

    def current_epoch_id(self) -> str | None:
        """The id of the epoch running now, if any (and once it is journaled)."""
        if self._task is None:
            return None
        if self._current_id is None:
            self._current_id = self._probe_epoch_id()
        return self._current_id

    async def run_scheduled(self) -> EpochState | None:
        """The scheduler's tick: one epoch if it may run; never raises."""
        result = self.try_start("scheduler")
        if result.status != "accepted" or self._task is None:
            return None
        return await asyncio.shield(self._task)

    def _probe_epoch_id(self) -> str | None:
        try:
            state = self._history.unfinished_epoch(self.mode)
        except Exception:  # the id is informative; the epoch runs regardless
            return None
        return None if state is None else state.id

    async def _execute(self, lock: FileLock, source: str) -> EpochState | None:
        log.info("epoch.start", source=source)
        started = time.monotonic()
        state: EpochState | None = None
        try:
            try:
                state = await self._trigger()
            finally:
                lock.release()
            seconds = time.monotonic() - started
            self._current_id = state.id
            self.metrics.observe_epoch(state, seconds)
            if state.status.buyback_succeeded:
                # An ads-failed epoch's buyback stands: not a failure for the breaker (the ads
                # failures have their own count, metric and alert: service.ads_failures).
                self.last_success_at = state.finished_at
                self._breaker_changed(self.breaker.record_success())
            else:
                self._breaker_changed(self.breaker.record_failure())
            self.alerts.after_epoch(state)
        except asyncio.CancelledError:
            self.breaker.release()
            log.warning("epoch.cancelled", epoch_id=self._current_id, note="resumes next run")
            raise
        except Exception as exc:  # any failure is an epoch outcome, not a crash
            interrupted = isinstance(exc, InFlight)
            self.metrics.observe_unfinished(
                type(exc).__name__, time.monotonic() - started, interrupted=interrupted
            )
            epoch_id = self._current_id or self._probe_epoch_id()
            log.error(
                "epoch.interrupted" if interrupted else "epoch.crashed",
                epoch_id=epoch_id,
                error=str(exc),
                kind=type(exc).__name__,
            )
            self._breaker_changed(self.breaker.record_failure())
            self.alerts.epoch_exception(epoch_id, exc, interrupted=interrupted)
            if isinstance(exc, StateFileGone):
                self._stop_for(exc)
        finally:
            self._task = None
        await self.check_balance()
        return state

    def _breaker_changed(self, transition: Transition) -> None:
        self.alerts.breaker(transition, self.breaker)

    async def check_balance(self) -> None:
        if self._balance is None:
            return
        try:
            lamports = await asyncio.wait_for(
                self._balance(), timeout=self.options.balance_timeout_seconds
            )
        except Exception as exc:  # a balance probe must not stop the service
            self.metrics.error(type(exc).__name__)
            log.warning("balance.check_failed", error=str(exc), kind=type(exc).__name__)
            return
        self.metrics.executor_balance.set(lamports)
        self.alerts.balance(lamports)

    # --- operator actions and health ----------------------------------------------------

    def _stop_for(self, exc: StateFileGone) -> None:
        """Unhealthy from now on, and stop: every write would go to a file nobody reads."""
        if self.fatal is None:
            log.error("service.state_file_gone", error=str(exc))
            self.fatal = str(exc)
        self.request_stop()

    def reset_breaker(self) -> str:
        transition = self.breaker.reset()
        self._breaker_changed(transition)
        return transition.before.value

    def health(self) -> tuple[int, dict[str, Any]]:
        breaker: BreakerState | None = None
        last = window = None
        error: str | None = None
        try:
            breaker = self.breaker.state
            last = self._history.last_finished_epoch(self.mode)
            window = self._history.unfinished_epoch(self.mode)  # here or `flywheel epoch`'s
        except Exception as exc:  # an unreadable state is itself the answer
            error = f"state database unreadable: {exc}"
            if isinstance(exc, StateFileGone):
                self._stop_for(exc)
        if self.fatal is not None:
            error = self.fatal
        if (
            last is not None
            and last.status.buyback_succeeded
            and last.finished_at is not None
            and (self.last_success_at is None or last.finished_at > self.last_success_at)
        ):
            self.last_success_at = last.finished_at  # e.g. an epoch run by `flywheel epoch`
        opts = self.options
        return health_report(
            HealthFacts(
                now=self._now(),
                started_at=self.started_at,
                breaker=breaker,
                last=last,
                last_success_at=self.last_success_at,
                scheduler=opts.enable_scheduler,
                period_seconds=opts.interval_seconds + opts.jitter_seconds,
                next_epoch=None if self._scheduler is None else self._scheduler.next_run_at,
                running=self.running,
                current_epoch=self.current_epoch_id(),
                version=opts.version,
                mode=self.mode.value,
                ads_mode=opts.ads_mode,
                webhooks=usable_secret(opts.webhook_secret) is not None,
                error=error,
                window=window,
            )
        )

    def _seed_history(self) -> datetime | None:
        last = self._history.last_finished_epoch(self.mode)
        success = next(
            (
                e
                for e in self._history.epochs(limit=500)
                if e.mode is self.mode and e.status.buyback_succeeded
            ),
            None,
        )
        self.metrics.seed_history(last, success)
        return None if success is None else success.finished_at

    # --- serving ------------------------------------------------------------------------

    @property
    def http_port(self) -> int | None:
        return self._servers[0].port if self._servers else None

    @property
    def metrics_port(self) -> int | None:
        return self._servers[1].port if len(self._servers) > 1 else None

    def request_stop(self) -> None:
        """SIGTERM/SIGINT: stop taking work; `serve` then finishes and returns."""
        if not self._stop.is_set():
            log.info("service.stopping", epoch_running=self.running)
        self._stopping = True
        self._stop.set()

    async def serve(
        self, ready: Callable[[], None] | None = None, *, handle_signals: bool = True
    ) -> None:
        """Run until `request_stop` (or SIGTERM/SIGINT): HTTP, metrics, scheduler. `ready` is
        called once both servers listen (`http_port`/`metrics_port` are then known)."""
        opts = self.options
        log.info("service.webhooks", state=webhook_status_reason(opts.webhook_secret))
        http_sock, metrics_sock = bind_sockets(opts.http_host, opts.http_port, opts.metrics_port)
        app = build_http_app(self, webhook_secret=opts.webhook_secret, console=self._console)
        self._servers = [
            BackgroundServer(app, http_sock),
            BackgroundServer(self.metrics.asgi_app(), metrics_sock),
        ]
        watched: set[asyncio.Future[Any]] = {server.start() for server in self._servers}
        scheduler_task = self._start_scheduler()
        if scheduler_task is not None:
            watched.add(scheduler_task)
        signals = install_stop_signals(self.request_stop) if handle_signals else []
        log.info(
            "service.started",
            http=f"{opts.http_host}:{self.http_port}",
            metrics=f"{opts.http_host}:{self.metrics_port}",
            scheduler=opts.enable_scheduler,
            interval_seconds=opts.interval_seconds,
            jitter_seconds=opts.jitter_seconds,
        )
        await self.check_balance()
        if ready is not None:
            ready()
        if opts.enable_scheduler and self._probe_epoch_id() is not None:
            # An interrupted epoch (money may be in flight) resumes now, not an interval later.
            self.try_start("resume")
        stop_waiter = asyncio.create_task(self._stop.wait())
        try:
            done, _ = await asyncio.wait(
                {stop_waiter, *watched}, return_when=asyncio.FIRST_COMPLETED
            )
            failed = [t for t in done if t is not stop_waiter]
            for task in failed:
                log.error("service.component_stopped", error=repr(task.exception()))
        finally:
            stop_waiter.cancel()
            await self.shutdown(scheduler_task)
            for sig in signals:
                asyncio.get_running_loop().remove_signal_handler(sig)
        log.info("service.stopped")
        if self.fatal is not None:
            raise OperationalError(self.fatal)

    def _start_scheduler(self) -> asyncio.Task[None] | None:
        """The scheduler's task, counting from the last finished epoch (none when disabled)."""
        opts = self.options
        if not opts.enable_scheduler:
            return None
        last = self._history.last_finished_epoch(self.mode)
        self._scheduler = Scheduler(
            self.run_scheduled,
            interval_seconds=opts.interval_seconds,
            jitter_seconds=opts.jitter_seconds,
            last_finished_at=(last.finished_at.timestamp() if last and last.finished_at else None),
            now=self._now,
            sleep=self._sleep,
        )
        return asyncio.create_task(self._scheduler.run())

    async def shutdown(self, scheduler_task: asyncio.Task[None] | None = None) -> None:
        """Take no new work; wait (bounded) for the running epoch; stop the servers."""
        self._stopping = True
        if self._scheduler is not None:
            self._scheduler.stop()
        task = self._task
        if task is not None:
            grace = self.options.shutdown_grace_seconds
            log.info("service.waiting_for_epoch", epoch_id=self._current_id, grace_seconds=grace)
            idle = partial(between_slices, self._history, self.mode)
            if await drain(task, grace, idle):
                log.warning("service.cancelling_epoch", epoch_id=self._current_id)
        if scheduler_task is not None:
            scheduler_task.cancel()
            await asyncio.gather(scheduler_task, return_exceptions=True)
        for server in self._servers:
            await server.stop()
        await self.alerts.drain()
