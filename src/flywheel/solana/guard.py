"""The transaction guard: before signing a swap an API built, check what it does to the executor.

`SwapGuard` gathers the numbers the pure half (`flywheel.solana.guard_checks`) decides on: the
executor's accounts and every account the transaction names, before and after a simulation of
the unsigned transaction (simulateTransaction's `accounts` config). Its limits are the
operator's (MAX_PRIORITY_FEE_LAMPORTS, MAX_SLIPPAGE_BPS), never the API's answer.

A simulation that fails with the DEX's slippage error is a stale quote, not an attack: it raises
`SlippageExceeded` (re-quote), never `GuardRefused` (investigate).
"""

from __future__ import annotations

from collections.abc import Sequence

from solders.account import Account
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction
from solders.transaction_status import (
    InstructionErrorCustom,
    TransactionErrorFieldless,
    TransactionErrorInstructionError,
)
from spl.token.constants import TOKEN_PROGRAM_ID, WRAPPED_SOL_MINT
from spl.token.instructions import get_associated_token_address

from flywheel.domain.trade import Quote, our_min_out
from flywheel.errors import GuardRefused, OperationalError, SlippageExceeded, StaleTransaction
from flywheel.solana.guard_checks import (
    DEFAULT_INSTRUCTION_COMPUTE_UNIT_LIMIT,
    LAMPORTS_PER_SIGNATURE,
    MAX_COMPUTE_UNIT_LIMIT,
    ComputeBudget,
    GuardReport,
    SwapEffect,
    SwapLimits,
    check_mev_marker,
    check_priority_fee,
    check_signers,
    check_swap,
    compute_budget,
)
from flywheel.solana.rpc import RpcClient
from flywheel.solana.tokens import TOKEN_PROGRAMS, TokenSnapshot, token_snapshot

__all__ = [
    "DEFAULT_INSTRUCTION_COMPUTE_UNIT_LIMIT",
    "DEFAULT_MAX_PRIORITY_FEE_LAMPORTS",
    "DEFAULT_MAX_SLIPPAGE_BPS",
    "LAMPORTS_PER_SIGNATURE",
    "MAX_COMPUTE_UNIT_LIMIT",
    "TOKEN_PROGRAMS",
    "ComputeBudget",
    "GuardReport",
    "SwapEffect",
    "SwapGuard",
    "SwapLimits",
    "TokenSnapshot",
    "check_priority_fee",
    "check_signers",
    "check_swap",
    "compute_budget",
    "describe_simulation_error",
    "is_slippage_error",
    "token_snapshot",
]

# Jupiter's SlippageToleranceExceeded (0x1771); routes that fail on their own program's check
# say so in their logs instead.
SLIPPAGE_ERROR_CODES = frozenset({6001})
SLIPPAGE_LOG_MARKERS = ("SlippageToleranceExceeded", "ExceededSlippage", "slippage tolerance")
# Defaults of MAX_PRIORITY_FEE_LAMPORTS and MAX_SLIPPAGE_BPS: compose passes the configured ones.
DEFAULT_MAX_PRIORITY_FEE_LAMPORTS = 1_000_000
DEFAULT_MAX_SLIPPAGE_BPS = 300


def describe_simulation_error(err: object, logs: Sequence[str] | None) -> str:
    tail = list(logs or [])[-3:]
    return f"{err}" + (f" (logs: {' | '.join(tail)})" if tail else "")


def is_slippage_error(err: object, logs: Sequence[str] | None) -> bool:
    """The DEX's own 'the price moved past the minimum' failure, by code or by its log line."""
    if isinstance(err, TransactionErrorInstructionError):
        inner = err.err
        if isinstance(inner, InstructionErrorCustom) and inner.code in SLIPPAGE_ERROR_CODES:
            return True
    return any(marker in line for line in logs or [] for marker in SLIPPAGE_LOG_MARKERS)


def _snapshots(
    addresses: Sequence[Pubkey], accounts: Sequence[Account | None]
) -> dict[Pubkey, TokenSnapshot | None]:
    return {a: token_snapshot(acc) for a, acc in zip(addresses, accounts, strict=True)}


