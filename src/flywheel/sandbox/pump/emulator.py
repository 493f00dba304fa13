"""The creator-fee side of pump.fun and PumpSwap, emulated at their real program ids.

LiteSVM has no pump program and we cannot build one, so the sandbox chain asks this emulator
about every transaction: one that calls pump.fun or PumpSwap is checked instruction by
instruction against the IDL (idl.py; a malformed one fails with the program's error code, its
fee charged), then rewritten into primitives with the same effect (chain/rewrite.py):

- `sweep_creator_fee`: `BondingCurve.creator_fee` lamports move from the curve to the creator
  vault and the field is zeroed (account writes: the curve is program-owned);
- `collect_creator_fee(_v2)`: a system transfer of the vault's lamports above its rent to the
  creator, the vault PDA marked as the signer;
- `collect_coin_creator_fee`: an SPL transfer of all the PumpSwap vault's wSOL to the creator's
  token account, the vault authority PDA as the signer.

Traders' fees accrue through `accrue`: into the vault (as buy/sell v2 pay them), onto the curve
(buy_v3 keeps them there) and into the PumpSwap vault (graduated trading), in turn.
"""

from __future__ import annotations

import itertools

from solders.account import Account
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import ID as SYSTEM_PROGRAM
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction, VersionedTransaction
from spl.token.instructions import sync_native
from spl.token.instructions import transfer as token_transfer
from spl.token.models import SyncNativeParams
from spl.token.models import TransferParams as TokenTransferParams

from flywheel.sandbox.chain.rewrite import Rewrite
from flywheel.sandbox.chain.runtime import SandboxChain
from flywheel.sandbox.chain.txinfo import normalize, resolve_keys, writable_keys
from flywheel.sandbox.jupiter.dex import build_v0
from flywheel.sandbox.pump import layout
from flywheel.sandbox.pump.idl import Call, Refused, check
from flywheel.sandbox.pump.programs import (
    PUMP_AMM_PROGRAM,
    PUMP_FEES_PROGRAM,
    PUMP_PROGRAM,
    TOKEN_PROGRAM,
    WSOL_MINT,
    amm_vault_authority,
    ata,
    bonding_curve,
    creator_vault,
    sharing_config,
)

EMULATED = (PUMP_PROGRAM, PUMP_AMM_PROGRAM)


