"""The service around REAL epochs: an EpochRunner over a real SQLite file, driven through the
in-memory ports of tests/core/fakes.py, and the service's real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from flywheel.domain.allocation import AllocationPolicy
from flywheel.domain.epoch_state import EpochState
from flywheel.domain.policy import EpochPolicy
from flywheel.domain.trade import Landing, PreparedTx
from flywheel.epoch import EpochRunner
from flywheel.persistence.store import SqliteStore
from flywheel.ports import Notifier
from flywheel.service.circuit_breaker import CircuitBreaker
from flywheel.service.epoch_lock import lock_path_for
from flywheel.service.metrics import FlywheelMetrics
from flywheel.service.service import EpochTrigger, FlywheelService, ServiceOptions
from tests.core.fakes import (
    FixedPrice,
    Ledger,
    LedgerDex,
    LedgerFeeSource,
    LedgerWallet,
    MemoryReports,
    RecordingAds,
)

SECRET = "s3cret-" + "x" * 40  # 47 characters: long enough
START_LAMPORTS = 10 * 10**9


class SlowWallet(LedgerWallet):
    """Landing a transaction takes `delay` seconds, as on a real chain."""

    def __init__(self, ledger: Ledger, delay: float, *, malicious: bool = False) -> None:
        super().__init__(ledger, malicious=malicious)
        self.delay = delay

    async def land(self, tx: PreparedTx) -> Landing:
        await asyncio.sleep(self.delay)
        return await super().land(tx)


@dataclass
class EpochWorld:
    """A chain (Ledger) and a state file; every epoch runs a fresh EpochRunner on them."""

    db: Path
    land_delay: float = 0.0
    failing: bool = False  # the guard refuses every swap: epochs with fees fail
    fee_per_epoch: int = 10**9
    ledger: Ledger = field(default_factory=lambda: Ledger(executor_lamports=START_LAMPORTS))
    ads: RecordingAds = field(default_factory=RecordingAds)
    reports: MemoryReports = field(default_factory=MemoryReports)
    policy: EpochPolicy = field(
        default_factory=lambda: EpochPolicy(
            allocation=AllocationPolicy(
                buyback_percent=70,
                ads_percent=30,
                max_budget_per_epoch_micro_usd=1_000_000_000,
                min_sol_reserve_lamports=50_000_000,
            )
        )
    )
    store: SqliteStore | None = None
    runs: int = 0
    now: Callable[[], float] = time.time  # the epochs' clock (started_at, finished_at)

    def open(self) -> SqliteStore:
        self.store = SqliteStore.open(self.db)
        return self.store

    def runner(self) -> EpochRunner:
        assert self.store is not None
        return EpochRunner(
            store=self.store,
            fee_source=LedgerFeeSource(self.ledger),
            prices=FixedPrice(),
            dex=LedgerDex(self.ledger),
            wallet=SlowWallet(self.ledger, self.land_delay, malicious=self.failing),
            ads=self.ads,
            reports=self.reports,
            policy=self.policy,
            clock=lambda: datetime.fromtimestamp(self.now(), UTC),
        )

    async def run_epoch(self) -> EpochState:
        """The service's EpochTrigger: new fees arrive, then one epoch runs (or resumes)."""
        self.runs += 1
        if self.fee_per_epoch:
            self.ledger.pay_fee(self.fee_per_epoch, self.runs)
        return await self.runner().run()

    async def balance(self) -> int:
        return self.ledger.executor_lamports


@pytest.fixture
def world(tmp_path: Path) -> Iterator[EpochWorld]:
    w = EpochWorld(db=tmp_path / "state" / "flywheel.sqlite")
    w.open()
    yield w
    if w.store is not None:
        w.store.close()


def make_service(
    world: EpochWorld,
    *,
    now: Callable[[], float] | None = None,
    notifier: Notifier | None = None,
    threshold: int = 3,
    timeout_seconds: float = 3600,
    trigger: EpochTrigger | None = None,
    **options: Any,
) -> FlywheelService:
    assert world.store is not None
    settings: dict[str, Any] = {
        "lock_path": lock_path_for(world.db),
        "http_port": 0,
        "metrics_port": 0,
        "webhook_secret": SECRET,
        "enable_scheduler": False,
    }
    settings.update(options)
    clock: dict[str, Any] = {} if now is None else {"now": now}
    return FlywheelService(
        trigger=trigger or world.run_epoch,
        history=world.store,
        breaker=CircuitBreaker(
            world.store, threshold=threshold, timeout_seconds=timeout_seconds, **clock
        ),
        metrics=FlywheelMetrics(),
        options=ServiceOptions(**settings),
        notifier=notifier,
        balance=world.balance,
        **clock,
    )


@dataclass
class Running:
    service: FlywheelService
    http: httpx.AsyncClient
    metrics_url: str

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.service.http_port}{path}"


@asynccontextmanager
async def serving(service: FlywheelService) -> AsyncIterator[Running]:
    """The service's servers (and scheduler, if enabled) running in this event loop."""
    ready = asyncio.Event()
    task = asyncio.create_task(service.serve(ready.set, handle_signals=False))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED, timeout=10)
    if task.done():
        task.result()  # raise what stopped it
    assert ready.is_set(), "the service did not start"
    base = f"http://127.0.0.1:{service.http_port}"
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        try:
            yield Running(service, http, f"http://127.0.0.1:{service.metrics_port}/metrics")
        finally:
            service.request_stop()
            await asyncio.wait_for(task, timeout=30)


def auth(secret: str = SECRET) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}
