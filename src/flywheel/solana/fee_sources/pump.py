"""pump.fun and PumpSwap creator-fee collects, built from the programs' published IDLs.

The instructions FEE_SOURCES=pump sends (the claimer is in pump_claim.py), checked byte for
byte against the IDL entries and a real mainnet claim (tests/fee_sources/).

- `sweep_creator_fee` (pump.fun): coins traded with the v3 instructions keep the creator fee on
  the bonding curve (`BondingCurve.creator_fee`) until this moves it to the creator vault; it
  goes first, in the same transaction as the collect (docs/instructions/SWEEP_FEES.md).

- pump.fun bonding curve: `collect_creator_fee_v2` moves the lamports above rent from the vault
  PDA `["creator-vault", creator]` to the creator (SOL-paired coins pass wSOL as quote mint; the
  token accounts are then unused). The legacy `collect_creator_fee` takes five accounts.
- PumpSwap: `collect_coin_creator_fee` moves the wSOL of the ATA of `["creator_vault",
  coin_creator]` (underscore: the AMM's spelling) into the creator's wSOL account, which
  `claim_instructions` creates first and closes after, so the fees arrive as plain SOL.

Both are permissionless (the creator is not a signer): the executor pays the fee and the SOL
goes to the creator, so the executor must be the creator for the fees to reach the flywheel.
"""

from __future__ import annotations

import hashlib

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM_PROGRAM
from spl.token.instructions import (
    close_account,
    create_idempotent_associated_token_account,
    get_associated_token_address,
)
from spl.token.models import CloseAccountParams

PUMP_PROGRAM = Pubkey.from_string("6EF8rrecthR5Dkzon8Nwu78hRvfCKubJ14M5uBEwF6P")
PUMP_AMM_PROGRAM = Pubkey.from_string("pAMMBay6oceH9fJKBRHGP5D4bD4sWpmSwMn52FMfXEA")
PUMP_FEES_PROGRAM = Pubkey.from_string("pfeeUxB6jkeY1Hxd7CsFCAjcbHA9rWtchMGdZ6VojVZ")
WSOL_MINT = Pubkey.from_string("So11111111111111111111111111111111111111112")
TOKEN_PROGRAM = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
ASSOCIATED_TOKEN_PROGRAM = Pubkey.from_string("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL")


def anchor_discriminator(name: str) -> bytes:
    """Anchor's instruction discriminator: the first 8 bytes of sha256("global:<name>")."""
    return hashlib.sha256(f"global:{name}".encode()).digest()[:8]


COLLECT_CREATOR_FEE = anchor_discriminator("collect_creator_fee")
COLLECT_CREATOR_FEE_V2 = anchor_discriminator("collect_creator_fee_v2")
COLLECT_COIN_CREATOR_FEE = anchor_discriminator("collect_coin_creator_fee")
SWEEP_CREATOR_FEE = anchor_discriminator("sweep_creator_fee")
BONDING_CURVE_DISCRIMINATOR = hashlib.sha256(b"account:BondingCurve").digest()[:8]


def event_authority(program: Pubkey) -> Pubkey:
    return Pubkey.find_program_address([b"__event_authority"], program)[0]


def creator_vault(creator: Pubkey) -> Pubkey:
    """The bonding curve's creator vault (hyphen: pump.fun's spelling)."""
    return Pubkey.find_program_address([b"creator-vault", bytes(creator)], PUMP_PROGRAM)[0]


def bonding_curve(mint: Pubkey) -> Pubkey:
    return Pubkey.find_program_address([b"bonding-curve", bytes(mint)], PUMP_PROGRAM)[0]


def pump_global() -> Pubkey:
    return Pubkey.find_program_address([b"global"], PUMP_PROGRAM)[0]


def amm_vault_authority(coin_creator: Pubkey) -> Pubkey:
    """PumpSwap's creator vault authority (underscore: the AMM's spelling)."""
    return Pubkey.find_program_address([b"creator_vault", bytes(coin_creator)], PUMP_AMM_PROGRAM)[0]


def sharing_config(mint: Pubkey) -> Pubkey:
    """Where a coin moved to fee sharing keeps its config; collects fail once it exists."""
    return Pubkey.find_program_address([b"sharing-config", bytes(mint)], PUMP_FEES_PROGRAM)[0]


def _ata(owner: Pubkey, mint: Pubkey, token_program: Pubkey) -> Pubkey:
    return get_associated_token_address(owner, mint, token_program)


def _meta(pubkey: Pubkey, writable: bool = False) -> AccountMeta:
    return AccountMeta(pubkey=pubkey, is_signer=False, is_writable=writable)


