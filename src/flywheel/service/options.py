"""What the service is built from: its options, and the callables and store part it takes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from flywheel import __version__
from flywheel.domain.epoch_state import EpochMode, EpochState

EpochTrigger = Callable[[], Awaitable[EpochState]]
BalanceProbe = Callable[[], Awaitable[int]]


class EpochHistory(Protocol):
    """The part of the store the service reads (SqliteStore implements it)."""

    def last_finished_epoch(self, mode: EpochMode) -> EpochState | None: ...
    def unfinished_epoch(self, mode: EpochMode) -> EpochState | None: ...
    def epochs(self, limit: int = 20) -> Iterator[EpochState]: ...


@dataclass(frozen=True)
class ServiceOptions:
    lock_path: Path
    interval_seconds: float = 3600
    jitter_seconds: float = 0
    enable_scheduler: bool = True
    http_host: str = "127.0.0.1"
    http_port: int = 3000
    metrics_port: int = 9090
    webhook_secret: str | None = None
    min_executor_balance_lamports: int = 100_000_000
    ads_mode: str = "dry-run"
    version: str = __version__
    shutdown_grace_seconds: float = 60.0
    balance_timeout_seconds: float = 15.0
