"""What the emulated instructions must look like, from the programs' IDLs (idl/pump.json,
idl/pump_amm.json of pump-fun/pump-public-docs): each account's address (fixed, or derived from
the instruction's other accounts by its PDA seeds), writable and signer flags, in order.

`check` answers as the Anchor program would refuse: the error codes are Anchor's own
(`InstructionFallbackNotFound` 101, `ConstraintMut` 2000, `ConstraintRaw` 2003,
`ConstraintSeeds` 2006, `ConstraintAddress` 2012, `AccountNotEnoughKeys` 3005,
`AccountNotSigner` 3010, `AccountNotInitialized` 3012) or the program's (`UnsupportedQuoteMint`
6063: the sandbox pairs coins with SOL only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from solders.account import Account
from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM_PROGRAM

from flywheel.sandbox.pump.programs import (
    ASSOCIATED_TOKEN_PROGRAM,
    COLLECT_COIN_CREATOR_FEE,
    COLLECT_CREATOR_FEE,
    COLLECT_CREATOR_FEE_V2,
    PUMP_AMM_PROGRAM,
    PUMP_FEES_PROGRAM,
    PUMP_PROGRAM,
    SWEEP_CREATOR_FEE,
    TOKEN_PROGRAM,
    WSOL_MINT,
    amm_vault_authority,
    ata,
    bonding_curve,
    creator_vault,
    event_authority,
    pump_global,
)

FALLBACK_NOT_FOUND = 101
CONSTRAINT_MUT = 2000
CONSTRAINT_RAW = 2003
CONSTRAINT_SEEDS = 2006
CONSTRAINT_ADDRESS = 2012
NOT_ENOUGH_KEYS = 3005
NOT_SIGNER = 3010
NOT_INITIALIZED = 3012
UNSUPPORTED_QUOTE_MINT = 6063

Load = Callable[[Pubkey], Account | None]


@dataclass(frozen=True)
class Slot:
    name: str
    writable: bool = False
    signer: bool = False


@dataclass(frozen=True)
class Call:
    """One top-level instruction of an emulated program, its accounts with their flags."""

    program: Pubkey
    data: bytes
    keys: list[Pubkey]
    writable: list[bool]
    signer: list[bool]


class Refused(Exception):
    def __init__(self, code: int, why: str) -> None:
        super().__init__(why)
        self.code = code


def _ata(owner: Pubkey) -> Pubkey:
    return ata(owner)


_SWEEP = [
    Slot("payer", True, True),
    Slot("global"),
    Slot("base_mint"),
    Slot("quote_mint"),
    Slot("quote_token_program"),
    Slot("associated_token_program"),
    Slot("system_program"),
    Slot("bonding_curve", True),
    Slot("associated_quote_bonding_curve", True),
    Slot("recipient", True),
    Slot("associated_quote_recipient", True),
    Slot("event_authority"),
    Slot("program"),
]
_COLLECT = [
    Slot("creator", True),
    Slot("creator_vault", True),
    Slot("system_program"),
    Slot("event_authority"),
    Slot("program"),
]
_COLLECT_V2 = [
    Slot("creator", True),
    Slot("creator_token_account", True),
    Slot("creator_vault", True),
    Slot("creator_vault_token_account", True),
    Slot("quote_mint"),
    Slot("quote_token_program"),
    Slot("associated_token_program"),
    Slot("system_program"),
    Slot("event_authority"),
    Slot("program"),
]
_COLLECT_AMM = [
    Slot("quote_mint"),
    Slot("quote_token_program"),
    Slot("coin_creator"),
    Slot("coin_creator_vault_authority"),
    Slot("coin_creator_vault_ata", True),
    Slot("coin_creator_token_account", True),
    Slot("event_authority"),
    Slot("program"),
]
LAYOUTS: dict[tuple[Pubkey, bytes], tuple[str, list[Slot]]] = {
    (PUMP_PROGRAM, SWEEP_CREATOR_FEE): ("sweep_creator_fee", _SWEEP),
    (PUMP_PROGRAM, COLLECT_CREATOR_FEE): ("collect_creator_fee", _COLLECT),
    (PUMP_PROGRAM, COLLECT_CREATOR_FEE_V2): ("collect_creator_fee_v2", _COLLECT_V2),
    (PUMP_AMM_PROGRAM, COLLECT_COIN_CREATOR_FEE): ("collect_coin_creator_fee", _COLLECT_AMM),
}


def expected(name: str, given: dict[str, Pubkey], load: Load) -> dict[str, Pubkey]:
    """The addresses the IDL fixes for `name`, from the free accounts `given`."""
    fixed = {
        "system_program": SYSTEM_PROGRAM,
        "associated_token_program": ASSOCIATED_TOKEN_PROGRAM,
        "quote_mint": WSOL_MINT,
        "quote_token_program": TOKEN_PROGRAM,
    }
    if name == "collect_coin_creator_fee":
        authority = amm_vault_authority(given["coin_creator"])
        return {
            **fixed,
            "coin_creator_vault_authority": authority,
            "coin_creator_vault_ata": _ata(authority),
            "event_authority": event_authority(PUMP_AMM_PROGRAM),
            "program": PUMP_AMM_PROGRAM,
        }
    out = {**fixed, "event_authority": event_authority(PUMP_PROGRAM), "program": PUMP_PROGRAM}
    if name == "sweep_creator_fee":
        curve = bonding_curve(given["base_mint"])
        out |= {"global": pump_global(), "bonding_curve": curve}
        out["associated_quote_bonding_curve"] = _ata(curve)
        creator = curve_creator(load(curve))
        if creator is None:
            raise Refused(NOT_INITIALIZED, f"bonding curve {curve} is not initialized")
        out["recipient"] = creator_vault(creator)
        out["associated_quote_recipient"] = _ata(out["recipient"])
        return out
    vault = creator_vault(given["creator"])
    out["creator_vault"] = vault
    if name == "collect_creator_fee_v2":
        out["creator_token_account"] = _ata(given["creator"])
        out["creator_vault_token_account"] = _ata(vault)
    return out


def curve_creator(account: Account | None) -> Pubkey | None:
    if account is None or account.owner != PUMP_PROGRAM or len(account.data) < 81:
        return None
    return Pubkey(bytes(account.data)[49:81])


_FREE = {"base_mint", "creator", "coin_creator", "payer", "coin_creator_token_account"}
_PDA = {
    "global",
    "bonding_curve",
    "associated_quote_bonding_curve",
    "recipient",
    "associated_quote_recipient",
    "event_authority",
    "creator_vault",
    "creator_token_account",
    "creator_vault_token_account",
    "coin_creator_vault_authority",
    "coin_creator_vault_ata",
}


def check(call: Call, load: Load) -> tuple[str, dict[str, Pubkey]]:
    """The instruction's name and accounts by name; raises Refused as the program would."""
    found = LAYOUTS.get((call.program, call.data[:8]))
    if found is None:
        raise Refused(FALLBACK_NOT_FOUND, "unknown instruction discriminator")
    name, slots = found
    if len(call.keys) < len(slots):
        raise Refused(NOT_ENOUGH_KEYS, f"{name} takes {len(slots)} accounts")
    named = {slot.name: key for slot, key in zip(slots, call.keys, strict=False)}
    want = expected(name, {k: v for k, v in named.items() if k in _FREE}, load)
    for index, slot in enumerate(slots):
        if slot.name in want and named[slot.name] != want[slot.name]:
            code = CONSTRAINT_SEEDS if slot.name in _PDA else CONSTRAINT_ADDRESS
            if slot.name == "quote_mint":
                code = UNSUPPORTED_QUOTE_MINT
            raise Refused(code, f"{name}: {slot.name} must be {want[slot.name]}")
        if slot.writable and not call.writable[index]:
            raise Refused(CONSTRAINT_MUT, f"{name}: {slot.name} must be writable")
        if slot.signer and not call.signer[index]:
            raise Refused(NOT_SIGNER, f"{name}: {slot.name} must sign")
    creator = named.get("creator", named.get("coin_creator"))
    owner = None if creator is None else load(creator)
    if owner is not None and owner.owner == PUMP_FEES_PROGRAM:
        raise Refused(CONSTRAINT_RAW, f"{name}: the creator is a fee-sharing config")
    return name, named
