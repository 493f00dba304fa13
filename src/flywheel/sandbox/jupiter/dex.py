"""The sandbox's on-chain pool: reserves read from the chain, quotes, and the swap transactions.

There is no AMM program in LiteSVM, so a swap is plain transfers between the user and two
vaults the sandbox holds keys for (a system account for SOL, a token account for the token),
plus a Memo naming the pool, the input and the minimum output. An execution check registered on
the chain re-prices that memo against the reserves at execution time and fails the transaction
with Jupiter's slippage error (custom 6001) when the minimum is no longer met, so stale swaps
fail on-chain the way they do on mainnet.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.token.state import TokenAccount
from solders.transaction import Transaction, VersionedTransaction
from spl.token.instructions import (
    create_idempotent_associated_token_account,
    get_associated_token_address,
    transfer_checked,
)
from spl.token.models import TransferCheckedParams

from flywheel.sandbox.chain.runtime import SandboxChain
from flywheel.sandbox.jupiter.pool import (
    DEFAULT_LP_FEE_BPS,
    Reserves,
    TransferFee,
    gross_for_net,
    min_out,
    net_of,
    price_impact,
    swap_out,
)

SOL_MINT = Pubkey.from_string("So11111111111111111111111111111111111111112")
MEMO_PROGRAM_ID = Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")
SLIPPAGE_EXCEEDED = 6001  # Jupiter's SlippageToleranceExceeded (0x1771)
POOL_LABEL = "Sandbox CPMM"
_MEMO = re.compile(r"^jupiter-sandbox swap v1 pool=(\w+) in=(\d+) minOut=(\d+)$")


class DexError(Exception):
    """A request the pool cannot serve; `code` is Jupiter's errorCode."""

    def __init__(self, message: str, code: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class Quote:
    input_mint: Pubkey
    output_mint: Pubkey
    in_amount: int
    out_amount: int  # what the user receives (after any Token-2022 transfer fee)
    pool_out: int  # what leaves the pool's vault
    min_out: int
    slippage_bps: int
    lp_fee: int  # in input units
    price_impact: Decimal
    context_slot: int

    @property
    def is_buy(self) -> bool:
        """SOL in, token out."""
        return self.input_mint == SOL_MINT


@dataclass(frozen=True)
class SwapMemo:
    pool: Pubkey
    in_amount: int
    min_out: int

    def text(self) -> str:
        return f"jupiter-sandbox swap v1 pool={self.pool} in={self.in_amount} minOut={self.min_out}"

    @staticmethod
    def parse(data: bytes) -> SwapMemo | None:
        try:
            match = _MEMO.match(data.decode("utf-8"))
        except UnicodeDecodeError:
            return None
        if match is None:
            return None
        try:
            pool = Pubkey.from_string(match.group(1))
        except ValueError:
            return None
        return SwapMemo(pool=pool, in_amount=int(match.group(2)), min_out=int(match.group(3)))


def sign_as(tx: VersionedTransaction, signer: Keypair) -> VersionedTransaction:
    """Fill `signer`'s slot in a partially signed transaction, leaving the others as they are."""
    message = tx.message
    signers = list(message.account_keys[: message.header.num_required_signatures])
    index = signers.index(signer.pubkey())
    signatures = list(tx.signatures)
    signatures[index] = signer.sign_message(to_bytes_versioned(message))
    return VersionedTransaction.populate(message, signatures)


def build_v0(
    payer: Pubkey,
    instructions: Sequence[Instruction],
    blockhash: Hash,
    signers: Sequence[Keypair],
) -> VersionedTransaction:
    """A v0 transaction paid by `payer`, signed by `signers`; other signer slots stay default."""
    message = MessageV0.try_compile(payer, list(instructions), [], blockhash)
    required = list(message.account_keys[: message.header.num_required_signatures])
    raw = to_bytes_versioned(message)
    by_key = {kp.pubkey(): kp for kp in signers}
    signatures = [
        by_key[key].sign_message(raw) if key in by_key else Signature.default() for key in required
    ]
    return VersionedTransaction.populate(message, signatures)


@dataclass(frozen=True)
class SandboxPool:
    """A SOL/token constant-product pool whose vaults are accounts the sandbox signs for."""

    mint: Pubkey
    token_program: Pubkey
    decimals: int
    sol_vault: Keypair
    authority: Keypair
    transfer_fee: TransferFee | None = None
    lp_fee_bps: int = DEFAULT_LP_FEE_BPS

    @property
    def address(self) -> Pubkey:
        """The pool's identity (its SOL vault), Jupiter's `ammKey`."""
        return self.sol_vault.pubkey()

    @property
    def token_vault(self) -> Pubkey:
        return get_associated_token_address(self.authority.pubkey(), self.mint, self.token_program)

    def ata(self, owner: Pubkey) -> Pubkey:
        return get_associated_token_address(owner, self.mint, self.token_program)

    # -- reading the chain -------------------------------------------------------------------
    def reserves(self, chain: SandboxChain) -> Reserves:
        """Tradeable reserves: the SOL vault keeps its rent minimum out of the curve."""
        with chain.lock:
            vault = chain.get_account(self.address)
            tokens = chain.get_account(self.token_vault)
            rent = chain.minimum_balance_for_rent_exemption(0)
        sol = 0 if vault is None else max(vault.lamports - rent, 0)
        token = 0 if tokens is None else TokenAccount.from_bytes(bytes(tokens.data[:165])).amount
        return Reserves(sol=sol, token=token)

    def _out(self, reserves: Reserves, in_amount: int, *, buy: bool) -> tuple[int, int, int]:
        """(user receives, pool pays, lp fee) for an exact-in trade against `reserves`."""
        if buy:
            trade = swap_out(in_amount, reserves.sol, reserves.token, fee_bps=self.lp_fee_bps)
            user_out = net_of(self.transfer_fee, trade.amount_out)
            # The pool keeps any unit the transfer fee would have swallowed anyway.
            return user_out, self.pool_out_for(user_out, buy=True), trade.lp_fee
        pool_in = net_of(self.transfer_fee, in_amount)
        trade = swap_out(pool_in, reserves.token, reserves.sol, fee_bps=self.lp_fee_bps)
        return trade.amount_out, trade.amount_out, trade.lp_fee

    def pool_out_for(self, user_out: int, *, buy: bool) -> int:
        """What must leave the pool for the user to receive exactly `user_out`."""
        return gross_for_net(self.transfer_fee, user_out) if buy else user_out

    def quote_for_swap(
        self,
        input_mint: Pubkey,
        output_mint: Pubkey,
        in_amount: int,
        out_amount: int,
        other_amount_threshold: int,
        slippage_bps: int,
    ) -> Quote:
        """A quote as a client handed it back to /swap, checked for shape, not re-priced."""
        if {input_mint, output_mint} != {SOL_MINT, self.mint} or input_mint == output_mint:
            raise DexError("quoteResponse is not a route of this pool", "INVALID_QUOTE")
        if in_amount <= 0 or out_amount <= 0 or not 0 <= other_amount_threshold <= out_amount:
            raise DexError("quoteResponse amounts are inconsistent", "INVALID_QUOTE")
        buy = input_mint == SOL_MINT
        return Quote(
            input_mint=input_mint,
            output_mint=output_mint,
            in_amount=in_amount,
            out_amount=out_amount,
            pool_out=self.pool_out_for(out_amount, buy=buy),
            min_out=other_amount_threshold,
            slippage_bps=slippage_bps,
            lp_fee=0,
            price_impact=Decimal(0),
            context_slot=0,
        )

    def quote(
        self,
        chain: SandboxChain,
        input_mint: Pubkey,
        output_mint: Pubkey,
        amount: int,
        slippage_bps: int,
    ) -> Quote:
        pair = {input_mint, output_mint}
        if pair != {SOL_MINT, self.mint}:
            if input_mint == output_mint:
                raise DexError("Circular arbitrage is disabled", "CIRCULAR_ARBITRAGE_IS_DISABLED")
            raise DexError("No routes found for the input and output mints", "NO_ROUTES_FOUND")
        if amount <= 0:
            raise DexError("amount must be greater than 0", "INVALID_AMOUNT")
        if not 0 <= slippage_bps <= 10_000:
            raise DexError("slippageBps must be within [0, 10000]", "INVALID_SLIPPAGE")
        buy = input_mint == SOL_MINT
        with chain.lock:
            reserves = self.reserves(chain)
            slot = chain.slot()
        user_out, pool_out, lp_fee = self._out(reserves, amount, buy=buy)
        if user_out <= 0:
            raise DexError("Could not find any route", "COULD_NOT_FIND_ANY_ROUTE")
        if buy:
            impact = price_impact(
                amount, pool_out, reserves.sol, reserves.token, fee_bps=self.lp_fee_bps
            )
        else:
            impact = price_impact(
                net_of(self.transfer_fee, amount),
                pool_out,
                reserves.token,
                reserves.sol,
                fee_bps=self.lp_fee_bps,
            )
        return Quote(
            input_mint=input_mint,
            output_mint=output_mint,
            in_amount=amount,
            out_amount=user_out,
            pool_out=pool_out,
            min_out=min_out(user_out, slippage_bps),
            slippage_bps=slippage_bps,
            lp_fee=lp_fee,
            price_impact=impact,
            context_slot=slot,
        )

    # -- building the swap -------------------------------------------------------------------
    def swap_instructions(self, user: Pubkey, quote: Quote) -> list[Instruction]:
        """The swap proper (no compute budget): setup, the two legs, then the memo."""
        user_ata = self.ata(user)
        memo = SwapMemo(pool=self.address, in_amount=quote.in_amount, min_out=quote.min_out)
        if quote.is_buy:
            legs = [
                create_idempotent_associated_token_account(
                    user, user, self.mint, token_program_id=self.token_program
                ),
                transfer(
                    TransferParams(
                        from_pubkey=user, to_pubkey=self.address, lamports=quote.in_amount
                    )
                ),
                self._token_transfer(
                    self.token_vault, user_ata, self.authority.pubkey(), quote.pool_out
                ),
            ]
        else:
            legs = [
                self._token_transfer(user_ata, self.token_vault, user, quote.in_amount),
                transfer(
                    TransferParams(
                        from_pubkey=self.address, to_pubkey=user, lamports=quote.pool_out
                    )
                ),
            ]
        return [*legs, Instruction(MEMO_PROGRAM_ID, memo.text().encode(), [])]

    def _token_transfer(
        self, source: Pubkey, dest: Pubkey, owner: Pubkey, amount: int
    ) -> Instruction:
        return transfer_checked(
            TransferCheckedParams(
                program_id=self.token_program,
                source=source,
                mint=self.mint,
                dest=dest,
                owner=owner,
                amount=amount,
                decimals=self.decimals,
            )
        )

    def build_swap(
        self,
        chain: SandboxChain,
        user: Pubkey,
        quote: Quote,
        *,
        compute_unit_limit: int,
        compute_unit_price: int,
        extra: Sequence[Instruction] = (),
    ) -> tuple[VersionedTransaction, int]:
        """(the swap, signed by the pool's vault with the user's slot left empty;
        its lastValidBlockHeight)."""
        instructions = [
            set_compute_unit_limit(compute_unit_limit),
            set_compute_unit_price(compute_unit_price),
            *self.swap_instructions(user, quote),
            *extra,
        ]
        blockhash, last_valid = chain.latest_blockhash()
        pool_signer = self.authority if quote.is_buy else self.sol_vault
        return build_v0(user, instructions, blockhash, [pool_signer]), last_valid

    # -- enforcing slippage at execution time --------------------------------------------------
    def install(self, chain: SandboxChain) -> None:
        chain.add_execution_check(lambda tx: self.check_execution(chain, tx))

    def check_execution(
        self, chain: SandboxChain, tx: VersionedTransaction | Transaction
    ) -> tuple[int, int] | None:
        """(memo index, 6001) when a swap on this pool would now pay less than its minimum."""
        message = tx.message
        keys = list(message.account_keys)
        for index, ix in enumerate(message.instructions):
            if keys[ix.program_id_index] != MEMO_PROGRAM_ID:
                continue
            memo = SwapMemo.parse(bytes(ix.data))
            if memo is None or memo.pool != self.address or self.address not in keys:
                continue
            # A sell pays SOL out of the vault, so only then does the vault sign.
            buy = not message.is_signer(keys.index(self.address))
            user_out, _, _ = self._out(self.reserves(chain), memo.in_amount, buy=buy)
            if user_out < memo.min_out:
                return (index, SLIPPAGE_EXCEEDED)
        return None
