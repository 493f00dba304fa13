"""The accounts of the emulated pump.fun / PumpSwap world, byte for byte as mainnet lays them out:
the programs (executable, owned by the upgradeable loader), a coin's bonding curve
(`BondingCurve` of idl/pump.json), SPL token accounts and the wrapped-SOL mint."""

from __future__ import annotations

import struct

from solders.account import Account
from solders.pubkey import Pubkey

from flywheel.sandbox.pump.programs import BONDING_CURVE_ACCOUNT, TOKEN_PROGRAM

UPGRADEABLE_LOADER = Pubkey.from_string("BPFLoaderUpgradeab1e11111111111111111111111")
# BondingCurve: 8 discriminator; virtual_token, virtual_quote, real_token, real_quote, supply (u64);
# complete; creator; is_mayhem_mode; is_cashback_coin; quote_mint; creator_fee_bps (u64);
# can_edit_creator_fee; is_holder_reward; creator_fee; protocol_fees (u64); depth (u8);
# initial_virtual_quote_reserves, post_complete_base_out, post_complete_quote_in (u64).
CURVE_LEN = 8 + 40 + 1 + 32 + 1 + 1 + 32 + 8 + 1 + 1 + 8 + 8 + 1 + 24
CREATOR_FEE_OFFSET = 125
TOKEN_ACCOUNT_LEN = 165
MINT_LEN = 82


def program_account(program: Pubkey, lamports: int) -> Account:
    """`UpgradeableLoaderState::Program { programdata_address }`, as getAccountInfo shows it."""
    programdata = Pubkey.find_program_address([bytes(program)], UPGRADEABLE_LOADER)[0]
    data = struct.pack("<I", 2) + bytes(programdata)
    return Account(lamports, data, UPGRADEABLE_LOADER, True, 0)


def curve_data(creator: Pubkey, quote_mint: Pubkey, creator_fee: int = 0) -> bytes:
    head = BONDING_CURVE_ACCOUNT + struct.pack(
        "<QQQQQ?", 1_073_000_000 * 10**6, 30 * 10**9, 793_100_000 * 10**6, 0, 10**15, False
    )
    middle = bytes(creator) + b"\x00\x00" + bytes(quote_mint)
    tail = struct.pack("<Q??QQB", 0, False, False, creator_fee, 0, 0) + bytes(24)
    data = head + middle + tail
    if len(data) != CURVE_LEN:
        raise AssertionError(f"BondingCurve is {CURVE_LEN} bytes, built {len(data)}")
    return data


def curve_creator_fee(data: bytes) -> int:
    return int.from_bytes(data[CREATOR_FEE_OFFSET : CREATOR_FEE_OFFSET + 8], "little")


def with_creator_fee(data: bytes, creator_fee: int) -> bytes:
    fee = struct.pack("<Q", creator_fee)
    return data[:CREATOR_FEE_OFFSET] + fee + data[CREATOR_FEE_OFFSET + 8 :]


def token_account(mint: Pubkey, owner: Pubkey, amount: int, native_rent: int | None) -> bytes:
    """An initialized SPL token account (native when `native_rent` is its rent reserve)."""
    native = b"\x00" * 12 if native_rent is None else struct.pack("<IQ", 1, native_rent)
    data = (
        bytes(mint)
        + bytes(owner)
        + struct.pack("<Q", amount)
        + bytes(36)  # no delegate
        + b"\x01"  # initialized
        + native
        + struct.pack("<Q", 0)
        + bytes(36)  # no close authority
    )
    if len(data) != TOKEN_ACCOUNT_LEN:
        raise AssertionError(f"a token account is {TOKEN_ACCOUNT_LEN} bytes, built {len(data)}")
    return data


def token_amount(data: bytes) -> int:
    return int.from_bytes(data[64:72], "little")


def native_mint(lamports: int) -> Account:
    """The wrapped-SOL mint: no mint authority, 9 decimals, initialized."""
    data = bytes(36) + struct.pack("<QB?", 0, 9, True) + bytes(36)
    return Account(lamports, data, TOKEN_PROGRAM, False, 0)
