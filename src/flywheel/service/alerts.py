"""What the service tells the operator, and when (through the `Notifier` port).

    breaker opened / closed        error / success
    epoch failed or interrupted    error (with its errors and report)
    ads step failed (ads-failed)   warning (the buyback stands; not the breaker's business)
    fees quarantined               warning (runbook scenario 7: review before they are spent)
    manual ads campaign ready      info (the spec to create by hand)
    executor balance low           warning, once when it drops below MIN_EXECUTOR_BALANCE_SOL,
                                   again only after it has recovered (no hourly repeats)

Notifications are sent in the background: a slow or failing notification service never delays
an epoch or the health endpoint. `drain()` waits (bounded) for those in flight at shutdown.
"""

from __future__ import annotations

import asyncio
import json

import structlog

from flywheel.domain.ads import AdsStatus
from flywheel.domain.epoch_state import EpochState, EpochStatus
from flywheel.ports import Notifier
from flywheel.service.circuit_breaker import BreakerState, CircuitBreaker, Transition

log = structlog.get_logger("flywheel.alerts")

LAMPORTS_PER_SOL = 10**9


def sol_text(lamports: int) -> str:
    whole, frac = divmod(lamports, LAMPORTS_PER_SOL)
    return f"{whole}.{frac:09d}".rstrip("0").rstrip(".") + " SOL"


class Alerts:
    def __init__(self, notifier: Notifier, min_balance_lamports: int) -> None:
        self._notifier = notifier
        self.min_balance_lamports = min_balance_lamports
        self._balance_low = False
        self._pending: set[asyncio.Task[None]] = set()

    def send(self, title: str, body: str, level: str) -> None:
        task = asyncio.create_task(self._deliver(title, body, level))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _deliver(self, title: str, body: str, level: str) -> None:
        try:
            await self._notifier.notify(title, body, level=level)
        except Exception as exc:  # the port promises not to raise; be sure
            log.warning("notify.failed", title=title, error=type(exc).__name__)

    async def drain(self, timeout_seconds: float = 10.0) -> None:
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=timeout_seconds)

    # --- the events -----------------------------------------------------------------------

    def breaker(self, transition: Transition, breaker: CircuitBreaker) -> None:
        if not transition.changed:
            return
        if transition.after is BreakerState.OPEN:
            retry = breaker.retry_at
            self.send(
                "Flywheel: circuit breaker OPEN",
                f"{breaker.failures} consecutive epochs failed; epochs are stopped until "
                f"{retry.isoformat() if retry else 'the timeout'} (then one trial epoch). "
                "Find the cause in the logs and the last report (runbook scenario 2); reset "
                "with `flywheel reset-circuit-breaker` or POST /webhook/reset-circuit-breaker.",
                "error",
            )
        elif transition.after is BreakerState.CLOSED:
            self.send(
                "Flywheel: circuit breaker closed",
                f"The breaker is closed again (was {transition.before.value}); epochs resume.",
                "success",
            )

    def after_epoch(self, state: EpochState) -> None:
        if state.status is EpochStatus.FAILED:
            errors = "; ".join(f"{e.step}: {e.kind}: {e.message}" for e in state.errors)
            self.send(
                f"Flywheel: epoch {state.id} failed",
                f"{errors or 'no error recorded'}\nreport: {state.report_path or '(none)'}",
                "error",
            )
        elif state.status is EpochStatus.ADS_FAILED:
            errors = "; ".join(f"{e.kind}: {e.message}" for e in state.errors)
            self.send(
                f"Flywheel: the ads step of epoch {state.id} failed",
                f"{errors}\nThe buyback stands and the ads budget stays available for the next"
                " campaign; this does not count toward the circuit breaker. Fix the cause"
                f" (docs/ads.md).\nreport: {state.report_path or '(none)'}",
                "warning",
            )
        if state.quarantined_signatures:
            self.send(
                f"Flywheel: fees quarantined in epoch {state.id}",
                f"{len(state.quarantined_signatures)} inflow(s) exceeded the fee limits and were "
                "held back for review (runbook scenario 7): "
                + ", ".join(state.quarantined_signatures),
                "warning",
            )
        ads = state.ads
        if ads is not None and ads.status is AdsStatus.PENDING_OPERATOR and ads.spec is not None:
            self.send(
                f"Flywheel: ads campaign ready for epoch {state.id}",
                "Create this campaign in X Ads:\n"
                + json.dumps(ads.spec.model_dump(mode="json"), indent=2, sort_keys=True),
                "info",
            )

    def epoch_exception(self, epoch_id: str | None, exc: Exception, *, interrupted: bool) -> None:
        what = (
            "interrupted (a transaction in flight; resumes next run)" if interrupted else "failed"
        )
        self.send(
            f"Flywheel: epoch {epoch_id or '(unknown)'} {what}",
            f"{type(exc).__name__}: {exc}",
            "error",
        )

    def balance(self, lamports: int) -> None:
        low = lamports < self.min_balance_lamports
        if low and not self._balance_low:
            self.send(
                "Flywheel: executor balance low",
                f"The executor holds {sol_text(lamports)}, below the "
                f"{sol_text(self.min_balance_lamports)} minimum: fund it or transactions fail.",
                "warning",
            )
        self._balance_low = low
