"""Prometheus metrics of the service, on their own registry and their own port (METRICS_PORT).

    flywheel_epochs_total{status}            succeeded | failed | ads-failed (only the ads step:
                                             the buyback stands) | interrupted (a transaction
                                             was in flight: the epoch resumes on the next run)
    flywheel_ads_failures_total              epochs whose ads step failed (not the breaker's)
    flywheel_ads_consecutive_failures        the latest epochs' ads steps failed in a row (read
                                             from the state at each scrape; 0 once one works)
    flywheel_epochs_skipped_total{reason}    breaker-open | busy | locked (a due epoch not run)
    flywheel_errors_total{kind}              one per epoch error, by error class
    flywheel_circuit_breaker_state           0 closed, 1 open, 0.5 half-open (one trial allowed);
                                             the runbook's alert is `== 1`, which half-open is not
    flywheel_last_epoch_timestamp_seconds    when the last epoch finished (any status)
    flywheel_last_success_timestamp_seconds  when the last successful epoch finished
    flywheel_epoch_duration_seconds          histogram of whole epochs
    flywheel_fees_detected_lamports_total    fees detected (lamports)
    flywheel_buyback_spent_lamports_total    SOL spent on buybacks (lamports)
    flywheel_tokens_bought_total             tokens bought (token base units)
    flywheel_tokens_burned_total             tokens burned (token base units)
    flywheel_ads_budget_usd_total            ads budgets committed to campaigns (USD; not plans)
    flywheel_rpc_requests_total{method,outcome}, flywheel_rpc_request_duration_seconds{method}
    flywheel_executor_balance_lamports       the executor's SOL balance at the last check
    flywheel_fee_collector_balance_lamports  the fee collector's, at the same check
    flywheel_carried_lamports                unspent, carried to the next epoch   } read from
    flywheel_quarantined_lamports            fees held back for review            } the state at
    flywheel_ads_reserve_usd                 ads budget accrued, not committed    } each scrape
    flywheel_info{version,mode,ads_mode}     always 1

Money is exact in the journal; Prometheus values are floats, which is fine for monitoring.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, make_asgi_app

from flywheel.domain.ads import AdsStatus
from flywheel.domain.epoch_state import EpochMode, EpochState, EpochStatus
from flywheel.service.ads_failures import (
    LOOKBACK_EPOCHS,
    ads_step_failed,
    consecutive_ads_failures,
)
from flywheel.service.circuit_breaker import BreakerState

BREAKER_VALUES = {BreakerState.CLOSED: 0.0, BreakerState.OPEN: 1.0, BreakerState.HALF_OPEN: 0.5}
EPOCH_STATUSES = ("succeeded", "failed", "ads-failed", "interrupted")
SKIP_REASONS = ("breaker-open", "busy", "locked")
# Epochs run from seconds (nothing to do) to minutes (swaps waiting for confirmation).
DURATION_BUCKETS = (1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800)
# The error classes an epoch reports most; others appear at their first occurrence.
ERROR_KINDS = (
    "GuardRefused",
    "OperationalError",
    "TemporaryError",
    "RateLimited",
    "StaleTransaction",
    "InFlight",
    "JupiterApiError",
)

_FINISHED = (EpochStatus.SUCCEEDED, EpochStatus.FAILED, EpochStatus.ADS_FAILED)
# Ads outcomes whose budget was committed this epoch (accrued waits for a later one; a dry-run
# plan commits nothing and shows the same accruing budget again each epoch: never counted).
_BUDGETED = (AdsStatus.PENDING_OPERATOR, AdsStatus.LAUNCHED)


class StateFigures(Protocol):
    """The part of the store the state gauges read (SqliteStore implements it)."""

    def carried_lamports(self, mode: EpochMode) -> int: ...
    def receipt_totals(self) -> dict[str, int]: ...
    def ads_available_micro_usd(self) -> int: ...
    def epochs(self, limit: int = 20) -> Iterator[EpochState]: ...


class FlywheelMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self._define_epoch_metrics(r)
        self._define_flow_metrics(r)
        self._define_balance_metrics(r)
        self.info = Info("flywheel", "Version and modes of this service", registry=r)
        self._seed_series()

    def _define_epoch_metrics(self, r: CollectorRegistry) -> None:
        """How epochs ran: outcomes, skips, errors, the breaker, timestamps and durations."""
        self.epochs = Counter("flywheel_epochs", "Epochs run, by outcome", ["status"], registry=r)
        self.skipped = Counter(
            "flywheel_epochs_skipped", "Epochs not started, by reason", ["reason"], registry=r
        )
        self.errors = Counter("flywheel_errors", "Errors, by kind", ["kind"], registry=r)
        self.breaker = Gauge(
            "flywheel_circuit_breaker_state",
            "Circuit breaker: 0 closed, 1 open, 0.5 half-open",
            registry=r,
        )
        self.last_epoch = Gauge(
            "flywheel_last_epoch_timestamp_seconds",
            "Unix time the last epoch finished (any status)",
            registry=r,
        )
        self.last_success = Gauge(
            "flywheel_last_success_timestamp_seconds",
            "Unix time the last successful epoch finished",
            registry=r,
        )
        self.ads_failures = Counter(
            "flywheel_ads_failures",
            "Epochs whose ads step failed (they do not count for the circuit breaker)",
            registry=r,
        )
        self.ads_consecutive_failures = Gauge(
            "flywheel_ads_consecutive_failures",
            "The latest epochs whose ads step failed in a row",
            registry=r,
        )
        self.duration = Histogram(
            "flywheel_epoch_duration_seconds",
            "Duration of whole epochs",
            buckets=DURATION_BUCKETS,
            registry=r,
        )

    def _define_flow_metrics(self, r: CollectorRegistry) -> None:
        """What moved: fees, buybacks, tokens, ads budgets, and the RPC traffic behind them."""
        self.fees = Counter(
            "flywheel_fees_detected_lamports", "Fees detected, in lamports", registry=r
        )
        self.spent = Counter(
            "flywheel_buyback_spent_lamports", "SOL spent on buybacks, in lamports", registry=r
        )
        self.bought = Counter(
            "flywheel_tokens_bought", "Tokens bought back, in base units", registry=r
        )
        self.burned = Counter("flywheel_tokens_burned", "Tokens burned, in base units", registry=r)
        self.ads_budget = Counter(
            "flywheel_ads_budget_usd", "Ads budget committed to campaigns, in USD", registry=r
        )
        self.rpc_requests = Counter(
            "flywheel_rpc_requests",
            "Solana RPC requests, by method and outcome",
            ["method", "outcome"],
            registry=r,
        )
        self.rpc_latency = Histogram(
            "flywheel_rpc_request_duration_seconds",
            "Solana RPC request latency",
            ["method"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )

    def _define_balance_metrics(self, r: CollectorRegistry) -> None:
        """Balances at the last check, and the state's carried, quarantined and reserved sums."""
        self.executor_balance = Gauge(
            "flywheel_executor_balance_lamports",
            "Executor SOL balance at the last check, in lamports",
            registry=r,
        )
        self.fee_collector_balance = Gauge(
            "flywheel_fee_collector_balance_lamports",
            "Fee collector SOL balance at the last check, in lamports",
            registry=r,
        )
        self.carried = Gauge(
            "flywheel_carried_lamports", "Unspent lamports carried to the next epoch", registry=r
        )
        self.quarantined = Gauge(
            "flywheel_quarantined_lamports", "Fees held back for review, in lamports", registry=r
        )
        self.ads_reserve = Gauge(
            "flywheel_ads_reserve_usd", "Ads budget accrued and not committed, in USD", registry=r
        )

    def _seed_series(self) -> None:
        # Series exist from the start, so rate() and alerts see a 0 before the first event.
        for status in EPOCH_STATUSES:
            self.epochs.labels(status=status)
        for reason in SKIP_REASONS:
            self.skipped.labels(reason=reason)
        for kind in ERROR_KINDS:
            self.errors.labels(kind=kind)
        # Unknown until the first balance read: NaN, so a "balance low" alert cannot fire on a
        # service that simply has not been able to ask yet (the runbook's scenario 6 at start).
        self.executor_balance.set(math.nan)
        self.fee_collector_balance.set(math.nan)

    def watch_state(self, state: StateFigures) -> None:
        """Carried, quarantined and the ads reserve, read from the state at every scrape (so
        a `fees release` from the command line shows at once); NaN if it cannot be read."""

        def reading(read: Callable[[], float]) -> Callable[[], float]:
            def value() -> float:
                try:
                    return read()
                except Exception:  # a scrape must answer; NaN says "unknown"
                    return math.nan

            return value

        self.carried.set_function(reading(lambda: state.carried_lamports(EpochMode.LIVE)))
        self.quarantined.set_function(reading(lambda: state.receipt_totals()["quarantined"]))
        self.ads_reserve.set_function(
            reading(lambda: float(Decimal(state.ads_available_micro_usd()) / 1_000_000))
        )
        self.ads_consecutive_failures.set_function(
            reading(lambda: consecutive_ads_failures(state.epochs(limit=LOOKBACK_EPOCHS)))
        )

    def set_info(self, *, version: str, mode: str, ads_mode: str) -> None:
        self.info.info({"version": version, "mode": mode, "ads_mode": ads_mode})

    def observe_epoch(self, state: EpochState, seconds: float) -> None:
        """Count one finished epoch (its journal) that took `seconds`."""
        status = state.status.value if state.status in _FINISHED else "failed"
        self.epochs.labels(status=status).inc()
        if ads_step_failed(state):
            self.ads_failures.inc()
        self.duration.observe(seconds)
        for error in state.errors:
            self.errors.labels(kind=error.kind).inc()
        self.fees.inc(state.fees_in_lamports)
        self.spent.inc(state.buyback_spent_lamports)
        self.bought.inc(state.tokens_bought)
        if state.destination == "burn":
            self.burned.inc(state.tokens_settled)
        ads = state.ads
        if ads is not None and ads.spec is not None and ads.status in _BUDGETED:
            self.ads_budget.inc(float(Decimal(ads.spec.budget_micro_usd) / 1_000_000))
        if state.finished_at is not None:
            self.last_epoch.set(state.finished_at.timestamp())
            if state.status.buyback_succeeded:
                self.last_success.set(state.finished_at.timestamp())

    def observe_unfinished(self, kind: str, seconds: float, *, interrupted: bool) -> None:
        """An epoch that ended by an exception instead of a journal (see `EpochRunner.run`)."""
        self.epochs.labels(status="interrupted" if interrupted else "failed").inc()
        self.duration.observe(seconds)
        self.errors.labels(kind=kind).inc()

    def seed_history(self, last: EpochState | None, last_success: EpochState | None) -> None:
        """At start-up: the timestamps of epochs run before this process."""
        if last is not None and last.finished_at is not None:
            self.last_epoch.set(last.finished_at.timestamp())
        if last_success is not None and last_success.finished_at is not None:
            self.last_success.set(last_success.finished_at.timestamp())

    def skip(self, reason: str) -> None:
        self.skipped.labels(reason=reason).inc()

    def error(self, kind: str) -> None:
        self.errors.labels(kind=kind).inc()

    def rpc_hook(self, method: str, outcome: str, seconds: float) -> None:
        """`flywheel.solana.rpc.RpcHook`: called after every RPC attempt."""
        self.rpc_requests.labels(method=method, outcome=outcome).inc()
        self.rpc_latency.labels(method=method).observe(seconds)

    def asgi_app(self) -> Callable[..., object]:
        return make_asgi_app(registry=self.registry)

    def sample(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """One sample's value (tests and the bench read the registry through this)."""
        return self.registry.get_sample_value(name, labels or {})
