"""The transaction guard: before signing a swap an API built, check what it does to the executor.

Two halves. The pure half (`check_signers`, `compute_budget`, `check_swap`) decides on plain
numbers and account snapshots, so it is tested without a chain. `SwapGuard` gathers those
numbers: the executor's accounts before, the same accounts after a simulation of the unsigned
transaction (simulateTransaction's `accounts` config).

What is checked, on the executor only (the rest of the world is the API's business):
- the executor pays the fee and must sign; every other required signature is already valid;
- the simulation succeeds;
- SOL out <= swap input + network fee + priority fee + rent locked in new executor token accounts;
- tokens of the mint in >= the quote's minimum;
- no other executor token account loses tokens, gains a delegate, changes owner or closes with
  a balance; the executor account stays a plain system account.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from solders.account import Account
from solders.compute_budget import ID as COMPUTE_BUDGET_PROGRAM_ID
from solders.message import Message, MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM_PROGRAM_ID
from solders.token.state import TokenAccount
from solders.transaction import VersionedTransaction
from solders.transaction_status import TransactionErrorFieldless
from spl.token.constants import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID, WRAPPED_SOL_MINT
from spl.token.instructions import get_associated_token_address

from flywheel.domain.trade import Quote
from flywheel.errors import GuardRefused, OperationalError, StaleTransaction
from flywheel.solana.rpc import RpcClient

TOKEN_PROGRAMS = (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID)
LAMPORTS_PER_SIGNATURE = 5_000
MAX_COMPUTE_UNIT_LIMIT = 1_400_000
DEFAULT_INSTRUCTION_COMPUTE_UNIT_LIMIT = 200_000
_SET_COMPUTE_UNIT_LIMIT = 2
_SET_COMPUTE_UNIT_PRICE = 3
_TOKEN_ACCOUNT_LEN = 165
_MICRO_LAMPORTS_PER_LAMPORT = 1_000_000


# -- the pure half ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ComputeBudget:
    unit_limit: int
    unit_price_micro_lamports: int

    @property
    def priority_fee_lamports(self) -> int:
        # The runtime rounds the priority fee up to a whole lamport.
        return -(-self.unit_limit * self.unit_price_micro_lamports // _MICRO_LAMPORTS_PER_LAMPORT)


def compute_budget(message: Message | MessageV0) -> ComputeBudget:
    """The compute unit limit and price a message asks for (the runtime's defaults otherwise)."""
    keys = list(message.account_keys)
    limit: int | None = None
    price = 0
    other_instructions = 0
    for ix in message.instructions:
        if keys[ix.program_id_index] != COMPUTE_BUDGET_PROGRAM_ID:
            other_instructions += 1
            continue
        data = bytes(ix.data)
        if data[:1] == bytes([_SET_COMPUTE_UNIT_LIMIT]) and len(data) >= 5:
            limit = struct.unpack_from("<I", data, 1)[0]
        elif data[:1] == bytes([_SET_COMPUTE_UNIT_PRICE]) and len(data) >= 9:
            price = struct.unpack_from("<Q", data, 1)[0]
    if limit is None:
        limit = DEFAULT_INSTRUCTION_COMPUTE_UNIT_LIMIT * other_instructions
    return ComputeBudget(
        unit_limit=min(limit, MAX_COMPUTE_UNIT_LIMIT), unit_price_micro_lamports=price
    )


def check_signers(tx: VersionedTransaction, executor: Pubkey) -> None:
    """The executor pays and signs; any other signer has already signed this exact message."""
    message = tx.message
    if not isinstance(message, Message | MessageV0):
        # Newer formats carry fees outside compute-budget instructions: not understood here.
        raise GuardRefused(f"unsupported message format {type(message).__name__}")
    keys = list(message.account_keys)
    required = message.header.num_required_signatures
    if not keys or keys[0] != executor:
        payer = keys[0] if keys else "nobody"
        raise GuardRefused(f"fee payer is {payer}, not the executor {executor}")
    if required < 1:
        raise GuardRefused("the transaction requires no signature from the executor")
    signed = to_bytes_versioned(message)
    signatures = list(tx.signatures)
    if len(signatures) != required:
        raise GuardRefused(
            f"the transaction carries {len(signatures)} signatures for {required} signers"
        )
    for index in range(1, required):
        if not signatures[index].verify(keys[index], signed):
            raise GuardRefused(f"co-signer {keys[index]} has not validly signed the transaction")


@dataclass(frozen=True)
class TokenSnapshot:
    """A token account's state that matters to the guard."""

    mint: Pubkey
    owner: Pubkey
    amount: int
    lamports: int
    delegate: Pubkey | None
    close_authority: Pubkey | None
    native_reserve: int | None  # wrapped SOL: the rent reserve; amount is the wrapped SOL

    @property
    def locked_rent(self) -> int:
        """Lamports held as rent, not as wrapped SOL."""
        return self.lamports - self.amount if self.native_reserve is not None else self.lamports


def token_snapshot(account: Account | None) -> TokenSnapshot | None:
    """The account as a token account, or None if it is absent or not one."""
    if account is None or account.owner not in TOKEN_PROGRAMS:
        return None
    data = bytes(account.data)
    if len(data) < _TOKEN_ACCOUNT_LEN:
        return None
    try:
        parsed = TokenAccount.from_bytes(data[:_TOKEN_ACCOUNT_LEN])
    except Exception:  # a mint or a multisig of the same program: not a token account
        return None
    return TokenSnapshot(
        mint=parsed.mint,
        owner=parsed.owner,
        amount=parsed.amount,
        lamports=account.lamports,
        delegate=parsed.delegate,
        close_authority=parsed.close_authority,
        native_reserve=parsed.is_native,
    )


@dataclass(frozen=True)
class SwapEffect:
    """The executor's accounts before and after a simulated swap."""

    sol_before: int
    sol_after: int
    executor_owner_after: Pubkey | None  # None: the account would no longer exist
    tokens_before: Mapping[Pubkey, TokenSnapshot | None]
    tokens_after: Mapping[Pubkey, TokenSnapshot | None]
    error: str | None = None


@dataclass(frozen=True)
class SwapLimits:
    in_lamports: int
    min_out: int
    network_fee: int
    priority_fee: int


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


def check_swap(
    effect: SwapEffect, limits: SwapLimits, *, executor: Pubkey, mint: Pubkey
) -> GuardReport:
    """Refuse (GuardRefused) unless the effect on the executor is the swap and nothing else."""
    if effect.error is not None:
        raise GuardRefused(f"simulation failed: {effect.error}")
    if effect.executor_owner_after != SYSTEM_PROGRAM_ID:
        fate = (
            "closed"
            if effect.executor_owner_after is None
            else f"assigned to {effect.executor_owner_after}"
        )
        raise GuardRefused(f"executor account {executor} would be {fate}")

    token_in = 0
    new_account_rent = 0
    lost_lamports = 0
    for address in sorted(set(effect.tokens_before) | set(effect.tokens_after), key=str):
        before = effect.tokens_before.get(address)
        after = effect.tokens_after.get(address)
        was_ours = before is not None and before.owner == executor
        is_ours = after is not None and after.owner == executor
        if not was_ours and not is_ours:
            continue
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
            lost_lamports += before.lamports
            continue
        assert after is not None  # is_ours
        if after.delegate is not None and (before is None or before.delegate != after.delegate):
            raise GuardRefused(
                f"token account {address} would gain delegate {after.delegate} (mint {after.mint})"
            )
        if after.close_authority not in (None, executor) and (
            before is None or before.close_authority != after.close_authority
        ):
            raise GuardRefused(
                f"token account {address} would gain close authority {after.close_authority}"
            )
        amount_before = before.amount if was_ours and before is not None else 0
        if not was_ours:
            new_account_rent += after.locked_rent
        if after.mint == mint:
            token_in += after.amount - amount_before
        elif after.amount < amount_before:
            raise GuardRefused(
                f"token account {address} (mint {after.mint}) would go down from "
                f"{amount_before} to {after.amount}"
            )

    sol_out = effect.sol_before - effect.sol_after + lost_lamports
    max_sol_out = limits.in_lamports + limits.network_fee + limits.priority_fee + new_account_rent
    report = GuardReport(
        sol_out=sol_out,
        max_sol_out=max_sol_out,
        token_in=token_in,
        min_out=limits.min_out,
        network_fee=limits.network_fee,
        priority_fee=limits.priority_fee,
        new_account_rent=new_account_rent,
    )
    if sol_out > max_sol_out:
        raise GuardRefused(
            f"executor SOL would go down by {sol_out} lamports, more than the {max_sol_out} "
            f"allowed (swap {limits.in_lamports} + network fee {limits.network_fee} + "
            f"priority fee {limits.priority_fee} + new account rent {new_account_rent})"
        )
    if token_in < limits.min_out:
        raise GuardRefused(
            f"executor would receive {token_in} base units of {mint}, less than the quote's "
            f"minimum {limits.min_out}"
        )
    return report


def _snapshots(
    addresses: Sequence[Pubkey], accounts: Sequence[Account | None]
) -> dict[Pubkey, TokenSnapshot | None]:
    return {a: token_snapshot(acc) for a, acc in zip(addresses, accounts, strict=True)}


def describe_simulation_error(err: object, logs: Sequence[str] | None) -> str:
    tail = list(logs or [])[-3:]
    return f"{err}" + (f" (logs: {' | '.join(tail)})" if tail else "")


# -- the I/O half ----------------------------------------------------------------------------


class SwapGuard:
    """Simulates an unsigned swap and checks its effect on the executor."""

    def __init__(
        self,
        rpc: RpcClient,
        executor: Pubkey,
        mint: Pubkey,
        *,
        lamports_per_signature: int = LAMPORTS_PER_SIGNATURE,
    ) -> None:
        self._rpc = rpc
        self._executor = executor
        self._mint = mint
        self._lamports_per_signature = lamports_per_signature
        self._mint_program: Pubkey | None = None

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

    async def inspect(self, tx: VersionedTransaction, quote: Quote) -> GuardReport:
        """The guard's figures if the swap is acceptable; GuardRefused otherwise."""
        check_signers(tx, self._executor)
        message = tx.message
        assert isinstance(message, Message | MessageV0)  # check_signers refused the others
        budget = compute_budget(message)
        limits = SwapLimits(
            in_lamports=quote.in_lamports,
            min_out=quote.min_out_amount,
            network_fee=self._lamports_per_signature * tx.message.header.num_required_signatures,
            priority_fee=budget.priority_fee_lamports,
        )
        watched = await self.watched_accounts()
        addresses = [self._executor, *watched]
        before = await self._rpc.get_multiple_accounts(addresses)
        sim = await self._rpc.simulate(tx, addresses)
        if sim.err == TransactionErrorFieldless.BlockhashNotFound:
            # Waiting (rate limits, a slow API) outlived the swap's blockhash: stale, not hostile.
            raise StaleTransaction("the swap transaction's blockhash expired before signing")
        error = None if sim.err is None else describe_simulation_error(sim.err, sim.logs)
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
        effect = SwapEffect(
            sol_before=0 if before[0] is None else before[0].lamports,
            sol_after=0 if after[0] is None else after[0].lamports,
            executor_owner_after=None if after[0] is None else after[0].owner,
            tokens_before=_snapshots(watched, before[1:]),
            tokens_after=_snapshots(watched, after[1:]),
            error=error,
        )
        return check_swap(effect, limits, executor=self._executor, mint=self._mint)
