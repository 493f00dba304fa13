"""What the RPC client counts: requests per method by outcome, and their latencies."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

RpcHook = Callable[[str, str, float], None]
"""Called after every HTTP attempt with (method, outcome, seconds)."""


@dataclass
class RpcStats:
    """Per-method request counts by outcome and latency sums; the metrics layer exports them."""

    requests: defaultdict[str, defaultdict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    latency_seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))

    def record(self, method: str, outcome: str, seconds: float) -> None:
        self.requests[method][outcome] += 1
        self.latency_seconds[method] += seconds

    def count(self, method: str, outcome: str | None = None) -> int:
        by_outcome: dict[str, int] = self.requests.get(method, {})
        if outcome is None:
            return sum(by_outcome.values())
        return by_outcome.get(outcome, 0)

    def total(self) -> int:
        """Every HTTP attempt so far, whatever its method and outcome."""
        return sum(sum(outcomes.values()) for outcomes in self.requests.values())

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": {m: dict(o) for m, o in self.requests.items()},
            "latency_seconds": dict(self.latency_seconds),
        }
