"""The sandbox's pump.fun / PumpSwap emulation: a claim built from the IDL lands and moves what
the program would (vault above rent, curve fee swept, PumpSwap wSOL unwrapped), recorded under
its own signature with the real balances; a malformed one fails with the program's error code,
its fee charged, nothing else moved."""

from __future__ import annotations

import pytest
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction
from solders.transaction_status import InstructionErrorCustom, TransactionErrorInstructionError

from flywheel.sandbox.chain.runtime import SandboxChain
from flywheel.sandbox.chain.types import PreflightFailure
from flywheel.sandbox.pump import idl, layout
from flywheel.sandbox.pump.emulator import PumpEmulator
from flywheel.solana.fee_sources.pump import (
    PUMP_AMM_PROGRAM,
    PUMP_PROGRAM,
    claim_instructions,
    collect_coin_creator_fee,
    collect_creator_fee_v2,
    creator_vault,
    sweep_creator_fee,
)
from flywheel.solana.settle import signed_transaction

SOL = 1_000_000_000


@pytest.fixture
def world() -> tuple[SandboxChain, PumpEmulator, Keypair]:
    chain = SandboxChain(slot_ms=0)
    creator = Keypair()
    chain.airdrop(creator.pubkey(), 2 * SOL)
    emulator = PumpEmulator(chain, Keypair().pubkey(), creator.pubkey())
    emulator.install()
    return chain, emulator, creator


def accrue(chain: SandboxChain, emulator: PumpEmulator, fees: list[int]) -> None:
    trader = Keypair()
    chain.airdrop(trader.pubkey(), 10 * SOL)
    for lamports in fees:
        emulator.accrue(trader, lamports, chain.latest_blockhash()[0])
        chain.advance()


def send(chain: SandboxChain, creator: Keypair, instructions: list[Instruction]) -> str:
    tx = signed_transaction(creator, instructions, chain.latest_blockhash()[0])
    return str(chain.send(tx, skip_preflight=True))


def test_the_programs_exist_as_executable_accounts(
    world: tuple[SandboxChain, PumpEmulator, Keypair],
) -> None:
    chain, _, _ = world
    for program in (PUMP_PROGRAM, PUMP_AMM_PROGRAM):
        account = chain.get_account(program)
        assert account is not None and account.executable
        assert str(account.owner) == "BPFLoaderUpgradeab1e11111111111111111111111"


def test_the_claim_moves_every_fee_to_the_creator_and_leaves_the_rents(
    world: tuple[SandboxChain, PumpEmulator, Keypair],
) -> None:
    chain, emulator, creator = world
    accrue(chain, emulator, [1_000_000, 2_000_000, 3_000_000])  # vault, curve (v3), PumpSwap
    curve = chain.get_account(emulator.curve)
    assert curve is not None and layout.curve_creator_fee(bytes(curve.data)) == 2_000_000
    vault_rent = chain.minimum_balance_for_rent_exemption(0)
    assert chain.balance(emulator.vault) == vault_rent + 1_000_000
    amm_vault = chain.get_account(emulator.amm_vault)
    assert amm_vault is not None and layout.token_amount(bytes(amm_vault.data)) == 3_000_000
    before = chain.balance(creator.pubkey())

    signature = send(chain, creator, claim_instructions(creator.pubkey(), sweep_mint=emulator.mint))

    record = chain.get_transaction(Signature.from_string(signature))
    assert record is not None and record.err is None, record and record.logs
    assert record.fee == 5_000  # one signature: the emulated PDAs' are not charged
    arrived = chain.balance(creator.pubkey()) - before + record.fee
    assert arrived == 6_000_000
    # The record is over the original transaction's keys, with the balances the chain shows.
    creator_index = record.account_keys.index(creator.pubkey())
    assert (
        record.post_balances[creator_index] - record.pre_balances[creator_index] == arrived - 5_000
    )
    assert chain.balance(emulator.vault) == vault_rent
    curve = chain.get_account(emulator.curve)
    assert curve is not None and layout.curve_creator_fee(bytes(curve.data)) == 0
    amm_vault = chain.get_account(emulator.amm_vault)
    assert amm_vault is not None and layout.token_amount(bytes(amm_vault.data)) == 0
    wsol = claim_instructions(creator.pubkey())[-1].accounts[0].pubkey
    assert wsol in record.account_keys and chain.get_account(wsol) is None  # closed: unwrapped

    # Nothing new: a second claim moves nothing but its fee.
    again_before = chain.balance(creator.pubkey())
    send(chain, creator, [collect_creator_fee_v2(creator.pubkey())])
    assert chain.balance(creator.pubkey()) == again_before - 5_000


