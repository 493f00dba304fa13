"""Composing the swap transaction from Jupiter v2 /build instructions, with our own settings.

What goes in, in order: our compute-unit limit (the swap's simulated consumption plus a margin)
and price (a percentile of `getRecentPrioritizationFees` for the accounts the swap writes,
capped so the priority fee stays within MAX_PRIORITY_FEE_LAMPORTS), the read-only Jito
`jitodontfront` marker (on our compute-unit price instruction: nobody may be placed before the
transaction in a bundle), Jupiter's setup, swap, cleanup and other instructions, with a Jito
block engine our tip (JITO_TIP_LAMPORTS to one of Jito's tip accounts), and optionally our
burn and the epoch's state memo (domain/anchor.py). Jupiter's own compute budget and any tip
are dropped: fees are the operator's.

Nothing from the answer is trusted: lookup tables are read from the chain (an address the API
lists that the table does not hold is refused), a compute-budget instruction outside
`computeBudgetInstructions` or a signer other than the executor is refused, and the composed
transaction then goes through the guard like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from solders.address_lookup_table_account import (
    AddressLookupTable,
    AddressLookupTableAccount,
)
from solders.compute_budget import ID as COMPUTE_BUDGET_PROGRAM_ID
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from flywheel.errors import GuardRefused, OperationalError
from flywheel.jupiter.build import BuildInstructions
from flywheel.solana.guard import writable_keys
from flywheel.solana.guard_checks import JITO_DONTFRONT, MAX_COMPUTE_UNIT_LIMIT
from flywheel.solana.jito import JitoClient
from flywheel.solana.memo import memo_instruction
from flywheel.solana.rpc import RpcClient
from flywheel.solana.settle import burn_instructions, parse_mint

log = structlog.get_logger("flywheel.compose_swap")

__all__ = ["JITO_DONTFRONT", "SwapComposer", "compose_message"]

PRIORITY_FEE_PERCENTILE = 75  # of the recent non-zero fees (bots take p50-p75)
COMPUTE_UNIT_MARGIN_PERCENT = 120  # Jupiter's example: the simulated units plus 20%
MIN_COMPUTE_UNIT_LIMIT = 50_000  # a floor, so a tiny simulation never starves the real run
_MICRO_LAMPORTS_PER_LAMPORT = 1_000_000
PACKET_DATA_SIZE = 1232  # the most a transaction may take on the wire


def percentile(values: Sequence[int], pct: int) -> int:
    """The nearest-rank percentile of the non-zero values; 0 when there are none."""
    found = sorted(v for v in values if v > 0)
    if not found:
        return 0
    rank = max(-(-len(found) * pct // 100), 1)
    return found[rank - 1]


def unit_limit_for(units_consumed: int | None) -> int:
    """The compute-unit limit for a swap that used `units_consumed` in simulation."""
    if units_consumed is None or units_consumed <= 0:
        return MAX_COMPUTE_UNIT_LIMIT
    with_margin = -(-units_consumed * COMPUTE_UNIT_MARGIN_PERCENT // 100)
    return min(max(with_margin, MIN_COMPUTE_UNIT_LIMIT), MAX_COMPUTE_UNIT_LIMIT)


def unit_price_for(recent_fees: Sequence[int], unit_limit: int, max_priority_fee: int) -> int:
    """Micro-lamports per unit: the fee percentile, lowered so limit x price <= the ceiling."""
    ceiling = max_priority_fee * _MICRO_LAMPORTS_PER_LAMPORT // max(unit_limit, 1)
    return min(percentile(recent_fees, PRIORITY_FEE_PERCENTILE), ceiling)


def check_instructions(instructions: Sequence[Instruction], executor: Pubkey) -> None:
    """Refuse what we could not sign or what would override our compute budget."""
    for ix in instructions:
        if ix.program_id == COMPUTE_BUDGET_PROGRAM_ID:
            raise GuardRefused(
                "the build answer hides a compute-budget instruction among the swap's: the "
                "compute budget is ours to set"
            )
        for meta in ix.accounts:
            if meta.is_signer and meta.pubkey != executor:
                raise GuardRefused(
                    f"the build answer needs a signature from {meta.pubkey}, not only the "
                    f"executor's {executor}"
                )


def compose_message(
    payer: Pubkey,
    swap: Sequence[Instruction],
    *,
    unit_limit: int,
    unit_price: int,
    blockhash: Hash,
    lookup_tables: Sequence[AddressLookupTableAccount] = (),
    after: Sequence[Instruction] = (),
) -> MessageV0:
    """The v0 message: our compute budget (with the MEV marker), the swap, then `after`."""
    price = set_compute_unit_price(unit_price)
    marked = Instruction(
        price.program_id, bytes(price.data), [AccountMeta(JITO_DONTFRONT, False, False)]
    )
    instructions = [set_compute_unit_limit(unit_limit), marked, *swap, *after]
    return MessageV0.try_compile(payer, instructions, list(lookup_tables), blockhash)


def unsigned(message: MessageV0) -> VersionedTransaction:
    return VersionedTransaction.populate(
        message, [Signature.default()] * message.header.num_required_signatures
    )


@dataclass
class SwapComposer:
    """Composes /build instructions into an unsigned transaction for the executor."""

    rpc: RpcClient
    executor: Pubkey
    mint: Pubkey
    max_priority_fee_lamports: int
    jito: JitoClient | None = None  # with a block engine: a tip of `tip_lamports` goes in
    tip_lamports: int = 0

    async def lookup_tables(
        self, listed: dict[Pubkey, list[Pubkey]]
    ) -> list[AddressLookupTableAccount]:
        """The tables the answer names, as the chain holds them."""
        if not listed:
            return []
        keys = list(listed)
        accounts = await self.rpc.get_multiple_accounts(keys)
        tables: list[AddressLookupTableAccount] = []
        for key, account in zip(keys, accounts, strict=True):
            if account is None:
                raise OperationalError(f"address lookup table {key} does not exist on chain")
            try:
                held = list(AddressLookupTable.deserialize(bytes(account.data)).addresses)
            except Exception:
                raise OperationalError(f"account {key} is not an address lookup table") from None
            missing = [a for a in listed[key] if a not in held]
            if missing:
                raise GuardRefused(
                    f"lookup table {key} does not hold {missing[0]} though the build answer says so"
                )
            tables.append(AddressLookupTableAccount(key, held))
        return tables

    async def compose(
        self, build: BuildInstructions, *, burn_amount: int = 0, memo: str | None = None
    ) -> bytes:
        composed = await self._compose(build, burn_amount, memo)
        if memo is not None and len(composed) > PACKET_DATA_SIZE:
            # A route too large for our memo as well: the swap goes without it, and the epoch's
            # closing anchor witnesses it (a crash before that anchor needs the backup).
            log.warning("swap composed without its state memo", size=len(composed))
            composed = await self._compose(build, burn_amount, None)
        return composed

    async def _compose(self, build: BuildInstructions, burn_amount: int, memo: str | None) -> bytes:
        swap = build.swap_instructions()
        check_instructions(swap, self.executor)
        tables = await self.lookup_tables(build.lookup_tables)
        after: list[Instruction] = []
        if self.jito is not None and self.tip_lamports > 0:
            tip_to = await self.jito.tip_account()
            after.append(
                transfer(
                    TransferParams(
                        from_pubkey=self.executor, to_pubkey=tip_to, lamports=self.tip_lamports
                    )
                )
            )
        if burn_amount > 0:
            mint = parse_mint(self.mint, await self.rpc.get_account_info(self.mint))
            after += burn_instructions(mint, self.executor, burn_amount)
        if memo is not None:  # the state memo: last, inside the simulation that sizes the limit
            after.append(memo_instruction(memo, self.executor))
        blockhash, _ = await self.rpc.get_latest_blockhash()

        def message(limit: int, price: int) -> MessageV0:
            return compose_message(
                self.executor,
                swap,
                unit_limit=limit,
                unit_price=price,
                blockhash=blockhash,
                lookup_tables=tables,
                after=after,
            )

        draft = message(MAX_COMPUTE_UNIT_LIMIT, 0)
        sim = await self.rpc.simulate(unsigned(draft), [])
        # A failing draft still gets composed: the guard's own simulation says why (a moved
        # price re-quotes, anything else is refused), with the full limit and a capped price.
        limit = unit_limit_for(sim.units_consumed if sim.err is None else None)
        fees = await self.rpc.get_recent_prioritization_fees(writable_keys(draft)[1:])
        price = unit_price_for(fees, limit, self.max_priority_fee_lamports)
        final = message(limit, price)
        log.debug(
            "swap composed",
            unit_limit=limit,
            unit_price=price,
            units_simulated=sim.units_consumed,
            burn_amount=burn_amount,
            lookup_tables=len(tables),
        )
        return bytes(unsigned(final))
