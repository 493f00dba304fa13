"""`token2022`: the Token-2022 transfer fees withheld in the token itself.

Every transfer of a mint with the `TransferFeeConfig` extension withholds a fee in the
recipient's token account (`TransferFeeAmount`). The claim harvests those amounts into the mint
(permissionless) and withdraws everything the mint holds to the executor's token account, which
only the mint's withdraw-withheld authority may sign: the executor must be that authority.
One transaction: the executor's account (created if missing), the harvest, the withdrawal.

The accounts holding withheld fees are found with one `getProgramAccounts` (filtered by mint
and account type), made only when a claim is being decided; a harvest takes at most
`max_sources` accounts, the fullest first, and later epochs take the rest.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from solders.account import Account
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from spl.token.instructions import (
    create_idempotent_associated_token_account,
    get_associated_token_address,
    harvest_withheld_tokens_to_mint,
    withdraw_withheld_tokens_from_mint,
)
from spl.token.models import HarvestWithheldTokensToMintParams, WithdrawWithheldTokensFromMintParams

from flywheel.domain.trade import PreparedTx
from flywheel.errors import ConfigError
from flywheel.solana.fee_sources.claim_tx import signed_claim
from flywheel.solana.guard import TOKEN_PROGRAMS
from flywheel.solana.rpc import RpcClient

TOKEN_2022_PROGRAM_ID = Pubkey.from_string("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb")
ACCOUNT_LEN = 165  # the base token account; Token-2022 pads a mint with extensions to it
_TYPE_MINT = 1
_TYPE_ACCOUNT = 2
_EXT_TRANSFER_FEE_CONFIG = 1
_EXT_TRANSFER_FEE_AMOUNT = 2
_ACCOUNT_TYPE_BASE58 = "3"  # base58 of the single byte 2 (account type: token account)
# The harvest lists each source account (32 bytes); 20 keep the transaction well under 1232.
MAX_HARVEST_SOURCES = 20


@dataclass(frozen=True)
class TransferFeeConfig:
    withdraw_withheld_authority: Pubkey | None
    withheld_amount: int  # already harvested into the mint


def extensions(data: bytes, account_type: int) -> dict[int, bytes]:
    """The TLV extensions after the base layout, or {} when `data` is not of `account_type`."""
    if len(data) <= ACCOUNT_LEN or data[ACCOUNT_LEN] != account_type:
        return {}
    found: dict[int, bytes] = {}
    offset = ACCOUNT_LEN + 1
    while offset + 4 <= len(data):
        kind, length = struct.unpack_from("<HH", data, offset)
        if kind == 0:
            break  # uninitialized: the rest is padding
        found[kind] = data[offset + 4 : offset + 4 + length]
        offset += 4 + length
    return found


def transfer_fee_config(data: bytes) -> TransferFeeConfig | None:
    value = extensions(data, _TYPE_MINT).get(_EXT_TRANSFER_FEE_CONFIG)
    if value is None or len(value) < 72:
        return None
    authority = value[32:64]
    return TransferFeeConfig(
        withdraw_withheld_authority=None if authority == bytes(32) else Pubkey(authority),
        withheld_amount=int.from_bytes(value[64:72], "little"),
    )


def withheld_in_account(data: bytes) -> int:
    value = extensions(data, _TYPE_ACCOUNT).get(_EXT_TRANSFER_FEE_AMOUNT)
    return 0 if value is None or len(value) < 8 else int.from_bytes(value[:8], "little")


def claim_instructions(mint: Pubkey, executor: Pubkey, sources: list[Pubkey]) -> list[Instruction]:
    destination = get_associated_token_address(executor, mint, TOKEN_2022_PROGRAM_ID)
    instructions = [
        create_idempotent_associated_token_account(
            executor, executor, mint, token_program_id=TOKEN_2022_PROGRAM_ID
        )
    ]
    if sources:
        instructions.append(
            harvest_withheld_tokens_to_mint(
                HarvestWithheldTokensToMintParams(
                    program_id=TOKEN_2022_PROGRAM_ID, mint=mint, sources=sources
                )
            )
        )
    instructions.append(
        withdraw_withheld_tokens_from_mint(
            WithdrawWithheldTokensFromMintParams(
                program_id=TOKEN_2022_PROGRAM_ID, mint=mint, dest=destination, authority=executor
            )
        )
    )
    return instructions


def check_authority(mint: Pubkey, account: Account | None, executor: Pubkey) -> TransferFeeConfig:
    """The mint's fee config, after checking the executor may withdraw its withheld fees."""
    if account is None or account.owner not in TOKEN_PROGRAMS:
        raise ConfigError([f"TOKEN_MINT {mint} is not a token mint on this chain"])
    config = transfer_fee_config(bytes(account.data))
    if account.owner != TOKEN_2022_PROGRAM_ID or config is None:
        raise ConfigError(
            [
                f"FEE_SOURCES=token2022 but TOKEN_MINT {mint} has no Token-2022 transfer fee;"
                " remove token2022 from FEE_SOURCES"
            ]
        )
    authority = config.withdraw_withheld_authority
    if authority != executor:
        held_by = "revoked: nobody can ever withdraw them" if authority is None else str(authority)
        raise ConfigError(
            [
                f"FEE_SOURCES=token2022 needs the executor {executor} to be the withdraw-withheld"
                f" authority of {mint}, which is {held_by}; set that authority to the executor"
                f" (spl-token authorize {mint} withheld-withdraw {executor}) or remove"
                " token2022 from FEE_SOURCES"
            ]
        )
    return config


class Token2022Claimer:
    """The `FeeClaimer` of FEE_SOURCES=token2022: fees are tokens of TOKEN_MINT."""

    name = "token2022"
    unit = "tokens"

    def __init__(
        self,
        rpc: RpcClient,
        keypair: Keypair,
        mint: Pubkey,
        *,
        max_sources: int = MAX_HARVEST_SOURCES,
        compute_unit_price: int | None = None,
    ) -> None:
        self._rpc = rpc
        self.__keypair = keypair
        self.executor = keypair.pubkey()
        self.mint = mint
        self.max_sources = max_sources
        self._compute_unit_price = compute_unit_price
        self._sources: list[Pubkey] = []

    def __repr__(self) -> str:
        return f"Token2022Claimer(executor={self.executor}, mint={self.mint})"

    async def check(self) -> TransferFeeConfig:
        return check_authority(
            self.mint, await self._rpc.get_account_info(self.mint), self.executor
        )

    async def claimable(self) -> int:
        config = await self.check()
        holders = await self._rpc.get_program_accounts(
            TOKEN_2022_PROGRAM_ID, [(0, str(self.mint)), (ACCOUNT_LEN, _ACCOUNT_TYPE_BASE58)]
        )
        withheld = [(withheld_in_account(bytes(h.account.data)), h.pubkey) for h in holders]
        fullest = sorted((w for w in withheld if w[0] > 0), key=lambda w: (-w[0], str(w[1])))
        chosen = fullest[: self.max_sources]
        self._sources = [address for _, address in chosen]
        return config.withheld_amount + sum(amount for amount, _ in chosen)

    async def prepare_claim(self, memo: str | None = None) -> PreparedTx:
        if not self._sources:
            await self.claimable()
        instructions = claim_instructions(self.mint, self.executor, self._sources)
        return await signed_claim(
            self._rpc,
            self.__keypair,
            instructions,
            memo=memo,
            compute_unit_price=self._compute_unit_price,
        )
