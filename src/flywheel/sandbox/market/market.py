"""The sandbox market: arbitrage, the sandwich searcher and execution-time pricing, together.

Each is switched by a fault (`arbitrage`, `sandwich`; `/_sandbox/faults` flips them at run
time), keyed by the sandbox's seed, and idle while off. Execution-time pricing is on while either
is, since neither means anything if a swap's fill ignores what moved the pool. With slots on a
clock, a thread looks at the pool a few times a slot so the arbitrage lands within a slot or
two of a trade; with `slot_ms=0` tests call `step()` after `chain.advance()`.
"""

from __future__ import annotations

import hashlib
import threading

import structlog
from solders.keypair import Keypair

from flywheel.sandbox.chain.runtime import SandboxChain
from flywheel.sandbox.faults import Faults
from flywheel.sandbox.jupiter.dex import SandboxPool
from flywheel.sandbox.market.arbitrage import ArbitrageConfig, Arbitrageur, ArbTrade
from flywheel.sandbox.market.searcher import Searcher
from flywheel.sandbox.market.settlement import CurveSettlement

log = structlog.get_logger(__name__)


def market_keypair(seed: int, name: str) -> Keypair:
    return Keypair.from_seed(hashlib.sha256(f"flywheel-sandbox:{seed}:{name}".encode()).digest())


class Market:
    def __init__(
        self,
        chain: SandboxChain,
        pool: SandboxPool,
        mint_authority: Keypair,
        faults: Faults,
        seed: int,
    ) -> None:
        self.chain = chain
        self.faults = faults
        self.arbitrage = Arbitrageur(
            chain,
            pool,
            market_keypair(seed, "arbitrageur"),
            mint_authority,
            enabled=lambda: faults.arbitrage,
            config=ArbitrageConfig(seed=seed),
        )
        self.searcher = Searcher(
            chain, pool, market_keypair(seed, "searcher"), enabled=lambda: faults.sandwich
        )
        self.settlement = CurveSettlement(
            chain, pool, enabled=lambda: faults.arbitrage or faults.sandwich
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def install(self) -> None:
        self.searcher.install()
        self.settlement.install()

    def step(self) -> ArbTrade | None:
        return self.arbitrage.step()

    def start(self, slot_ms: int) -> None:
        """Look at the pool four times a slot on a daemon thread (no thread without a clock)."""
        if slot_ms <= 0 or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(slot_ms / 4000,), name="sandbox-market", daemon=True
        )
        self._thread.start()

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.step()
            except Exception:
                # A refused trade (e.g. an injected fault) must not stop the market.
                log.exception("sandbox.market.step_failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
