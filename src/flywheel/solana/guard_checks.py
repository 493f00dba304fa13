"""The transaction guard's pure half: decisions on plain numbers and account snapshots.

Tested without a chain; `flywheel.solana.guard.SwapGuard` gathers the numbers. Every limit here
comes from the operator's configuration (or the amount the epoch asked for), never from the API
that built the transaction:
- the executor pays the fee and must sign; every other required signature is already valid;
- the compute budget pays at most MAX_PRIORITY_FEE_LAMPORTS (these two, and the MEV marker,
  in `flywheel.solana.guard_message`, re-exported here);
- SOL out <= swap input + network fee + priority fee + rent of the token accounts the swap may
  create for the executor (at most `max_new_accounts` of them, each at its rent-exempt minimum);
- tokens of the mint in >= our own minimum (outAmount less MAX_SLIPPAGE_BPS), and never zero;
- no other executor token account loses tokens, gains a delegate or a close authority, changes
  owner or closes with a balance; the executor account stays a plain system account.
A refusal names what it saw: the accounts that would gain what the executor loses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM_PROGRAM_ID

from flywheel.errors import GuardRefused
from flywheel.solana.guard_message import (
    DEFAULT_INSTRUCTION_COMPUTE_UNIT_LIMIT as DEFAULT_INSTRUCTION_COMPUTE_UNIT_LIMIT,
)
from flywheel.solana.guard_message import JITO_DONTFRONT as JITO_DONTFRONT
from flywheel.solana.guard_message import MAX_COMPUTE_UNIT_LIMIT as MAX_COMPUTE_UNIT_LIMIT
from flywheel.solana.guard_message import ComputeBudget as ComputeBudget
from flywheel.solana.guard_message import check_mev_marker as check_mev_marker
from flywheel.solana.guard_message import check_priority_fee as check_priority_fee
from flywheel.solana.guard_message import check_signers as check_signers
from flywheel.solana.guard_message import compute_budget as compute_budget
from flywheel.solana.tokens import TokenSnapshot

LAMPORTS_PER_SIGNATURE = 5_000
# A SOL -> token swap may create the token's associated account and the wrapped-SOL one.
MAX_NEW_TOKEN_ACCOUNTS = 2
# Rent exemption on every Solana cluster so far: (128 + data length) x 3,480 x 2 lamports.
_ACCOUNT_STORAGE_OVERHEAD = 128
_EXEMPT_LAMPORTS_PER_BYTE = 6_960


def rent_exempt_minimum(data_len: int) -> int:
    return (_ACCOUNT_STORAGE_OVERHEAD + data_len) * _EXEMPT_LAMPORTS_PER_BYTE


# -- the swap's effect ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SwapEffect:
    """The executor's accounts (and the lamports of the others) before and after a simulation."""

    sol_before: int
    sol_after: int
    executor_owner_after: Pubkey | None  # None: the account would no longer exist
    tokens_before: Mapping[Pubkey, TokenSnapshot | None]
    tokens_after: Mapping[Pubkey, TokenSnapshot | None]
    error: str | None = None
    # Every other account the transaction names: who would gain what the executor loses.
    others_before: Mapping[Pubkey, int] = field(default_factory=dict)
    others_after: Mapping[Pubkey, int] = field(default_factory=dict)

    def gainers(self) -> list[tuple[Pubkey, int]]:
        """Accounts other than the executor's whose lamports go up, the largest gain first."""
        gains = [
            (address, after - self.others_before.get(address, 0))
            for address, after in self.others_after.items()
        ]
        return sorted(
            ((a, g) for a, g in gains if g > 0), key=lambda item: (-item[1], str(item[0]))
        )


@dataclass(frozen=True)
class SwapLimits:
    in_lamports: int  # the quoted input, equal to the amount the epoch asked for
    min_out: int  # our own minimum: outAmount less MAX_SLIPPAGE_BPS, at least 1
    network_fee: int
    priority_fee: int  # what the compute budget pays, already checked against the limit
    max_new_accounts: int = MAX_NEW_TOKEN_ACCOUNTS
    rent_by_size: Mapping[int, int] = field(default_factory=dict)  # the cluster's, by data size
    route_accounts: frozenset[Pubkey] = frozenset()  # the quote's pools (routePlan ammKey)
    burned: int = 0  # tokens of the mint our own burn in the same transaction destroys
    max_tip: int = 0  # JITO_TIP_LAMPORTS when swaps go through Jito, else no tip at all
    tip_accounts: frozenset[Pubkey] = frozenset()  # Jito's published tip accounts

    def rent_for(self, data_len: int) -> int:
        return self.rent_by_size.get(data_len, rent_exempt_minimum(data_len))


