"""`flywheel audit`: the epoch reports checked against the chain's own records.

Pure: the command reads the chain (`ChainTx` per signature, the mint's supply) and hands the
facts here. What is checked, each mismatch naming its report:
- every transaction a report calls confirmed (or failed) is on chain with that outcome, and its
  fee and the executor's SOL and token changes are the ones reported; an expired one is not;
- the buyback's figures follow from those transactions: tokens bought is the confirmed swap's
  token change, the SOL spent is no more than the swap took, the realized price is their ratio;
- a burn destroyed exactly the tokens reported (the mint's net change in that transaction, or in
  the swaps' own transactions when they burnt in them: v2, one swap or one per slice);
- no transaction signature and no fee receipt is claimed by two reports (or twice by one);
- with a supply baseline (`--supply-before`), the supply dropped by exactly the sum of the burns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from flywheel.reports.common import TransactionSection, realized_price
from flywheel.reports.models import EpochReport


@dataclass(frozen=True)
class ChainTx:
    """What the chain says about one signature (None in the mapping: no record of it)."""

    ok: bool
    fee_lamports: int
    sol_delta: int  # the executor's, fees included
    token_delta: int  # the executor's, in the token
    mint_net_change: int  # every account of the mint together: negative means destroyed


@dataclass(frozen=True)
class Mismatch:
    report: str
    message: str

    def __str__(self) -> str:
        return f"{self.report}: {self.message}"


@dataclass(frozen=True)
class AuditResult:
    reports: int
    transactions: int
    tokens_burned: int
    mismatches: list[Mismatch]


def claimed_signatures(reports: list[tuple[Path, EpochReport]]) -> list[str]:
    """The transaction signatures the audit must look up on chain."""
    return [
        t.signature
        for _, report in reports
        for t in report.execution.buyback.transactions
        if t.signature and t.status in {"confirmed", "failed", "expired"}
    ]


def audit(
    reports: list[tuple[Path, EpochReport]],
    chain: Mapping[str, ChainTx | None],
    *,
    supply_before: int | None = None,
    supply_now: int | None = None,
) -> AuditResult:
    mismatches: list[Mismatch] = []
    burned = 0
    count = 0
    for path, report in reports:
        name = path.name
        buyback = report.execution.buyback
        for tx in buyback.transactions:
            count += 1
            mismatches += [Mismatch(name, m) for m in _check_tx(tx, chain.get(tx.signature))]
        mismatches += [Mismatch(name, m) for m in _check_buyback(report, chain)]
        settlement = buyback.settlement
        if settlement is not None and (settlement.destination, settlement.status) == (
            "burn",
            "confirmed",
        ):
            burned += settlement.tokens
    mismatches += _duplicates(reports)
    if supply_before is not None and supply_now is not None:
        dropped = supply_before - supply_now
        if dropped != burned:
            mismatches.append(
                Mismatch(
                    "all reports",
                    f"the supply dropped by {dropped} (from {supply_before} to {supply_now}), "
                    f"but the reports burned {burned}"
                    + (" (someone else may have burned too)" if dropped > burned else ""),
                )
            )
    return AuditResult(len(reports), count, burned, mismatches)


def _check_tx(tx: TransactionSection, found: ChainTx | None) -> list[str]:
    what = f"{tx.kind} {tx.signature}"
    if tx.status == "expired":
        return [f"{what} is reported expired but is on chain"] if found is not None else []
    if tx.status not in {"confirmed", "failed"}:
        return []
    if found is None:
        return [f"{what} is reported {tx.status} but the chain has no record of it"]
    problems = []
    if found.ok != (tx.status == "confirmed"):
        outcome = "succeeded" if found.ok else "failed"
        problems.append(f"{what} is reported {tx.status} but {outcome} on chain")
    figures: tuple[tuple[str, int, int], ...] = (
        ("fee_lamports", tx.fee_lamports, found.fee_lamports),
        ("sol_delta", tx.sol_delta, found.sol_delta),
        ("token_delta", tx.token_delta, found.token_delta),
    )
    for field, reported, actual in figures:
        if reported != actual:
            problems.append(f"{what}: {field} is {reported} in the report, {actual} on chain")
    return problems


def _check_buyback(report: EpochReport, chain: Mapping[str, ChainTx | None]) -> list[str]:
    buyback = report.execution.buyback
    swaps = [t for t in buyback.transactions if t.kind == "swap" and t.status == "confirmed"]
    problems = []
    settlement = buyback.settlement
    # v2: the swaps burnt our minimum in their own transactions; their token change is net of it.
    burnt_in_swaps = settlement.tokens if settlement is not None and settlement.in_swap else 0
    bought = sum(t.token_delta for t in swaps) + burnt_in_swaps
    if buyback.tokens_bought != bought:
        problems.append(
            f"tokens_bought is {buyback.tokens_bought}, but its confirmed swaps brought {bought}"
        )
    taken = sum(-t.sol_delta - t.fee_lamports for t in swaps)
    if buyback.spent_lamports > max(taken, 0) or (swaps and buyback.spent_lamports <= 0):
        problems.append(
            f"spent_lamports is {buyback.spent_lamports}, but its confirmed swaps took "
            f"{taken} lamports besides fees"
        )
    price = realized_price(buyback.spent_lamports, buyback.tokens_bought)
    if buyback.realized_price_lamports_per_token != price:
        problems.append(
            f"realized price is {buyback.realized_price_lamports_per_token}, but "
            f"spent / bought is {price}"
        )
    if settlement is None or settlement.signature is None or settlement.status != "confirmed":
        return problems
    if settlement.in_swap:
        return problems + _check_in_swap(settlement.tokens, swaps, chain)
    found = chain.get(settlement.signature)
    if found is None:
        return problems  # already reported by the transaction check
    if settlement.destination in {"burn", "treasury"} and found.token_delta != -settlement.tokens:
        problems.append(
            f"settlement of {settlement.tokens} tokens, but the executor's tokens changed by "
            f"{found.token_delta} in {settlement.signature}"
        )
    if settlement.destination == "burn" and found.mint_net_change != -settlement.tokens:
        problems.append(
            f"burn of {settlement.tokens} tokens, but {settlement.signature} destroyed "
            f"{-found.mint_net_change}"
        )
    return problems


def _check_in_swap(
    tokens: int, swaps: list[TransactionSection], chain: Mapping[str, ChainTx | None]
) -> list[str]:
    """Burnt in the swaps' own transactions (one, or one per slice): their mint change."""
    found = [chain.get(t.signature) for t in swaps]
    destroyed = -sum(f.mint_net_change for f in found if f is not None)
    if destroyed == tokens:
        return []
    return [f"burn of {tokens} tokens in the swaps, but they destroyed {destroyed}"]


def _duplicates(reports: list[tuple[Path, EpochReport]]) -> list[Mismatch]:
    seen: dict[tuple[str, str], str] = {}
    problems: list[Mismatch] = []
    for path, report in reports:
        claims = [("transaction", t.signature) for t in report.execution.buyback.transactions]
        claims += [("fee receipt", s) for s in report.fees.receipt_signatures]
        for claim in claims:
            if not claim[1]:
                continue
            first = seen.get(claim)
            if first is not None:
                where = "earlier in the same report" if first == path.name else f"by {first}"
                problems.append(
                    Mismatch(path.name, f"{claim[0]} {claim[1]} is claimed twice (also {where})")
                )
            else:
                seen[claim] = path.name
    return problems