def _lamports(addresses: Sequence[Pubkey], accounts: Sequence[Account | None]) -> dict[Pubkey, int]:
    return {
        a: 0 if acc is None else acc.lamports for a, acc in zip(addresses, accounts, strict=True)
    }


def route_accounts(quote: Quote) -> frozenset[Pubkey]:
    """The pools the quote routes through (routePlan[].swapInfo.ammKey), for naming only."""
    found: set[Pubkey] = set()
    plan = quote.raw.get("routePlan")
    for step in plan if isinstance(plan, list) else []:
        info = step.get("swapInfo") if isinstance(step, dict) else None
        key = info.get("ammKey") if isinstance(info, dict) else None
        if not isinstance(key, str):
            continue
        try:
            found.add(Pubkey.from_string(key))
        except ValueError:
            continue
    return frozenset(found)


def writable_keys(message: Message | MessageV0) -> list[Pubkey]:
    """The static account keys the transaction may write: only those can gain lamports."""
    header = message.header
    keys = list(message.account_keys)
    signers = header.num_required_signatures
    writable_signers = signers - header.num_readonly_signed_accounts
    writable_unsigned_end = len(keys) - header.num_readonly_unsigned_accounts
    return [
        key
        for index, key in enumerate(keys)
        if index < writable_signers or signers <= index < writable_unsigned_end
    ]