@dataclass(frozen=True)
class GuardReport:
    """The figures the guard decided on (for the epoch report)."""

    sol_out: int
    max_sol_out: int
    token_in: int
    min_out: int
    network_fee: int
    priority_fee: int
    new_account_rent: int


@dataclass
class _Tally:
    token_in: int = 0
    new_account_rent: int = 0
    lost_lamports: int = 0
    new_accounts: list[Pubkey] = field(default_factory=list)


def _check_token_account(
    address: Pubkey,
    before: TokenSnapshot | None,
    after: TokenSnapshot | None,
    tally: _Tally,
    *,
    executor: Pubkey,
    mint: Pubkey,
    limits: SwapLimits,
) -> None:
    was_ours = before is not None and before.owner == executor
    is_ours = after is not None and after.owner == executor
    if not was_ours and not is_ours:
        return
    if was_ours and before is not None and not is_ours:
        if after is not None:
            raise GuardRefused(
                f"token account {address} would change owner from the executor to {after.owner}"
            )
        if before.amount > 0:
            raise GuardRefused(
                f"token account {address} (mint {before.mint}) would be closed holding "
                f"{before.amount}"
            )
        # Closing an empty account frees its rent; counted as spent unless it comes back.
        tally.lost_lamports += before.lamports
        return
    assert after is not None  # is_ours
    if after.delegate is not None and (before is None or before.delegate != after.delegate):
        raise GuardRefused(
            f"delegate: token account {address} (mint {after.mint}) would gain delegate "
            f"{after.delegate} for {after.delegated_amount} base units, who could then move them"
        )
    if after.close_authority not in (None, executor) and (
        before is None or before.close_authority != after.close_authority
    ):
        raise GuardRefused(
            f"close authority: token account {address} (mint {after.mint}) would gain close "
            f"authority {after.close_authority}, who could then close it and take its lamports"
        )
    amount_before = before.amount if was_ours and before is not None else 0
    if not was_ours:
        tally.new_accounts.append(address)
        # Rent is allowed at the account's rent-exempt minimum; lamports above it are spent.
        tally.new_account_rent += min(after.locked_rent, limits.rent_for(after.data_len))
    if after.mint == mint:
        tally.token_in += after.amount - amount_before
    elif after.amount < amount_before:
        raise GuardRefused(
            f"token account {address} (mint {after.mint}) would go down from "
            f"{amount_before} to {after.amount}"
        )


def _gains(gainers: list[tuple[Pubkey, int]]) -> str:
    return ", ".join(f"{address} +{gain}" for address, gain in gainers)


def _where_sol_goes(effect: SwapEffect, limits: SwapLimits) -> tuple[str, str]:
    """(what it is, who gains): an overspend (the swap itself pays too much) or an extra
    transfer (someone besides the swap is paid)."""
    gainers = effect.gainers()
    if not gainers:
        return "overspend", "no account the transaction names gains it"
    route = [g for g in gainers if g[0] in limits.route_accounts]
    if not route:
        # No pool of the quote gains: take the one paid closest to the quoted input.
        route = [min(gainers, key=lambda g: (abs(g[1] - limits.in_lamports), -g[1]))]
    extra = [g for g in gainers if g not in route]
    if extra:
        return (
            "extra transfer",
            f"it goes to {_gains(extra)} lamports (the swap pays {_gains(route)})",
        )
    paid = sum(gain for _, gain in route)
    return "overspend", (
        f"the swap pays {_gains(route)} lamports, {paid - limits.in_lamports} "
        f"more than the quoted {limits.in_lamports}"
    )


def _tip_paid(effect: SwapEffect, limits: SwapLimits) -> int:
    """What Jito's tip accounts gain: allowed up to JITO_TIP_LAMPORTS, refused above it."""
    tip = sum(
        max(after - effect.others_before.get(address, 0), 0)
        for address, after in effect.others_after.items()
        if address in limits.tip_accounts
    )
    if tip > limits.max_tip:
        raise GuardRefused(
            f"tip: the swap pays Jito tip accounts {tip} lamports, more than the "
            f"JITO_TIP_LAMPORTS {limits.max_tip} allowed"
            + ("" if limits.max_tip else " (no block engine is configured)")
        )
    return tip