def _refused(chain: SandboxChain, creator: Keypair, ix: Instruction) -> tuple[int, int]:
    before = chain.balance(creator.pubkey())
    others = [m.pubkey for m in ix.accounts if m.pubkey != creator.pubkey()]
    balances = [chain.balance(k) for k in others]
    signature = send(chain, creator, [ix])
    record = chain.get_transaction(Signature.from_string(signature))
    assert record is not None
    assert isinstance(record.err, TransactionErrorInstructionError), record.err
    error = record.err.err
    assert isinstance(error, InstructionErrorCustom)
    assert chain.balance(creator.pubkey()) == before - 5_000  # the fee is charged
    assert [chain.balance(k) for k in others] == balances  # nothing else moved
    chain.advance()
    return record.err.index, error.code


def _with(ix: Instruction, index: int, meta: AccountMeta) -> Instruction:
    accounts = list(ix.accounts)
    accounts[index] = meta
    return Instruction(ix.program_id, bytes(ix.data), accounts)


def test_malformed_collects_fail_as_the_program_would(
    world: tuple[SandboxChain, PumpEmulator, Keypair],
) -> None:
    chain, emulator, creator = world
    accrue(chain, emulator, [1_000_000, 2_000_000, 3_000_000])
    me = creator.pubkey()
    good = collect_creator_fee_v2(me)
    stranger = Keypair().pubkey()
    wrong_vault = AccountMeta(creator_vault(stranger), is_signer=False, is_writable=True)
    readonly_vault = AccountMeta(good.accounts[2].pubkey, is_signer=False, is_writable=False)
    cases = {
        "discriminator": Instruction(PUMP_PROGRAM, bytes(8), list(good.accounts)),
        "seeds": _with(good, 2, wrong_vault),
        "writable": _with(good, 2, readonly_vault),
        "order": Instruction(
            PUMP_PROGRAM, bytes(good.data), [good.accounts[2], good.accounts[0], *good.accounts[2:]]
        ),
        "too few": Instruction(PUMP_PROGRAM, bytes(good.data), list(good.accounts[:4])),
    }
    codes = {name: _refused(chain, creator, ix)[1] for name, ix in cases.items()}
    assert codes == {
        "discriminator": idl.FALLBACK_NOT_FOUND,
        "seeds": idl.CONSTRAINT_SEEDS,
        "writable": idl.CONSTRAINT_MUT,
        "order": idl.CONSTRAINT_SEEDS,
        "too few": idl.NOT_ENOUGH_KEYS,
    }
    amm = collect_coin_creator_fee(me)
    wrong_authority = AccountMeta(Keypair().pubkey(), is_signer=False, is_writable=False)
    assert _refused(chain, creator, _with(amm, 3, wrong_authority))[1] == idl.CONSTRAINT_SEEDS
    sweep = sweep_creator_fee(me, emulator.mint, me)
    unsigned = AccountMeta(stranger, is_signer=False, is_writable=True)
    assert _refused(chain, creator, _with(sweep, 0, unsigned))[1] == idl.NOT_SIGNER
    to_stranger = sweep_creator_fee(me, emulator.mint, stranger)  # not the curve's creator
    assert _refused(chain, creator, to_stranger)[1] == idl.CONSTRAINT_SEEDS
    # The fees are all still there.
    assert chain.balance(emulator.vault) == chain.minimum_balance_for_rent_exemption(0) + 1_000_000


