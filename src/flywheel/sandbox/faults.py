"""Switchable faults for the sandbox: tests and the control endpoint flip them at run time."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Fields that are not faults but the machinery behind them; never exposed or updated.
_PRIVATE = frozenset({"seed", "_rng", "_lock"})


@dataclass
class Faults:
    """Switchable faults; mutated at run time by tests (Python) or the control endpoint (JSON)."""

    rpc_429_rate: float = 0.0  # share of RPC HTTP requests answered 429 + Retry-After
    rpc_retry_after_seconds: int = 1
    rpc_5xx_rate: float = 0.0  # share answered HTTP 503
    rpc_latency_ms: int = 0  # added before answering every RPC request
    drop_sends_rate: float = 0.0  # sendTransaction returns the signature but the tx never lands
    blockhash_lifetime_blocks: int = 150  # lower it to make blockhashes expire early
    price_move_bps: int = 0  # DEX: pool price moves this much between quote and swap
    jupiter_429_rate: float = 0.0  # DEX: share of DEX requests answered 429 + x-ratelimit-reset
    malicious_swap: bool = False  # DEX: swap tx also moves executor SOL elsewhere
    rpc_trickle_ms: int = 0  # RPC answers one byte at a time, this many ms apart (0: off)
    jupiter_trickle_ms: int = 0  # DEX: the same for every Jupiter API answer
    # Hostile DEX (the transaction guard must refuse each; see docs/sandbox.md):
    price_move_once: bool = False  # DEX: price_move_bps strikes the next swap only, then clears
    inflated_compute_budget: bool = False  # DEX: the swap pays ~1 SOL of priority fee
    loose_threshold: bool = False  # DEX: quotes carry otherAmountThreshold = 1
    short_delivery_bps: int = 0  # DEX: the swap delivers this share less than outAmount
    sol_only_swap: bool = False  # DEX: the "swap" only sends the SOL to the attacker
    overspend_lamports: int = 0  # DEX: the swap pays the pool this much more than inAmount
    swap_delegate: bool = False  # DEX: the swap makes the attacker delegate of the executor's ATA
    swap_close_authority: bool = False  # DEX: ... or the close authority of the executor's ATA
    sell_extra_tokens: int = 0  # DEX: a sale (token -> SOL) takes this many more tokens
    sell_short_bps: int = 0  # DEX: a sale pays this share (bps) less SOL than its quote
    # RPC lies about history: null for every status, transaction and address-history entry of
    # transactions this key signed (while claiming full history), to try the expiry proof.
    rpc_hide_signer: str = ""
    rpc_short_history: bool = False  # RPC: history starts at the current slot (a fresh node)
    # The market (flywheel.sandbox.market), seeded by `seed`: arbitrage pulls the pool back to
    # a drifting reference price each slot; a searcher sandwiches swaps on the send paths.
    arbitrage: bool = False
    sandwich: bool = False
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False, compare=False)
    _lock: threading.Lock = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self._validate(self.as_dict())

    def roll(self, rate: float) -> bool:
        """True with probability `rate`; deterministic for a given seed and call sequence."""
        if rate <= 0.0:
            return False
        if rate >= 1.0:
            return True
        with self._lock:
            return self._rng.random() < rate

    def reseed(self, seed: int) -> None:
        with self._lock:
            self.seed = seed
            self._rng = random.Random(seed)

    def update(self, **changes: object) -> None:
        """Change fields by name; all-or-nothing, so a bad value leaves the faults untouched."""
        current = self.as_dict()
        unknown = sorted(set(changes) - set(current))
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(unknown)}")
        merged: dict[str, Any] = {**current, **changes}
        coerced = self._validate(merged)
        for name in changes:
            setattr(self, name, coerced[name])

    def as_dict(self) -> dict[str, object]:
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in _PRIVATE
        }

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls) if f.name not in _PRIVATE]

    def _validate(self, values: dict[str, Any]) -> dict[str, object]:
        """Check types and ranges field by field (types come from the defaults, so later
        `xads_*` fields are validated without touching this method)."""
        out: dict[str, object] = {}
        defaults = Faults._defaults()
        for name, value in values.items():
            default = defaults[name]
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"{name} must be a boolean")
                out[name] = value
            elif isinstance(default, int):
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ValueError(f"{name} must be an integer")
                if value < 0:
                    raise ValueError(f"{name} must be >= 0")
                out[name] = value
            elif isinstance(default, float):
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(f"{name} must be a number")
                rate = float(value)
                if name.endswith("_rate") and not 0.0 <= rate <= 1.0:
                    raise ValueError(f"{name} must be within [0, 1]")
                if rate < 0.0:
                    raise ValueError(f"{name} must be >= 0")
                out[name] = rate
            elif isinstance(default, str):
                if not isinstance(value, str):
                    raise ValueError(f"{name} must be a string")
                out[name] = value
            else:
                out[name] = value
        short = out.get("short_delivery_bps", 0)
        if isinstance(short, int) and short > 10_000:
            raise ValueError("short_delivery_bps must be <= 10000")
        if values.get("blockhash_lifetime_blocks") == 0:
            raise ValueError("blockhash_lifetime_blocks must be >= 1")
        return out

    @staticmethod
    def _defaults() -> dict[str, object]:
        out: dict[str, object] = {}
        for f in dataclasses.fields(Faults):
            if f.name in _PRIVATE:
                continue
            out[f.name] = f.default
        return out


class Trickle:
    """ASGI middleware: while `delay_ms()` is above 0, every answer leaves one byte at a time,
    that many ms apart (a server that trickles: each read gets a byte, none ever times out).
    The control endpoints under /_sandbox are never slowed."""

    def __init__(self, app: ASGIApp, delay_ms: Callable[[], int]) -> None:
        self.app = app
        self.delay_ms = delay_ms

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        delay = self.delay_ms() if scope["type"] == "http" else 0
        if delay <= 0 or str(scope.get("path", "")).startswith("/_sandbox"):
            await self.app(scope, receive, send)
            return

        async def trickling(message: Message) -> None:
            if message["type"] != "http.response.body":
                await send(message)
                return
            body: bytes = message.get("body", b"")
            kind, sent = message["type"], 0
            while sent < len(body) and self.delay_ms() > 0:  # switched off: the rest at once
                await send({"type": kind, "body": body[sent : sent + 1], "more_body": True})
                sent += 1
                await asyncio.sleep(delay / 1000)
            more = message.get("more_body", False)
            await send({"type": kind, "body": body[sent:], "more_body": more})

        await self.app(scope, receive, trickling)
