"""A sandwich searcher on the sandbox's send paths.

Every transaction that reaches the RPC's `sendTransaction` (route "public") or the Jito-compatible
engine (route "jito") passes through `Searcher.intercept` before it executes. A buy on the pool
(the memo the pool checks names its input and its minimum) whose minimum leaves room is
sandwiched: the searcher buys first, by the amount that earns it the most without pushing the
victim's output below its minimum (so the victim's transaction still lands; the searcher never
makes it fail), lets the victim execute, then sells what it bought. It leaves alone a
transaction that carries a read-only `jitodontfront...` account AND came through the Jito
engine (Jito's engine honours the marker; the public path does not), a sandwich that would not
pay its own fees, sells, and anything already processed, carrying a dead blockhash or
failing in simulation anyway.
Each sandwich is kept in `sandwiches`: what the searcher made and what the victim lost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import structlog
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from flywheel.sandbox.chain.runtime import SandboxChain
from flywheel.sandbox.chain.types import ChainError
from flywheel.sandbox.jupiter.dex import DexError, SandboxPool
from flywheel.sandbox.jupiter.pool import Reserves
from flywheel.sandbox.market.settlement import memo_of
from flywheel.sandbox.market.swaps import SWAP_FEE, buy, open_token_account, sell, swap

log = structlog.get_logger(__name__)
LAMPORTS_PER_SOL = 1_000_000_000
MARKER_PREFIX = "jitodontfront"
PROBES = 32  # front-run sizes tried between nothing and the most the victim's minimum allows


@dataclass(frozen=True)
class VictimSwap:
    signature: Signature
    payer: Pubkey
    in_amount: int
    min_out: int


@dataclass(frozen=True)
class Plan:
    front_lamports: int
    victim_out: int  # what the victim gets after the front-run (>= its minimum)
    victim_out_alone: int  # what it would have got without the searcher
    expected_profit: int


@dataclass(frozen=True)
class Sandwich:
    victim_signature: Signature
    victim: Pubkey
    route: str
    front_signature: Signature
    back_signature: Signature | None
    front_lamports: int
    back_lamports: int
    profit_lamports: int  # the searcher's SOL after less before, its fees paid
    victim_tokens_lost: int  # 0 when the victim's transaction did not land


def has_marker(tx: VersionedTransaction) -> bool:
    """A read-only `jitodontfront...` account among the transaction's static keys."""
    message = tx.message
    header = message.header
    keys = list(message.account_keys)
    signers = header.num_required_signatures
    writable_signers = signers - header.num_readonly_signed_accounts
    writable_end = len(keys) - header.num_readonly_unsigned_accounts
    for index, key in enumerate(keys):
        writable = index < writable_signers or signers <= index < writable_end
        if str(key).startswith(MARKER_PREFIX) and not writable:
            return True
    return False


def victim_swap(pool: SandboxPool, tx: VersionedTransaction) -> VictimSwap | None:
    """The pool buy inside `tx`, if it holds one (read as the pool's own check reads it)."""
    found = memo_of(pool, tx)
    if found is None or not found[2]:
        return None  # not this pool, or a sell: buybacks only buy, so the searcher only hunts buys
    memo, payer, _ = found
    return VictimSwap(tx.signatures[0], payer, memo.in_amount, memo.min_out)


def plan_sandwich(
    pool: SandboxPool, reserves: Reserves, victim: VictimSwap, budget: int
) -> Plan | None:
    """The most profitable front-run that keeps the victim at or above its minimum."""
    alone = buy(pool, reserves, victim.in_amount).out
    if alone <= victim.min_out:
        return None
    lo, hi = 0, budget  # the largest front-run the victim's minimum still allows
    while lo < hi:
        probe = (lo + hi + 1) // 2
        if buy(pool, buy(pool, reserves, probe).after, victim.in_amount).out >= victim.min_out:
            lo = probe
        else:
            hi = probe - 1
    best: Plan | None = None
    for k in range(1, PROBES + 1):
        front = lo * k // PROBES
        if front <= 0:
            continue
        first = buy(pool, reserves, front)
        victim_fill = buy(pool, first.after, victim.in_amount)
        back = sell(pool, victim_fill.after, first.out)
        profit = back.out - front - 2 * SWAP_FEE
        if profit > 0 and (best is None or profit > best.expected_profit):
            best = Plan(front, victim_fill.out, alone, profit)
    return best


