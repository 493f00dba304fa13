"""The chain checks the journal: what the executor must hold, against what it holds.

From a checkpoint (the executor's SOL and tokens as the chain showed them at one slot), the
journal says what may have changed since: its own transactions that executed after that slot
(each with the SOL and token change the chain recorded, network fees and rent included) and,
when the executor is the fee collector, the fee receipts detected after that slot. Nothing else
moves the executor's money with the journal's knowledge, so:

- tokens must match exactly: a surplus is a swap the journal does not know of (a node that hid
  it) or tokens sent from outside; a deficit is a transfer it did not sign;
- SOL may not be lower than expected: only a transaction the executor signed can take SOL out;
- SOL may be higher: fees arrive at a collecting executor between detections, and an operator
  tops up gas. A surplus hides nothing we spent, so it is reported, never a stop.

Pure arithmetic, no I/O: the caller reads the chain and the journal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class BalanceReading:
    """The executor's SOL and token balance on chain, both as of `slot`."""

    executor: str
    mint: str
    sol_lamports: int
    token_units: int
    slot: int

    def same_wallet(self, other: BalanceReading) -> bool:
        return (self.executor, self.mint) == (other.executor, other.mint)


@dataclass(frozen=True)
class Checkpoint:
    """A reading the journal agreed with, and the journal's executed transactions it includes.

    Taken with nothing in flight, so every transaction of ours is either in `accounted` (its
    effect is in the figures) or came after. Kept by signature, not by slot: several
    transactions can land in the slot of the reading.
    """

    reading: BalanceReading
    accounted: frozenset[str]


@dataclass(frozen=True)
class Movement:
    """One of the journal's transactions that executed (confirmed, or failed and paid its fee).

    `slot` is where it landed (None for one journaled before slots were kept).
    """

    signature: str
    slot: int | None
    sol_delta: int
    token_delta: int


@dataclass(frozen=True)
class Inflow:
    """SOL the journal can name: a detected fee receipt paid into the (collecting) executor."""

    signature: str
    slot: int
    lamports: int


@dataclass(frozen=True)
class BalanceCheck:
    checkpoint: BalanceReading
    observed: BalanceReading
    movements: tuple[Movement, ...]
    inflows: tuple[Inflow, ...]

    @property
    def expected_sol(self) -> int:
        moved = sum(m.sol_delta for m in self.movements)
        return self.checkpoint.sol_lamports + moved + sum(i.lamports for i in self.inflows)

    @property
    def expected_tokens(self) -> int:
        return self.checkpoint.token_units + sum(m.token_delta for m in self.movements)

    @property
    def sol_unexplained(self) -> int:
        """Observed less expected: negative is SOL gone that no journaled transaction took."""
        return self.observed.sol_lamports - self.expected_sol

    @property
    def tokens_unexplained(self) -> int:
        return self.observed.token_units - self.expected_tokens

    @property
    def stale(self) -> bool:
        """The reading is older than a transaction it should include (a lagging node)."""
        return any(m.slot is not None and m.slot > self.observed.slot for m in self.movements)

    @property
    def ok(self) -> bool:
        return self.tokens_unexplained == 0 and self.sol_unexplained >= 0

    def describe(self) -> str:
        """The figures, for the operator: what the journal expects, what the chain holds."""
        return (
            f"executor {self.observed.executor} at slot {self.observed.slot}: tokens "
            f"{self.observed.token_units} on chain, {self.expected_tokens} expected "
            f"({_signed(self.tokens_unexplained)} unexplained); SOL {self.observed.sol_lamports} "
            f"lamports on chain, {self.expected_sol} expected "
            f"({_signed(self.sol_unexplained)} unexplained). Expected = the checkpoint at slot "
            f"{self.checkpoint.slot} (tokens {self.checkpoint.token_units}, SOL "
            f"{self.checkpoint.sol_lamports}) + {len(self.movements)} journaled transaction(s) "
            f"since + {len(self.inflows)} detected fee(s) since"
        )


def _signed(value: int) -> str:
    return f"{value:+d}"


def check_balances(
    checkpoint: Checkpoint,
    observed: BalanceReading,
    movements: Iterable[Movement],
    inflows: Iterable[Inflow] = (),
) -> BalanceCheck:
    """Compare `observed` with the checkpoint plus what happened since.

    Since = the journal's executed transactions the checkpoint does not account for, and the
    fees detected strictly after its slot and no later than the reading's. A fee in the
    checkpoint's own slot is left out: it may be in the figures already, and leaving it out
    can only show a surplus, never hide a deficit.
    """
    after, upto = checkpoint.reading.slot, observed.slot
    return BalanceCheck(
        checkpoint=checkpoint.reading,
        observed=observed,
        movements=tuple(m for m in movements if m.signature not in checkpoint.accounted),
        inflows=tuple(i for i in inflows if after < i.slot <= upto),
    )
