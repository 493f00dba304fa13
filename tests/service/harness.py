"""The service around REAL epochs: `make_service` over an EpochWorld (tests/core/fakes.py), and
`serving`, which runs the service's real HTTP servers on 127.0.0.1 in the test's event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from flywheel.ports import Notifier
from flywheel.service.circuit_breaker import CircuitBreaker
from flywheel.service.epoch_lock import lock_path_for
from flywheel.service.metrics import FlywheelMetrics
from flywheel.service.service import EpochTrigger, FlywheelService, ServiceOptions
from tests.core.fakes import EpochWorld

SECRET = "s3cret-" + "x" * 40  # 47 characters: long enough


def make_service(
    world: EpochWorld,
    *,
    now: Callable[[], float] | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
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
    waits: dict[str, Any] = {} if sleep is None else {"sleep": sleep}
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
        **waits,
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