class Searcher:
    """Installed as the chain's interceptor; idle while `enabled()` is false."""

    def __init__(
        self,
        chain: SandboxChain,
        pool: SandboxPool,
        keypair: Keypair,
        enabled: Callable[[], bool],
        lamports: int = 10_000 * LAMPORTS_PER_SOL,
    ) -> None:
        self.chain = chain
        self.pool = pool
        self.keypair = keypair
        self.enabled = enabled
        self.lamports = lamports
        self.sandwiches: list[Sandwich] = []
        self._funded = False

    def install(self) -> None:
        self.chain.interceptor = self.intercept

    def intercept(
        self, tx: VersionedTransaction, route: str, send: Callable[[], Signature]
    ) -> Signature:
        """Called with the chain lock held, before `tx` executes; `send()` executes it."""
        if not self.enabled() or (route == "jito" and has_marker(tx)):
            return send()
        victim = victim_swap(self.pool, tx)
        chain = self.chain
        if (
            victim is None
            or victim.payer == self.keypair.pubkey()
            or chain.get_transaction(victim.signature) is not None
            or not chain.is_blockhash_valid(tx.message.recent_blockhash)
            # A searcher simulates its victim first: one that fails anyway is not worth a fee.
            or chain.simulate(tx).err is not None
        ):
            return send()
        self._fund()
        budget = chain.balance(self.keypair.pubkey()) - LAMPORTS_PER_SOL
        plan = plan_sandwich(self.pool, self.pool.reserves(chain), victim, budget)
        if plan is None:
            return send()
        return self._sandwich(victim, route, plan, send)

    def _sandwich(
        self, victim: VictimSwap, route: str, plan: Plan, send: Callable[[], Signature]
    ) -> Signature:
        chain, me = self.chain, self.keypair
        before = chain.balance(me.pubkey())
        try:
            quote, front = swap(chain, self.pool, me, sell_tokens=False, amount=plan.front_lamports)
        except (ChainError, DexError) as exc:
            log.info("sandbox.searcher.front_refused", reason=str(exc))
            return send()
        try:
            return send()
        finally:
            back = self._back_run(quote.out_amount)
            landed = chain.get_transaction(victim.signature)
            lost = plan.victim_out_alone - plan.victim_out
            self.sandwiches.append(
                Sandwich(
                    victim_signature=victim.signature,
                    victim=victim.payer,
                    route=route,
                    front_signature=front,
                    back_signature=back[0],
                    front_lamports=plan.front_lamports,
                    back_lamports=back[1],
                    profit_lamports=chain.balance(me.pubkey()) - before,
                    victim_tokens_lost=lost if landed is not None and landed.err is None else 0,
                )
            )

    def _back_run(self, tokens: int) -> tuple[Signature | None, int]:
        try:
            quote, signature = swap(
                self.chain, self.pool, self.keypair, sell_tokens=True, amount=tokens
            )
        except (ChainError, DexError) as exc:
            log.info("sandbox.searcher.back_refused", reason=str(exc))
            return None, 0
        return signature, quote.out_amount

    def _fund(self) -> None:
        if self._funded:
            return
        self.chain.airdrop(self.keypair.pubkey(), self.lamports)
        open_token_account(self.chain, self.pool, self.keypair)
        self._funded = True

    def taken_from(self, victim: Pubkey) -> list[Sandwich]:
        """The sandwiches whose victim's transaction was paid by `victim` (a bench reads this)."""
        return [s for s in self.sandwiches if s.victim == victim]
