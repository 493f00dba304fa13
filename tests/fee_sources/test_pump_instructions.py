"""The pump.fun / PumpSwap collect instructions, byte for byte against the programs' own IDL
entries (fixtures/pump_idl_claims.json, copied from pump-fun/pump-public-docs) and against a real
mainnet claim (fixtures/pump_claim_mainnet.json): program, data, accounts in order, flags.

The IDL is interpreted here, independently of the builders: each account's address is resolved
from its `address`, or from its PDA seeds (constants and other accounts of the instruction)
under its `program`, so a wrong seed spelling, order or flag in the builders fails.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from solders.instruction import Instruction
from solders.pubkey import Pubkey

from flywheel.sandbox.chain.b58 import b58decode
from flywheel.sandbox.pump import idl as emulated
from flywheel.solana.fee_sources.pump import (
    COLLECT_COIN_CREATOR_FEE,
    COLLECT_CREATOR_FEE,
    COLLECT_CREATOR_FEE_V2,
    PUMP_AMM_PROGRAM,
    PUMP_PROGRAM,
    SWEEP_CREATOR_FEE,
    TOKEN_PROGRAM,
    WSOL_MINT,
    amm_vault_authority,
    anchor_discriminator,
    claim_instructions,
    collect_coin_creator_fee,
    collect_creator_fee,
    collect_creator_fee_v2,
    creator_vault,
    sweep_creator_fee,
)

FIXTURES = Path(__file__).with_name("fixtures")
IDL = json.loads((FIXTURES / "pump_idl_claims.json").read_text())
REAL = json.loads((FIXTURES / "pump_claim_mainnet.json").read_text())
CREATOR = Pubkey.from_string("4awAFycdK9Za3f1uYjvZN3d1S5RBqWjEyEbyFx2dxtep")  # the real claim's


def idl_instruction(program: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(i for i in IDL[program]["instructions"] if i["name"] == name)
    return found


def resolve(program: Pubkey, entry: dict[str, Any], given: dict[str, Pubkey]) -> list[Pubkey]:
    """Every account of an IDL instruction, from `given` (its free accounts) and the IDL."""
    known = {**given, "program": program}
    accounts = entry["accounts"]
    for _ in accounts:  # seeds may name later accounts: repeat until all are known
        for account in accounts:
            name = account["name"]
            if name in known:
                continue
            if "address" in account:
                known[name] = Pubkey.from_string(account["address"])
            elif "pda" in account:
                derived = _derive(account["pda"], known, program)
                if derived is not None:
                    known[name] = derived
    return [known[a["name"]] for a in accounts]


def _derive(pda: dict[str, Any], known: dict[str, Pubkey], program: Pubkey) -> Pubkey | None:
    def value(seed: dict[str, Any]) -> bytes | None:
        if seed["kind"] == "const":
            return bytes(seed["value"])
        found = known.get(seed["path"])
        return None if found is None else bytes(found)

    seeds = [value(s) for s in pda["seeds"]]
    owner: bytes | None = bytes(program)
    if "program" in pda:
        owner = value(pda["program"])
    if owner is None or any(s is None for s in seeds):
        return None
    return Pubkey.find_program_address([s for s in seeds if s is not None], Pubkey(owner))[0]


def check_against_idl(
    built: Instruction, program: Pubkey, entry: dict[str, Any], given: dict[str, Pubkey]
) -> None:
    assert built.program_id == program
    assert bytes(built.data) == bytes(entry["discriminator"])  # no args: the data is that
    assert entry["args"] == []
    expected = resolve(program, entry, given)
    assert [m.pubkey for m in built.accounts] == expected
    flags = [(a.get("writable", False), a.get("signer", False)) for a in entry["accounts"]]
    assert [(m.is_writable, m.is_signer) for m in built.accounts] == flags


def test_discriminators_are_anchors_and_the_idls() -> None:
    assert bytes([20, 22, 86, 123, 198, 28, 219, 132]) == COLLECT_CREATOR_FEE
    assert bytes([207, 17, 138, 242, 4, 34, 19, 56]) == COLLECT_CREATOR_FEE_V2
    assert bytes([160, 57, 89, 42, 181, 139, 43, 66]) == COLLECT_COIN_CREATOR_FEE
    for program, name in [
        ("pump", "collect_creator_fee"),
        ("pump", "collect_creator_fee_v2"),
        ("pump_amm", "collect_coin_creator_fee"),
    ]:
        assert anchor_discriminator(name) == bytes(idl_instruction(program, name)["discriminator"])


def test_program_addresses_are_the_idls() -> None:
    assert str(PUMP_PROGRAM) == IDL["pump"]["address"]
    assert str(PUMP_AMM_PROGRAM) == IDL["pump_amm"]["address"]


@pytest.mark.parametrize(
    "creator", [CREATOR, Pubkey.from_string("11111111111111111111111111111112")]
)
def test_collects_match_the_idl(creator: Pubkey) -> None:
    check_against_idl(
        collect_creator_fee(creator),
        PUMP_PROGRAM,
        idl_instruction("pump", "collect_creator_fee"),
        {"creator": creator},
    )
    quote = {"quote_mint": WSOL_MINT, "quote_token_program": TOKEN_PROGRAM}
    check_against_idl(
        collect_creator_fee_v2(creator),
        PUMP_PROGRAM,
        idl_instruction("pump", "collect_creator_fee_v2"),
        {"creator": creator, **quote},
    )
    amm = collect_coin_creator_fee(creator)
    # The IDL leaves the destination free (any wSOL account of the creator's): ours is its ATA.
    destination = amm.accounts[5].pubkey
    check_against_idl(
        amm,
        PUMP_AMM_PROGRAM,
        idl_instruction("pump_amm", "collect_coin_creator_fee"),
        {"coin_creator": creator, "coin_creator_token_account": destination, **quote},
    )


def test_the_two_vault_seeds_differ_as_the_programs_spell_them() -> None:
    hyphen = Pubkey.find_program_address([b"creator-vault", bytes(CREATOR)], PUMP_AMM_PROGRAM)[0]
    assert amm_vault_authority(CREATOR) != hyphen
    underscore = Pubkey.find_program_address([b"creator_vault", bytes(CREATOR)], PUMP_PROGRAM)[0]
    assert creator_vault(CREATOR) != underscore


def test_the_real_mainnet_claim_is_rebuilt_exactly() -> None:
    keys = [Pubkey.from_string(k) for k in REAL["accountKeys"]]
    ours = claim_instructions(CREATOR)
    assert len(ours) == len(REAL["instructions"])
    writable: set[Pubkey] = {CREATOR}  # the fee payer
    for built, real in zip(ours, REAL["instructions"], strict=True):
        assert built.program_id == keys[real["programIdIndex"]]
        assert bytes(built.data) == b58decode(real["data"])
        assert [m.pubkey for m in built.accounts] == [keys[i] for i in real["accounts"]]
        writable |= {m.pubkey for m in built.accounts if m.is_writable}
    header = REAL["header"]
    signed, readonly = header["numRequiredSignatures"], header["numReadonlyUnsignedAccounts"]
    on_chain = set(keys[:signed]) | set(keys[signed : len(keys) - readonly])
    assert on_chain == writable
    assert keys[2] == creator_vault(CREATOR)
    assert keys[12] == amm_vault_authority(CREATOR)


def test_what_the_real_claim_moved_is_the_creators_change_plus_its_fee() -> None:
    """The counting rule for a lamports claim: the payer's change plus the fee it paid is what
    left the two vaults (their decreases), nothing read before or after."""
    pre, post = REAL["preBalances"], REAL["postBalances"]
    arrived = post[0] - pre[0] + REAL["fee"]
    curve_vault = pre[2] - post[2]
    amm_vault = pre[4] - post[4]
    assert arrived == curve_vault + amm_vault == 255_016_078 + 4_420_614_720
    assert post[2] == 650_240  # the curve's vault keeps its rent-exempt minimum


@pytest.mark.parametrize(
    "creator", [CREATOR, Pubkey.from_string("11111111111111111111111111111112")]
)
def test_the_sweep_matches_the_idl(creator: Pubkey) -> None:
    mint = Pubkey.from_string("So11111111111111111111111111111111111111112")  # any mint
    check_against_idl(
        sweep_creator_fee(creator, mint, creator),
        PUMP_PROGRAM,
        idl_instruction("pump", "sweep_creator_fee"),
        {
            "payer": creator,
            "base_mint": mint,
            "quote_mint": WSOL_MINT,
            "quote_token_program": TOKEN_PROGRAM,
            # The IDL leaves it free (the program checks it is the curve creator's vault).
            "recipient": creator_vault(creator),
        },
    )
    assert bytes([32, 246, 191, 52, 8, 201, 73, 186]) == SWEEP_CREATOR_FEE


def test_the_claim_sweeps_first_and_leaves_out_what_has_nothing() -> None:
    mint = Pubkey.from_string("11111111111111111111111111111112")
    full = claim_instructions(CREATOR, sweep_mint=mint)
    assert [bytes(i.data)[:8] for i in full[:2]] == [SWEEP_CREATOR_FEE, COLLECT_CREATOR_FEE_V2]
    assert full[2:] == claim_instructions(CREATOR)[1:]  # then the mainnet claim's AMM part
    curve_only = claim_instructions(CREATOR, amm=False)
    assert [i.program_id for i in curve_only] == [PUMP_PROGRAM]
    amm_only = claim_instructions(CREATOR, curve=False)
    assert COLLECT_CREATOR_FEE_V2 not in [bytes(i.data) for i in amm_only]
    assert len(amm_only) == 3
    assert claim_instructions(CREATOR, curve=False, amm=False) == []


def test_the_sandbox_emulator_checks_the_idls_accounts() -> None:
    """The emulator's own table (sandbox/pump/idl.py) is the IDL's: names, order, flags."""
    programs = {PUMP_PROGRAM: "pump", PUMP_AMM_PROGRAM: "pump_amm"}
    assert len(emulated.LAYOUTS) == 4
    for (program, discriminator), (name, slots) in emulated.LAYOUTS.items():
        entry = idl_instruction(programs[program], name)
        assert bytes(entry["discriminator"]) == discriminator
        want = [
            (a["name"], a.get("writable", False), a.get("signer", False)) for a in entry["accounts"]
        ]
        assert [(s.name, s.writable, s.signer) for s in slots] == want
