"""The emulated programs' addresses, discriminators and PDAs, written out from the IDLs
(pump-fun/pump-public-docs idl/pump.json, idl/pump_amm.json) on their own: the sandbox stands
for the chain, so it never borrows the flywheel's builders (tests/architecture checks it), and a
wrong seed or discriminator there fails against this instead of agreeing with itself."""

from __future__ import annotations

from solders.pubkey import Pubkey

PUMP_PROGRAM = Pubkey.from_string("6EF8rrecthR5Dkzon8Nwu78hRvfCKubJ14M5uBEwF6P")
PUMP_AMM_PROGRAM = Pubkey.from_string("pAMMBay6oceH9fJKBRHGP5D4bD4sWpmSwMn52FMfXEA")
PUMP_FEES_PROGRAM = Pubkey.from_string("pfeeUxB6jkeY1Hxd7CsFCAjcbHA9rWtchMGdZ6VojVZ")
WSOL_MINT = Pubkey.from_string("So11111111111111111111111111111111111111112")
TOKEN_PROGRAM = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
ASSOCIATED_TOKEN_PROGRAM = Pubkey.from_string("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL")

# The IDLs' "discriminator" arrays, as they list them.
SWEEP_CREATOR_FEE = bytes([32, 246, 191, 52, 8, 201, 73, 186])
COLLECT_CREATOR_FEE = bytes([20, 22, 86, 123, 198, 28, 219, 132])
COLLECT_CREATOR_FEE_V2 = bytes([207, 17, 138, 242, 4, 34, 19, 56])
COLLECT_COIN_CREATOR_FEE = bytes([160, 57, 89, 42, 181, 139, 43, 66])
BONDING_CURVE_ACCOUNT = bytes([23, 183, 248, 55, 96, 216, 172, 96])


def _pda(seeds: list[bytes], program: Pubkey) -> Pubkey:
    return Pubkey.find_program_address(seeds, program)[0]


def ata(owner: Pubkey, mint: Pubkey = WSOL_MINT) -> Pubkey:
    return _pda([bytes(owner), bytes(TOKEN_PROGRAM), bytes(mint)], ASSOCIATED_TOKEN_PROGRAM)


def event_authority(program: Pubkey) -> Pubkey:
    return _pda([b"__event_authority"], program)


def pump_global() -> Pubkey:
    return _pda([b"global"], PUMP_PROGRAM)


def bonding_curve(mint: Pubkey) -> Pubkey:
    return _pda([b"bonding-curve", bytes(mint)], PUMP_PROGRAM)


def creator_vault(creator: Pubkey) -> Pubkey:
    return _pda([b"creator-vault", bytes(creator)], PUMP_PROGRAM)


def amm_vault_authority(coin_creator: Pubkey) -> Pubkey:
    return _pda([b"creator_vault", bytes(coin_creator)], PUMP_AMM_PROGRAM)


def sharing_config(mint: Pubkey) -> Pubkey:
    return _pda([b"sharing-config", bytes(mint)], PUMP_FEES_PROGRAM)