def collect_creator_fee(creator: Pubkey) -> Instruction:
    """The legacy bonding-curve collect (SOL-paired coins only)."""
    accounts = [
        _meta(creator, True),
        _meta(creator_vault(creator), True),
        _meta(SYSTEM_PROGRAM),
        _meta(event_authority(PUMP_PROGRAM)),
        _meta(PUMP_PROGRAM),
    ]
    return Instruction(PUMP_PROGRAM, COLLECT_CREATOR_FEE, accounts)


def collect_creator_fee_v2(
    creator: Pubkey, quote_mint: Pubkey = WSOL_MINT, quote_token_program: Pubkey = TOKEN_PROGRAM
) -> Instruction:
    vault = creator_vault(creator)
    accounts = [
        _meta(creator, True),
        _meta(_ata(creator, quote_mint, quote_token_program), True),
        _meta(vault, True),
        _meta(_ata(vault, quote_mint, quote_token_program), True),
        _meta(quote_mint),
        _meta(quote_token_program),
        _meta(ASSOCIATED_TOKEN_PROGRAM),
        _meta(SYSTEM_PROGRAM),
        _meta(event_authority(PUMP_PROGRAM)),
        _meta(PUMP_PROGRAM),
    ]
    return Instruction(PUMP_PROGRAM, COLLECT_CREATOR_FEE_V2, accounts)


def sweep_creator_fee(
    payer: Pubkey,
    mint: Pubkey,
    creator: Pubkey,
    quote_mint: Pubkey = WSOL_MINT,
    quote_token_program: Pubkey = TOKEN_PROGRAM,
) -> Instruction:
    """Moves `BondingCurve.creator_fee` to the creator vault of `creator` (the curve's)."""
    curve = bonding_curve(mint)
    vault = creator_vault(creator)
    accounts = [
        AccountMeta(pubkey=payer, is_signer=True, is_writable=True),
        _meta(pump_global()),
        _meta(mint),
        _meta(quote_mint),
        _meta(quote_token_program),
        _meta(ASSOCIATED_TOKEN_PROGRAM),
        _meta(SYSTEM_PROGRAM),
        _meta(curve, True),
        _meta(_ata(curve, quote_mint, quote_token_program), True),
        _meta(vault, True),
        _meta(_ata(vault, quote_mint, quote_token_program), True),
        _meta(event_authority(PUMP_PROGRAM)),
        _meta(PUMP_PROGRAM),
    ]
    return Instruction(PUMP_PROGRAM, SWEEP_CREATOR_FEE, accounts)


def collect_coin_creator_fee(
    coin_creator: Pubkey,
    quote_mint: Pubkey = WSOL_MINT,
    quote_token_program: Pubkey = TOKEN_PROGRAM,
) -> Instruction:
    authority = amm_vault_authority(coin_creator)
    accounts = [
        _meta(quote_mint),
        _meta(quote_token_program),
        _meta(coin_creator),
        _meta(authority),
        _meta(_ata(authority, quote_mint, quote_token_program), True),
        _meta(_ata(coin_creator, quote_mint, quote_token_program), True),
        _meta(event_authority(PUMP_AMM_PROGRAM)),
        _meta(PUMP_AMM_PROGRAM),
    ]
    return Instruction(PUMP_AMM_PROGRAM, COLLECT_COIN_CREATOR_FEE, accounts)


def claim_instructions(
    creator: Pubkey,
    *,
    sweep_mint: Pubkey | None = None,
    curve: bool = True,
    amm: bool = True,
) -> list[Instruction]:
    """A SOL-paired coin's claim, paid by and to `creator`: with `sweep_mint`, the sweep of that
    coin's curve first; the curve vault's collect (`curve`); and (`amm`) the creator's wSOL
    account (created if missing), the AMM's collect into it, and its closing, which unwraps the
    wSOL to SOL. A pure function: a memo may be appended to what it returns."""
    wsol_account = _ata(creator, WSOL_MINT, TOKEN_PROGRAM)
    instructions: list[Instruction] = []
    if sweep_mint is not None:
        instructions.append(sweep_creator_fee(creator, sweep_mint, creator))
    if curve or sweep_mint is not None:
        instructions.append(collect_creator_fee_v2(creator))
    if amm:
        instructions += [
            create_idempotent_associated_token_account(
                creator, creator, WSOL_MINT, token_program_id=TOKEN_PROGRAM
            ),
            collect_coin_creator_fee(creator),
            close_account(
                CloseAccountParams(
                    program_id=TOKEN_PROGRAM, account=wsol_account, dest=creator, owner=creator
                )
            ),
        ]
    return instructions
