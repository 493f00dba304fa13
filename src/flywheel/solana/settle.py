"""Settling bought tokens: burn them, or send them to the treasury.

Pure builders (instructions and a signed v0 transaction from plain values) plus `Settler`, the
thin I/O that reads the mint and the blockhash. The instructions always name the mint's own
token program (SPL Token or Token-2022, read from the mint account's owner): a burn sent to the
wrong program fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from solders.account import Account
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.token.state import Mint
from solders.transaction import VersionedTransaction
from spl.token.instructions import (
    burn_checked,
    create_idempotent_associated_token_account,
    get_associated_token_address,
    transfer_checked,
)
from spl.token.models import BurnCheckedParams, TransferCheckedParams

from flywheel.errors import OperationalError
from flywheel.solana.rpc import RpcClient
from flywheel.solana.tokens import TOKEN_PROGRAMS, token_snapshot

_MINT_LEN = 82
# Enough for an idempotent ATA creation plus a transfer (about 30k units measured on LiteSVM).
DEFAULT_SETTLE_COMPUTE_UNIT_LIMIT = 60_000


@dataclass(frozen=True)
class MintInfo:
    address: Pubkey
    token_program: Pubkey
    decimals: int
    supply: int


def parse_mint(address: Pubkey, account: Account | None) -> MintInfo:
    if account is None:
        raise OperationalError(f"token mint {address} does not exist")
    if account.owner not in TOKEN_PROGRAMS:
        raise OperationalError(f"{address} is owned by {account.owner}, not a token program")
    data = bytes(account.data)
    try:
        mint = Mint.from_bytes(data[:_MINT_LEN])
    except Exception as exc:
        raise OperationalError(f"{address} is not a token mint") from exc
    if not mint.is_initialized:
        raise OperationalError(f"token mint {address} is not initialized")
    return MintInfo(
        address=address, token_program=account.owner, decimals=mint.decimals, supply=mint.supply
    )


def source_account(mint: MintInfo, owner: Pubkey) -> Pubkey:
    """Where the executor holds the token: its associated token account."""
    return get_associated_token_address(owner, mint.address, mint.token_program)


def burn_instructions(mint: MintInfo, owner: Pubkey, amount: int) -> list[Instruction]:
    _positive(amount)
    return [
        burn_checked(
            BurnCheckedParams(
                program_id=mint.token_program,
                mint=mint.address,
                account=source_account(mint, owner),
                owner=owner,
                amount=amount,
                decimals=mint.decimals,
                signers=[],
            )
        )
    ]


def treasury_instructions(
    mint: MintInfo, owner: Pubkey, treasury: Pubkey, amount: int
) -> list[Instruction]:
    """Create the treasury's associated token account if missing, then transfer into it."""
    _positive(amount)
    destination = get_associated_token_address(treasury, mint.address, mint.token_program)
    return [
        create_idempotent_associated_token_account(
            owner, treasury, mint.address, token_program_id=mint.token_program
        ),
        transfer_checked(
            TransferCheckedParams(
                program_id=mint.token_program,
                source=source_account(mint, owner),
                mint=mint.address,
                dest=destination,
                owner=owner,
                amount=amount,
                decimals=mint.decimals,
                signers=[],
            )
        ),
    ]


def signed_transaction(
    payer: Keypair,
    instructions: Sequence[Instruction],
    blockhash: Hash,
    *,
    compute_unit_price: int | None = None,
    compute_unit_limit: int = DEFAULT_SETTLE_COMPUTE_UNIT_LIMIT,
) -> VersionedTransaction:
    """A v0 transaction paid and signed by `payer` (a priority fee only if a price is given)."""
    budget: list[Instruction] = []
    if compute_unit_price is not None:
        budget = [
            set_compute_unit_limit(compute_unit_limit),
            set_compute_unit_price(compute_unit_price),
        ]
    message = MessageV0.try_compile(payer.pubkey(), [*budget, *instructions], [], blockhash)
    return VersionedTransaction(message, [payer])


def _positive(amount: int) -> None:
    if amount <= 0:
        raise ValueError(f"token amount must be positive, got {amount}")


class Settler:
    """Builds signed burn and treasury transactions for the executor."""

    def __init__(
        self,
        rpc: RpcClient,
        keypair: Keypair,
        mint: Pubkey,
        *,
        compute_unit_price: int | None = None,
    ) -> None:
        self._rpc = rpc
        self._keypair = keypair
        self._mint = mint
        self._compute_unit_price = compute_unit_price

    async def mint_info(self) -> MintInfo:
        return parse_mint(self._mint, await self._rpc.get_account_info(self._mint))

    async def _checked_mint(self, amount: int) -> MintInfo:
        """The mint, after checking the executor holds `amount`: a short burn only burns fees."""
        _positive(amount)
        mint = await self.mint_info()
        owner = self._keypair.pubkey()
        held = token_snapshot(await self._rpc.get_account_info(source_account(mint, owner)))
        balance = 0 if held is None else held.amount
        if balance < amount:
            raise OperationalError(
                f"cannot settle {amount} base units of {self._mint}: the executor's token "
                f"account holds {balance}"
            )
        return mint

    async def _sign(self, instructions: list[Instruction]) -> tuple[VersionedTransaction, int]:
        blockhash, last_valid = await self._rpc.get_latest_blockhash()
        tx = signed_transaction(
            self._keypair, instructions, blockhash, compute_unit_price=self._compute_unit_price
        )
        return tx, last_valid

    async def burn(
        self, amount: int, extra: Sequence[Instruction] = ()
    ) -> tuple[VersionedTransaction, int]:
        """(signed burn of `amount` base units, then `extra` (a memo), lastValidBlockHeight)."""
        mint = await self._checked_mint(amount)
        ixs = burn_instructions(mint, self._keypair.pubkey(), amount)
        return await self._sign([*ixs, *extra])

    async def transfer(
        self, amount: int, treasury: Pubkey, extra: Sequence[Instruction] = ()
    ) -> tuple[VersionedTransaction, int]:
        """(signed transfer of `amount` base units to the treasury's ATA, then `extra`,
        lastValidBlockHeight)."""
        mint = await self._checked_mint(amount)
        owner = self._keypair.pubkey()
        ixs = treasury_instructions(mint, owner, treasury, amount)
        return await self._sign([*ixs, *extra])
