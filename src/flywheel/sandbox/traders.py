"""Simulated traders: seeded buys and sells against the sandbox pool, each paying a creator fee.

They build the same swap transactions the Jupiter-compatible API hands out (same pool, same
memo, same on-chain slippage check), sign them and send them straight to the chain. Each
creator fee is its own SOL transfer to the fee collector, so fee detection sees one signature
per fee, as it does for pump.fun creator fees.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.token.state import TokenAccount

from flywheel.sandbox.chain.runtime import SandboxChain
from flywheel.sandbox.chain.types import ChainError
from flywheel.sandbox.jupiter.dex import SOL_MINT, DexError, SandboxPool, build_v0, sign_as
from flywheel.sandbox.jupiter.pool import BPS

log = structlog.get_logger(__name__)

LAMPORTS_PER_SOL = 1_000_000_000
_TOP_UP_BELOW = 5 * LAMPORTS_PER_SOL
# Pays one creator fee (trader, lamports, blockhash) somewhere else than the fee collector: the
# pump emulator's vaults (sandbox/pump/emulator.py).
FeeSink = Callable[[Keypair, int, Hash], Signature]


@dataclass(frozen=True)
class TraderConfig:
    seed: int = 0
    count: int = 3
    fee_share_bps: int = 100  # creator fee: 1% of each trade's SOL volume
    min_buy_lamports: int = LAMPORTS_PER_SOL // 20
    max_buy_lamports: int = LAMPORTS_PER_SOL // 2
    sell_probability: float = 0.4
    starting_lamports: int = 50 * LAMPORTS_PER_SOL
    slippage_bps: int = 500


@dataclass(frozen=True)
class FeePayment:
    """One creator fee as it landed: who paid, how much, by which signature."""

    signature: Signature
    payer: Pubkey
    lamports: int
    trade_signature: Signature
    volume_lamports: int


class Traders:
    """`step(n)` trades n times now; `start(interval)` trades in the background until `stop()`."""

    def __init__(
        self,
        chain: SandboxChain,
        pool: SandboxPool,
        fee_collector: Pubkey,
        config: TraderConfig | None = None,
        fee_sink: FeeSink | None = None,
    ) -> None:
        self.chain = chain
        self.fee_sink = fee_sink
        self.pool = pool
        self.fee_collector = fee_collector
        self.config = config or TraderConfig()
        self.keypairs = [
            Keypair.from_seed(_seed_bytes(self.config.seed, i)) for i in range(self.config.count)
        ]
        self.fees: list[FeePayment] = []
        self._rng = random.Random(self.config.seed)
        self._lock = threading.Lock()
        self._used: set[tuple[Pubkey, int, Hash]] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- trading -------------------------------------------------------------------------------
    def step(self, n_trades: int = 1) -> list[Signature]:
        """Make `n_trades` trades; returns the signatures of the creator fees they paid."""
        if n_trades < 0:
            raise ValueError("n_trades must be >= 0")
        paid: list[Signature] = []
        with self._lock:
            for _ in range(n_trades):
                fee = self._trade_once()
                if fee is not None:
                    paid.append(fee.signature)
        return paid

    def _trade_once(self) -> FeePayment | None:
        trader = self._rng.choice(self.keypairs)
        self._top_up(trader.pubkey())
        tokens = self._token_balance(trader.pubkey())
        if tokens > 0 and self._rng.random() < self.config.sell_probability:
            amount = tokens * self._rng.randint(20, 80) // 100
            input_mint, output_mint = self.pool.mint, SOL_MINT
        else:
            amount = self._rng.randint(self.config.min_buy_lamports, self.config.max_buy_lamports)
            input_mint, output_mint = SOL_MINT, self.pool.mint
        if amount <= 0:
            return None
        try:
            quote = self.pool.quote(
                self.chain, input_mint, output_mint, amount, self.config.slippage_bps
            )
        except DexError as exc:
            log.info("sandbox.trader.no_quote", reason=str(exc))
            return None
        with self.chain.lock:
            tx, _ = self.pool.build_swap(
                self.chain, trader.pubkey(), quote, compute_unit_limit=200_000, compute_unit_price=0
            )
            try:
                trade_sig = self.chain.send(sign_as(tx, trader))
            except ChainError as exc:
                # e.g. AlreadyProcessed for an identical trade in the same slot: skip this one.
                log.info("sandbox.trader.trade_refused", reason=str(exc))
                return None
        volume = quote.in_amount if quote.is_buy else quote.out_amount
        return self._pay_fee(trader, volume, trade_sig)

    def _pay_fee(self, trader: Keypair, volume: int, trade_sig: Signature) -> FeePayment | None:
        lamports = volume * self.config.fee_share_bps // BPS
        if lamports <= 0:
            return None
        with self.chain.lock:
            blockhash, _ = self.chain.latest_blockhash()
            # Identical bytes would be AlreadyProcessed: nudge a repeated fee by a lamport.
            while (trader.pubkey(), lamports, blockhash) in self._used:
                lamports += 1
            self._used.add((trader.pubkey(), lamports, blockhash))
            if self.fee_sink is not None:
                signature = self.fee_sink(trader, lamports, blockhash)
            else:
                ix = transfer(
                    TransferParams(
                        from_pubkey=trader.pubkey(), to_pubkey=self.fee_collector, lamports=lamports
                    )
                )
                signature = self.chain.send(build_v0(trader.pubkey(), [ix], blockhash, [trader]))
        payment = FeePayment(
            signature=signature,
            payer=trader.pubkey(),
            lamports=lamports,
            trade_signature=trade_sig,
            volume_lamports=volume,
        )
        self.fees.append(payment)
        return payment

    def _top_up(self, trader: Pubkey) -> None:
        account = self.chain.get_account(trader)
        if account is None or account.lamports < _TOP_UP_BELOW:
            self.chain.airdrop(trader, self.config.starting_lamports)

    def _token_balance(self, owner: Pubkey) -> int:
        account = self.chain.get_account(self.pool.ata(owner))
        if account is None:
            return 0
        return TokenAccount.from_bytes(bytes(account.data[:165])).amount

    # -- background mode -------------------------------------------------------------------------
    def start(self, interval_seconds: float, trades_per_tick: int = 1) -> None:
        """Trade every `interval_seconds` on a daemon thread until `stop()`."""
        if self._thread is not None:
            raise RuntimeError("traders already running")
        if interval_seconds <= 0:
            raise ValueError("interval_seconds must be > 0")
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run,
            args=(interval_seconds, trades_per_tick),
            name="sandbox-traders",
            daemon=True,
        )
        self._thread.start()

    def _run(self, interval_seconds: float, trades_per_tick: int) -> None:
        while not self._stop.wait(interval_seconds):
            try:
                self.step(trades_per_tick)
            except Exception:
                # A failed trade (e.g. an injected fault) must not kill the market.
                log.exception("sandbox.trader.tick_failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None


def _seed_bytes(seed: int, index: int) -> bytes:
    return hashlib.sha256(f"flywheel-sandbox:{seed}:trader-{index}".encode()).digest()