class PumpEmulator:
    """Installs a coin's pump world on `chain` and answers for the two programs."""

    def __init__(self, chain: SandboxChain, mint: Pubkey, creator: Pubkey) -> None:
        self.chain = chain
        self.mint = mint
        self.creator = creator
        self.curve = bonding_curve(mint)
        self.vault = creator_vault(creator)
        self.amm_authority = amm_vault_authority(creator)
        self.amm_vault = ata(self.amm_authority)
        self._turn = itertools.count()

    # -- the world -----------------------------------------------------------------------------
    def install(self, *, sharing: bool = False) -> None:
        """Programs, the wSOL mint, the curve (its creator: the sharing config when `sharing`),
        the curve's vault and the PumpSwap vault, each at its rent-exempt minimum."""
        chain = self.chain
        rent = chain.minimum_balance_for_rent_exemption
        for program in (PUMP_PROGRAM, PUMP_AMM_PROGRAM, PUMP_FEES_PROGRAM):
            chain.set_account(program, layout.program_account(program, rent(36)))
        if chain.get_account(WSOL_MINT) is None:
            chain.set_account(WSOL_MINT, layout.native_mint(rent(layout.MINT_LEN)))
        creator = self.creator
        if sharing:
            creator = sharing_config(self.mint)
            chain.set_account(creator, Account(rent(8), bytes(8), PUMP_FEES_PROGRAM, False, 0))
        data = layout.curve_data(creator, WSOL_MINT)
        chain.set_account(self.curve, Account(rent(len(data)), data, PUMP_PROGRAM, False, 0))
        chain.set_account(self.vault, Account(rent(0), b"", SYSTEM_PROGRAM, False, 0))
        token_rent = rent(layout.TOKEN_ACCOUNT_LEN)
        vault_data = layout.token_account(WSOL_MINT, self.amm_authority, 0, token_rent)
        chain.set_account(self.amm_vault, Account(token_rent, vault_data, TOKEN_PROGRAM, False, 0))
        chain.add_execution_check(self.check)
        chain.rewriters.append(self.rewrite)

    # -- the programs ----------------------------------------------------------------------------
    def _calls(self, tx: VersionedTransaction) -> list[tuple[int, Call | Instruction]]:
        keys = resolve_keys(tx, self.chain.get_account)
        writable = writable_keys(tx, keys[1])
        header = tx.message.header
        signers = set(tx.message.account_keys[: header.num_required_signatures])
        out: list[tuple[int, Call | Instruction]] = []
        for index, ix in enumerate(tx.message.instructions):
            program = keys[0][ix.program_id_index]
            accounts = [keys[0][i] for i in bytes(ix.accounts)]
            if program in EMULATED:
                flags_w = [k in writable for k in accounts]
                flags_s = [k in signers for k in accounts]
                out.append((index, Call(program, bytes(ix.data), accounts, flags_w, flags_s)))
            else:
                metas = [AccountMeta(k, k in signers, k in writable) for k in accounts]
                out.append((index, Instruction(program, bytes(ix.data), metas)))
        return out

    def check(self, tx: VersionedTransaction | Transaction) -> tuple[int, int] | None:
        """The execution check: (instruction, error code) for a call the program refuses."""
        for index, call in self._calls(normalize(tx)):
            if isinstance(call, Call):
                try:
                    check(call, self.chain.get_account)
                except Refused as refused:
                    return index, refused.code
        return None

    def rewrite(self, tx: VersionedTransaction) -> Rewrite | None:
        calls = self._calls(tx)
        if not any(isinstance(call, Call) for _, call in calls):
            return None
        state: dict[Pubkey, Account] = {}
        instructions: list[Instruction] = []
        logs: list[str] = []
        for _, call in calls:
            if isinstance(call, Instruction):
                instructions.append(call)
                continue
            try:
                name, named = check(call, self.chain.get_account)
            except Refused:
                return None  # the check refuses it; LiteSVM then fails it too
            logs.append(f"Program {call.program} emulated: Instruction: {name}")
            instructions += self._effect(name, named, state)
        payer = tx.message.account_keys[0]
        message = Message.new_with_blockhash(instructions, payer, tx.message.recent_blockhash)
        wanted = message.header.num_required_signatures
        rewritten = VersionedTransaction.populate(message, [Signature.default()] * wanted)
        extra = wanted - tx.message.header.num_required_signatures
        return Rewrite(rewritten, extra, list(state.items()), logs)

    def _account(self, key: Pubkey, state: dict[Pubkey, Account]) -> Account | None:
        return state[key] if key in state else self.chain.get_account(key)

    def _effect(
        self, name: str, named: dict[str, Pubkey], state: dict[Pubkey, Account]
    ) -> list[Instruction]:
        if name == "sweep_creator_fee":
            self._sweep(named["bonding_curve"], named["recipient"], state)
            return []
        if name == "collect_coin_creator_fee":
            vault = self._account(named["coin_creator_vault_ata"], state)
            amount = 0 if vault is None else layout.token_amount(bytes(vault.data))
            if amount == 0:
                return []
            moved = TokenTransferParams(
                program_id=TOKEN_PROGRAM,
                source=named["coin_creator_vault_ata"],
                dest=named["coin_creator_token_account"],
                owner=named["coin_creator_vault_authority"],
                amount=amount,
            )
            return [token_transfer(moved)]
        vault_account = self._account(named["creator_vault"], state)
        rent = self.chain.minimum_balance_for_rent_exemption(0)
        above = 0 if vault_account is None else vault_account.lamports - rent
        if above <= 0:
            return []
        # The transfer's accounts are the same keys, so `state` stays right for later calls.
        params = TransferParams(
            from_pubkey=named["creator_vault"], to_pubkey=named["creator"], lamports=above
        )
        return [transfer(params)]

    def _sweep(self, curve_key: Pubkey, vault_key: Pubkey, state: dict[Pubkey, Account]) -> None:
        curve = self._account(curve_key, state)
        vault = self._account(vault_key, state)
        if curve is None:
            return
        fee = layout.curve_creator_fee(bytes(curve.data))
        if fee == 0:
            return  # nothing waiting: a sweep does nothing
        data = layout.with_creator_fee(bytes(curve.data), 0)
        state[curve_key] = Account(curve.lamports - fee, data, curve.owner, False, 0)
        held = 0 if vault is None else vault.lamports
        state[vault_key] = Account(held + fee, b"", SYSTEM_PROGRAM, False, 0)

    # -- the traders' fees -----------------------------------------------------------------------
    def accrue(self, trader: Keypair, lamports: int, blockhash: Hash) -> Signature:
        """One trade's creator fee, paid by `trader`, to where its kind of trade leaves it:
        the creator vault (buy/sell v2), the curve (buy_v3 keeps it there until a sweep), the
        PumpSwap vault as wSOL (a graduated coin's trades), in turn."""
        turn = next(self._turn) % 3
        payer = trader.pubkey()
        to = (self.vault, self.curve, self.amm_vault)[turn]
        ixs = [transfer(TransferParams(from_pubkey=payer, to_pubkey=to, lamports=lamports))]
        if to == self.amm_vault:
            ixs.append(sync_native(SyncNativeParams(program_id=TOKEN_PROGRAM, account=to)))
        with self.chain.lock:
            signature = self.chain.send(build_v0(payer, ixs, blockhash, [trader]))
            record = self.chain.get_transaction(signature)
            curve = self.chain.get_account(self.curve)
            if to == self.curve and record is not None and record.err is None and curve is not None:
                # What buy_v3 writes down: the fee waiting on the curve.
                fee = layout.curve_creator_fee(bytes(curve.data)) + lamports
                data = layout.with_creator_fee(bytes(curve.data), fee)
                self.chain.set_account(to, Account(curve.lamports, data, curve.owner, False, 0))
        return signature
