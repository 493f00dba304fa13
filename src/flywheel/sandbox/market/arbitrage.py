"""Arbitrage: a trader that pulls the pool back to an external reference price each slot.

The reference is a seeded random walk, one step a slot (a deeper venue's price drifting), so the
same seed and the same slots give the same prices. When the pool's mid is more than
`threshold_bps` away from the reference, in the next slot (so at most once a slot) the
arbitrageur swaps through the pool like anyone (same transaction, same memo, same on-chain
check) by exactly what brings the mid back to the reference: a buyback moves the price, and a
slot or two later the next buyer sees it recovered, as on mainnet. It restores the whole gap
rather than stopping at the LP fee, which models arbitrageurs whose reference venue is far
deeper than the pool.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import structlog
from solders.keypair import Keypair
from solders.signature import Signature
from spl.token.instructions import mint_to_checked
from spl.token.models import MintToCheckedParams

from flywheel.sandbox.chain.runtime import SandboxChain
from flywheel.sandbox.chain.types import ChainError
from flywheel.sandbox.jupiter.dex import DexError, SandboxPool, build_v0
from flywheel.sandbox.jupiter.pool import BPS, Reserves
from flywheel.sandbox.market.swaps import (
    buy,
    mid,
    open_token_account,
    sell,
    swap,
    token_balance,
)

log = structlog.get_logger(__name__)
LAMPORTS_PER_SOL = 1_000_000_000


@dataclass(frozen=True)
class ArbitrageConfig:
    seed: int = 0
    drift_bps: Decimal = Decimal("0.2")  # the reference's standard deviation per slot
    threshold_bps: int = 2  # a smaller gap is left alone (not worth a transaction)
    lamports: int = 1_000 * LAMPORTS_PER_SOL
    token_share_bps: int = 5_000  # tokens minted to it at funding: this share of the pool's


@dataclass(frozen=True)
class ArbTrade:
    slot: int
    signature: Signature
    sold_tokens: bool
    amount: int
    reference: Decimal


class Arbitrageur:
    """`step()` walks the reference to the current slot and trades the pool back to it."""

    def __init__(
        self,
        chain: SandboxChain,
        pool: SandboxPool,
        trader: Keypair,
        mint_authority: Keypair,
        enabled: Callable[[], bool],
        config: ArbitrageConfig | None = None,
    ) -> None:
        self.chain = chain
        self.pool = pool
        self.trader = trader
        self.mint_authority = mint_authority
        self.enabled = enabled
        self.config = config or ArbitrageConfig()
        self.trades: list[ArbTrade] = []
        self.reference: Decimal | None = None
        self._rng = random.Random(f"flywheel-sandbox-arbitrage:{self.config.seed}")
        self._walked_to = -1
        self._gap_seen: int | None = None  # the slot it first saw the pool off the reference
        self._funded = False

    def reference_at(self, slot: int) -> Decimal:
        """The reference at `slot`: started at the pool's mid the first time, one step a slot."""
        with self.chain.lock:
            if self.reference is None:
                self.reference = mid(self.pool.reserves(self.chain))
                self._walked_to = slot
            while self._walked_to < slot:
                step = Decimal(repr(self._rng.gauss(0.0, 1.0))) * self.config.drift_bps / BPS
                self.reference *= 1 + step
                self._walked_to += 1
            return self.reference

    def step(self) -> ArbTrade | None:
        """One look at the pool; the trade made, if any."""
        if not self.enabled():
            return None
        with self.chain.lock:
            slot = self.chain.slot()
            reference = self.reference_at(slot)
            self._fund()
            reserves = self.pool.reserves(self.chain)
            gap = abs(mid(reserves) / reference - 1) * BPS
            if gap <= self.config.threshold_bps:
                self._gap_seen = None
                return None
            # It reacts in the slot after it sees a gap, as a searcher's bundle would land.
            if self._gap_seen is None:
                self._gap_seen = slot
            if slot <= self._gap_seen:
                return None
            self._gap_seen = None
            return self._trade(slot, reserves, reference)

    def _trade(self, slot: int, reserves: Reserves, reference: Decimal) -> ArbTrade | None:
        sell_tokens = mid(reserves) > reference
        if sell_tokens:
            amount = tokens_to_lower(self.pool, reserves, reference)
            amount = min(amount, token_balance(self.chain, self.pool, self.trader))
        else:
            amount = lamports_to_raise(self.pool, reserves, reference)
            amount = min(amount, self.chain.balance(self.trader.pubkey()) - LAMPORTS_PER_SOL)
        if amount <= 0:
            return None
        try:
            _, signature = swap(
                self.chain, self.pool, self.trader, sell_tokens=sell_tokens, amount=amount
            )
        except (ChainError, DexError) as exc:
            log.info("sandbox.arbitrage.refused", reason=str(exc))
            return None
        trade = ArbTrade(slot, signature, sell_tokens, amount, reference)
        self.trades.append(trade)
        return trade

    def _fund(self) -> None:
        """SOL and tokens (minted by the mint's authority) the first time it is switched on."""
        if self._funded:
            return
        chain, pool = self.chain, self.pool
        chain.airdrop(self.trader.pubkey(), self.config.lamports)
        open_token_account(chain, pool, self.trader)
        tokens = pool.reserves(chain).token * self.config.token_share_bps // BPS
        ix = mint_to_checked(
            MintToCheckedParams(
                program_id=pool.token_program,
                mint=pool.mint,
                dest=pool.ata(self.trader.pubkey()),
                mint_authority=self.mint_authority.pubkey(),
                amount=tokens,
                decimals=pool.decimals,
            )
        )
        blockhash, _ = chain.latest_blockhash()
        chain.send(
            build_v0(self.trader.pubkey(), [ix], blockhash, [self.trader, self.mint_authority])
        )
        self._funded = True


def lamports_to_raise(pool: SandboxPool, reserves: Reserves, reference: Decimal) -> int:
    """The largest SOL buy that leaves the mid at or below `reference` (bisection: exact)."""
    lo, hi = 0, reserves.sol
    while lo < hi:
        probe = (lo + hi + 1) // 2
        if mid(buy(pool, reserves, probe).after) <= reference:
            lo = probe
        else:
            hi = probe - 1
    return lo


def tokens_to_lower(pool: SandboxPool, reserves: Reserves, reference: Decimal) -> int:
    """The largest token sell that leaves the mid at or above `reference`."""
    lo, hi = 0, reserves.token
    while lo < hi:
        probe = (lo + hi + 1) // 2
        if mid(sell(pool, reserves, probe).after) >= reference:
            lo = probe
        else:
            hi = probe - 1
    return lo
