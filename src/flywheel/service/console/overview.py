"""The overview an operator asks for first, read from the state database and the chain.

One gatherer for `flywheel status` and the console's front page, so both say the same thing:
breaker, last and next epoch, balances, carried and quarantined fees, the ads reserve and how
far it is from the smallest campaign (ADS_MIN_BUDGET_USD).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from solders.pubkey import Pubkey

from flywheel.config.settings import Settings
from flywheel.domain.epoch_state import EpochMode, EpochState
from flywheel.domain.fees import FeeReceipt, ReceiptStatus, RejectedFee
from flywheel.persistence.store import AdsEntry, SqliteStore
from flywheel.service.ads_failures import LOOKBACK_EPOCHS, consecutive_ads_failures
from flywheel.service.circuit_breaker import BreakerState, CircuitBreaker
from flywheel.solana.rpc import RpcClient

BALANCE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Balance:
    role: str
    pubkey: str
    lamports: int | None  # None: the RPC did not answer (see `error`)
    error: str = ""


@dataclass(frozen=True)
class Overview:
    breaker: BreakerState
    breaker_failures: int
    breaker_retry_at: datetime | None
    last_epoch: EpochState | None
    last_success: EpochState | None
    next_epoch: datetime | None  # an estimate unless the running service said it
    carried_lamports: int
    quarantined: list[FeeReceipt]
    ads_available_micro_usd: int
    ads_min_budget_micro_usd: int
    ads_spent_micro_usd: int
    pending_ads: list[AdsEntry]
    rejected: list[RejectedFee] = field(default_factory=list)  # by `fees reject`: never spent
    ads_consecutive_failures: int = 0  # the latest epochs' ads steps that failed in a row

    @property
    def quarantined_lamports(self) -> int:
        return sum(r.lamports for r in self.quarantined)

    @property
    def ads_progress_percent(self) -> int:
        """How far the ads reserve is toward the smallest campaign, 0-100."""
        if self.ads_min_budget_micro_usd <= 0:
            return 100
        return max(0, min(100, self.ads_available_micro_usd * 100 // self.ads_min_budget_micro_usd))


def breaker_for(settings: Settings, store: SqliteStore) -> CircuitBreaker:
    return CircuitBreaker(
        store,
        threshold=settings.circuit_breaker_threshold,
        timeout_seconds=settings.circuit_breaker_timeout_seconds,
    )


def pending_ads_specs(entries: list[AdsEntry]) -> list[AdsEntry]:
    """Committed campaign specs nobody has launched or released yet."""
    closed = {
        e.epoch_id
        for e in entries
        if (e.kind == "committed" and e.campaign_id) or e.kind == "released"
    }
    return [
        e for e in entries if e.kind == "committed" and e.micro_usd > 0 and e.epoch_id not in closed
    ]


def read_overview(
    settings: Settings, store: SqliteStore, *, next_epoch: datetime | None = None
) -> Overview:
    """Everything but the balances, from the state database alone (no network)."""
    breaker = breaker_for(settings, store)
    last = store.last_finished_epoch(EpochMode.LIVE)
    success = next(
        (
            e
            for e in store.epochs(limit=500)
            if e.mode is EpochMode.LIVE and e.status.buyback_succeeded
        ),
        None,
    )
    if next_epoch is None and settings.enable_scheduler and last and last.finished_at:
        next_epoch = last.finished_at + timedelta(seconds=settings.epoch_interval_seconds)
    return Overview(
        breaker=breaker.state,
        breaker_failures=breaker.failures,
        breaker_retry_at=breaker.retry_at,
        last_epoch=last,
        last_success=success,
        next_epoch=next_epoch,
        carried_lamports=store.carried_lamports(EpochMode.LIVE),
        quarantined=store.receipts(ReceiptStatus.QUARANTINED),
        ads_available_micro_usd=store.ads_available_micro_usd(),
        ads_min_budget_micro_usd=settings.ads_min_budget_micro_usd,
        ads_spent_micro_usd=store.ads_balance()["spent"],
        pending_ads=pending_ads_specs(store.ads_entries()),
        rejected=store.rejected_receipts(),
        ads_consecutive_failures=consecutive_ads_failures(store.epochs(limit=LOOKBACK_EPOCHS)),
    )


def wallets_of(settings: Settings) -> list[tuple[str, Pubkey]]:
    """Every wallet the configuration names, by role."""
    wallets = [
        ("executor", settings.executor_pubkey()),
        ("fee collector", settings.fee_collector_pubkey),
    ]
    if settings.treasury_pubkey is not None:
        wallets.append(("treasury", settings.treasury_pubkey))
    if settings.ads_treasury_pubkey is not None:
        wallets.append(("ads treasury", settings.ads_treasury_pubkey))
    return wallets


async def read_balances(
    rpc: RpcClient, wallets: list[tuple[str, Pubkey]], seconds: float = BALANCE_TIMEOUT_S
) -> list[Balance]:
    """SOL balances; an RPC that fails or hangs gives an error per wallet, never an exception,
    because an overview is most needed exactly when something is down."""

    async def one(role: str, pubkey: Pubkey) -> Balance:
        try:
            lamports = await asyncio.wait_for(rpc.get_balance(pubkey), seconds)
        except TimeoutError:
            return Balance(role, str(pubkey), None, f"RPC did not answer within {seconds:g} s")
        except Exception as exc:  # any failure is shown in place of the figure
            return Balance(role, str(pubkey), None, f"{type(exc).__name__}: {exc}")
        return Balance(role, str(pubkey), lamports)

    return list(await asyncio.gather(*(one(role, key) for role, key in wallets)))