def test_a_simulation_of_the_claim_changes_nothing(
    world: tuple[SandboxChain, PumpEmulator, Keypair],
) -> None:
    chain, emulator, creator = world
    accrue(chain, emulator, [1_000_000, 2_000_000])
    curve_before = chain.get_account(emulator.curve)
    tx = signed_transaction(
        creator,
        claim_instructions(creator.pubkey(), sweep_mint=emulator.mint, amm=False),
        chain.latest_blockhash()[0],
    )
    result = chain.simulate(VersionedTransaction.from_bytes(bytes(tx)), accounts=[creator.pubkey()])
    assert result.ok, result.logs
    assert result.fee == 5_000
    assert result.accounts is not None and result.accounts[0] is not None
    assert result.accounts[0].lamports == chain.balance(creator.pubkey()) + 3_000_000 - 5_000
    assert chain.get_account(emulator.curve) == curve_before


def test_a_creator_that_is_a_sharing_config_is_refused() -> None:
    chain = SandboxChain(slot_ms=0)
    creator = Keypair()
    chain.airdrop(creator.pubkey(), SOL)
    emulator = PumpEmulator(chain, Keypair().pubkey(), creator.pubkey())
    emulator.install(sharing=True)
    curve = chain.get_account(emulator.curve)
    assert curve is not None
    config = idl.curve_creator(curve)
    assert config is not None
    ix = _with(
        collect_creator_fee_v2(config), 0, AccountMeta(config, is_signer=False, is_writable=True)
    )
    assert _refused(chain, creator, ix)[1] == idl.CONSTRAINT_RAW


def test_a_claim_that_fails_later_undoes_the_sweep(
    world: tuple[SandboxChain, PumpEmulator, Keypair],
) -> None:
    """The sweep's writes are made before LiteSVM runs the rest: a later failure undoes them, as
    the runtime undoes a failed transaction, and only the fee is charged."""
    chain, emulator, creator = world
    accrue(chain, emulator, [1_000_000, 2_000_000])
    curve_before = chain.get_account(emulator.curve)
    vault_before = chain.balance(emulator.vault)
    creator_before = chain.balance(creator.pubkey())
    too_much = transfer(
        TransferParams(
            from_pubkey=creator.pubkey(), to_pubkey=Keypair().pubkey(), lamports=100 * SOL
        )
    )
    claim = claim_instructions(creator.pubkey(), sweep_mint=emulator.mint, amm=False)
    signature = send(chain, creator, [*claim, too_much])
    record = chain.get_transaction(Signature.from_string(signature))
    assert record is not None and record.err is not None
    assert chain.get_account(emulator.curve) == curve_before
    assert chain.balance(emulator.vault) == vault_before
    assert chain.balance(creator.pubkey()) == creator_before - 5_000


def test_preflight_refuses_a_malformed_collect_with_the_programs_error(
    world: tuple[SandboxChain, PumpEmulator, Keypair],
) -> None:
    chain, _, creator = world
    bad = Instruction(
        PUMP_PROGRAM, bytes(8), list(collect_creator_fee_v2(creator.pubkey()).accounts)
    )
    tx = signed_transaction(creator, [bad], chain.latest_blockhash()[0])
    before = chain.balance(creator.pubkey())
    with pytest.raises(PreflightFailure) as caught:
        chain.send(tx)
    assert caught.value.err == TransactionErrorInstructionError(
        0, InstructionErrorCustom(idl.FALLBACK_NOT_FOUND)
    )
    assert chain.balance(creator.pubkey()) == before  # refused before it landed: no fee