def check_swap(
    effect: SwapEffect, limits: SwapLimits, *, executor: Pubkey, mint: Pubkey
) -> GuardReport:
    """Refuse (GuardRefused) unless the effect on the executor is the swap and nothing else."""
    _check_executor_survives(effect, executor)
    tally = check_token_accounts(effect, limits, executor=executor, mint=mint)
    sol_out, max_sol_out = _check_sol_out(effect, limits, tally)
    minimum = _check_tokens_in(effect, limits, tally, mint)
    return GuardReport(
        sol_out=sol_out,
        max_sol_out=max_sol_out,
        token_in=tally.token_in,
        min_out=minimum,
        network_fee=limits.network_fee,
        priority_fee=limits.priority_fee,
        new_account_rent=tally.new_account_rent,
    )


def _check_executor_survives(effect: SwapEffect, executor: Pubkey) -> None:
    """The simulation succeeded and the executor is still a plain system account."""
    if effect.error is not None:
        raise GuardRefused(f"simulation failed: {effect.error}")
    if effect.executor_owner_after != SYSTEM_PROGRAM_ID:
        fate = (
            "closed"
            if effect.executor_owner_after is None
            else f"assigned to {effect.executor_owner_after}"
        )
        raise GuardRefused(f"executor account {executor} would be {fate}")


def check_token_accounts(
    effect: SwapEffect, limits: SwapLimits, *, executor: Pubkey, mint: Pubkey, what: str = "swap"
) -> _Tally:
    """Each executor token account changes only as a swap (or a sale: `what`) may, and few new
    ones appear."""
    tally = _Tally()
    for address in sorted(set(effect.tokens_before) | set(effect.tokens_after), key=str):
        _check_token_account(
            address,
            effect.tokens_before.get(address),
            effect.tokens_after.get(address),
            tally,
            executor=executor,
            mint=mint,
            limits=limits,
        )
    if len(tally.new_accounts) > limits.max_new_accounts:
        raise GuardRefused(
            f"the {what} would create {len(tally.new_accounts)} token accounts for the executor "
            f"({', '.join(map(str, tally.new_accounts))}); it needs at most "
            f"{limits.max_new_accounts}"
        )
    return tally


def _check_sol_out(effect: SwapEffect, limits: SwapLimits, tally: _Tally) -> tuple[int, int]:
    """The executor's SOL goes down by no more than the swap, fees, new rent and tip: (out, max)."""
    sol_out = effect.sol_before - effect.sol_after + tally.lost_lamports
    tip = _tip_paid(effect, limits)
    max_sol_out = (
        limits.in_lamports + limits.network_fee + limits.priority_fee + tally.new_account_rent
    ) + tip
    if sol_out > max_sol_out:
        kind, detail = _where_sol_goes(effect, limits)
        raise GuardRefused(
            f"{kind}: executor SOL would go down by {sol_out} lamports, more than the "
            f"{max_sol_out} allowed (swap {limits.in_lamports} + network fee "
            f"{limits.network_fee} + priority fee {limits.priority_fee} + new account rent "
            f"{tally.new_account_rent} + tip {tip}); {detail}"
        )
    return sol_out, max_sol_out


def _check_tokens_in(effect: SwapEffect, limits: SwapLimits, tally: _Tally, mint: Pubkey) -> int:
    """The executor receives at least our minimum of the token; returns that minimum."""
    minimum = max(limits.min_out, 1)  # a swap that yields no tokens is never a success
    # Our burn (swap and burn in one transaction) takes exactly `burned` back out; no more.
    tally.token_in += limits.burned
    if tally.token_in < minimum:
        what = (
            "no tokens: the swap only moves SOL away" if tally.token_in <= 0 else "short delivery"
        )
        gainers = effect.gainers()
        paid = f"; its SOL goes to {_gains(gainers)} lamports" if gainers else ""
        raise GuardRefused(
            f"{what}: executor would receive {tally.token_in} base units of {mint}, less than "
            f"our minimum {minimum}{paid}"
        )
    return minimum