class SwapGuard:
    """Simulates an unsigned swap and checks its effect on the executor."""

    def __init__(
        self,
        rpc: RpcClient,
        executor: Pubkey,
        mint: Pubkey,
        *,
        lamports_per_signature: int = LAMPORTS_PER_SIGNATURE,
        max_priority_fee_lamports: int = DEFAULT_MAX_PRIORITY_FEE_LAMPORTS,
        max_slippage_bps: int = DEFAULT_MAX_SLIPPAGE_BPS,
        max_tip_lamports: int = 0,
        tip_accounts: frozenset[Pubkey] = frozenset(),
    ) -> None:
        self._rpc = rpc
        self.max_tip_lamports = max_tip_lamports
        self.tip_accounts = tip_accounts
        self._executor = executor
        self._mint = mint
        self._lamports_per_signature = lamports_per_signature
        self.max_priority_fee_lamports = max_priority_fee_lamports
        self.max_slippage_bps = max_slippage_bps
        self._mint_program: Pubkey | None = None
        self._rent_by_size: dict[int, int] = {}

    async def mint_program(self) -> Pubkey:
        if self._mint_program is None:
            account = await self._rpc.get_account_info(self._mint)
            if account is None or account.owner not in TOKEN_PROGRAMS:
                raise OperationalError(f"token mint {self._mint} is not a mint of a token program")
            self._mint_program = account.owner
        return self._mint_program

    async def watched_accounts(self) -> list[Pubkey]:
        """Every executor token account now, plus the ones a swap may create."""
        program = await self.mint_program()
        found: list[Pubkey] = [
            get_associated_token_address(self._executor, self._mint, program),
            get_associated_token_address(self._executor, WRAPPED_SOL_MINT, TOKEN_PROGRAM_ID),
        ]
        for token_program in TOKEN_PROGRAMS:
            for keyed in await self._rpc.get_token_accounts_by_owner(
                self._executor, program_id=token_program
            ):
                found.append(keyed.pubkey)
        return list(dict.fromkeys(found))

    async def _rent(self, tokens: Sequence[TokenSnapshot | None]) -> dict[int, int]:
        """The cluster's rent-exempt minimum for each token account size the swap leaves."""
        for size in sorted({t.data_len for t in tokens if t is not None}):
            if size not in self._rent_by_size:
                self._rent_by_size[size] = await self._rpc.get_minimum_balance_for_rent_exemption(
                    size
                )
        return dict(self._rent_by_size)

    async def inspect(
        self, tx: VersionedTransaction, quote: Quote, *, burned: int = 0
    ) -> GuardReport:
        """The guard's figures if the swap is acceptable; GuardRefused otherwise.

        `burned`: the tokens our own burn in the same transaction destroys (v2 composition)."""
        message, priority_fee = self._check_transaction(tx)
        effect = await self._observe(tx, message)
        limits = SwapLimits(
            in_lamports=quote.in_lamports,
            min_out=our_min_out(quote.out_amount, self.max_slippage_bps),
            network_fee=self._lamports_per_signature * message.header.num_required_signatures,
            priority_fee=priority_fee,
            rent_by_size=await self._rent(list(effect.tokens_after.values())),
            route_accounts=route_accounts(quote),
            burned=burned,
            max_tip=self.max_tip_lamports,
            tip_accounts=self.tip_accounts,
        )
        return check_swap(effect, limits, executor=self._executor, mint=self._mint)

    async def _observe(self, tx: VersionedTransaction, message: Message | MessageV0) -> SwapEffect:
        """The executor, its token accounts and every other writable account, read before and
        simulated after `tx`: what the transaction would do (a swap's or a sale's)."""
        watched, others = await self._accounts_to_watch(message)
        addresses = [self._executor, *watched, *others]
        before = await self._rpc.get_multiple_accounts(addresses)
        after, error = await self._simulate(tx, addresses, before)
        split = 1 + len(watched)
        return SwapEffect(
            sol_before=0 if before[0] is None else before[0].lamports,
            sol_after=0 if after[0] is None else after[0].lamports,
            executor_owner_after=None if after[0] is None else after[0].owner,
            tokens_before=_snapshots(watched, before[1:split]),
            tokens_after=_snapshots(watched, after[1:split]),
            error=error,
            others_before=_lamports(others, before[split:]),
            others_after=_lamports(others, after[split:]),
        )

    def _check_transaction(self, tx: VersionedTransaction) -> tuple[Message | MessageV0, int]:
        """What the transaction says before it runs: signers, MEV marker, priority fee."""
        check_signers(tx, self._executor)
        message = tx.message
        assert isinstance(message, Message | MessageV0)  # check_signers refused the others
        check_mev_marker(message)
        priority_fee = check_priority_fee(compute_budget(message), self.max_priority_fee_lamports)
        return message, priority_fee

    async def _accounts_to_watch(
        self, message: Message | MessageV0
    ) -> tuple[list[Pubkey], list[Pubkey]]:
        """The executor's token accounts, and the other writable accounts the message names."""
        watched = await self.watched_accounts()
        # Lookup-table accounts are not named here: a loss through them is still refused, by
        # the executor's own balance, only without the recipient's name.
        mine = {*watched, self._executor}
        others = [k for k in dict.fromkeys(writable_keys(message)) if k not in mine]
        return watched, others

    async def _simulate(
        self,
        tx: VersionedTransaction,
        addresses: list[Pubkey],
        before: list[Account | None],
    ) -> tuple[list[Account | None], str | None]:
        """The accounts after a simulation, one per address, and its error described (if any)."""
        sim = await self._rpc.simulate(tx, addresses)
        if sim.err == TransactionErrorFieldless.BlockhashNotFound:
            # Waiting (rate limits, a slow API) outlived the swap's blockhash: stale, not hostile.
            raise StaleTransaction("the swap transaction's blockhash expired before signing")
        error = None if sim.err is None else describe_simulation_error(sim.err, sim.logs)
        if sim.err is not None and is_slippage_error(sim.err, sim.logs):
            raise SlippageExceeded(
                f"Slippage exceeds maximum: the swap's simulation fails with the DEX's slippage "
                f"error ({error}); the price moved more than our slippage room "
                f"{self.max_slippage_bps} bps since the quote"
            )
        after: list[Account | None]
        if sim.accounts is None:
            if error is None:
                raise GuardRefused("the simulation did not return the executor's accounts")
            after = list(before)
        else:
            after = list(sim.accounts)
        if len(after) != len(addresses):
            raise GuardRefused(
                f"the simulation returned {len(after)} accounts for {len(addresses)} asked"
            )
        return after, error
