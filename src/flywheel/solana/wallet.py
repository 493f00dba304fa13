"""`SolanaWallet`: the `Wallet` port on a real (or sandbox) Solana RPC node.

Composes the guard (check before signing), the settler (burn / treasury transactions) and the
sender (exactly-once landing). It holds the executor's keypair and never shows it: the keypair
is not in any repr, log line or error.
"""

from __future__ import annotations

from solders.account_decoder import UiAccountEncoding
from solders.commitment_config import CommitmentLevel
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.rpc.config import (
    RpcAccountInfoConfig,
    RpcContextConfig,
    RpcTokenAccountsFilterMint,
)
from solders.rpc.requests import GetBalance, GetTokenAccountsByOwner
from solders.rpc.responses import GetBalanceResp, GetTokenAccountsByOwnerResp
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from flywheel.domain.balances import BalanceReading
from flywheel.domain.trade import Destination, Landing, PreparedTx, Quote, TxKind
from flywheel.errors import ConfigError, GuardRefused, OperationalError
from flywheel.solana.guard import (
    DEFAULT_MAX_PRIORITY_FEE_LAMPORTS,
    DEFAULT_MAX_SLIPPAGE_BPS,
    LAMPORTS_PER_SIGNATURE,
    GuardReport,
    SwapGuard,
)
from flywheel.solana.jito import JITO_TIP_ACCOUNTS, JitoClient
from flywheel.solana.memo import memo_instruction
from flywheel.solana.rpc import RpcClient
from flywheel.solana.sender import Sender, prepared_tx, sign_versioned
from flywheel.solana.settle import Settler, signed_transaction, source_account
from flywheel.solana.tokens import token_snapshot

# If the API's lastValidBlockHeight is unknown and the swap's blockhash is not our node's
# latest, the API's node may be ahead of ours: allow a full blockhash lifetime more, so an
# expiry is never declared while the transaction could still land.
UNKNOWN_BLOCKHASH_MARGIN = 150


class SolanaWallet:
    """The executor on chain: balances, guarded signing, settlement, exactly-once landing."""

    def __init__(
        self,
        rpc: RpcClient,
        keypair: Keypair,
        token_mint: Pubkey,
        treasury: Pubkey | None = None,
        *,
        resend_interval: float = 2.0,
        land_timeout: float = 120.0,
        lamports_per_signature: int = LAMPORTS_PER_SIGNATURE,
        settle_compute_unit_price: int | None = None,
        max_priority_fee_lamports: int = DEFAULT_MAX_PRIORITY_FEE_LAMPORTS,
        max_slippage_bps: int = DEFAULT_MAX_SLIPPAGE_BPS,
        jito: JitoClient | None = None,
        jito_tip_lamports: int = 0,
    ) -> None:
        self._rpc = rpc
        self.__keypair = keypair
        self.pubkey = keypair.pubkey()
        self.token_mint = token_mint
        self.treasury = treasury
        self.last_guard_report: GuardReport | None = None
        self.guard = SwapGuard(
            rpc,
            self.pubkey,
            token_mint,
            lamports_per_signature=lamports_per_signature,
            max_priority_fee_lamports=max_priority_fee_lamports,
            max_slippage_bps=max_slippage_bps,
            max_tip_lamports=0 if jito is None else jito_tip_lamports,
            tip_accounts=JITO_TIP_ACCOUNTS,  # known always, so a tip without Jito is named
        )
        self.settler = Settler(
            rpc, keypair, token_mint, compute_unit_price=settle_compute_unit_price
        )
        self.sender = Sender(
            rpc,
            self.pubkey,
            token_mint,
            resend_interval=resend_interval,
            max_duration=land_timeout,
            submit_swap=None if jito is None else jito.send_transaction,
        )

    def __repr__(self) -> str:
        return f"SolanaWallet(executor={self.pubkey}, mint={self.token_mint})"

    async def balance_lamports(self) -> int:
        return await self._rpc.get_balance(self.pubkey)

    async def token_balance(self) -> int:
        """Base units of the mint in the executor's associated token account."""
        mint = await self.settler.mint_info()
        account = await self._rpc.get_account_info(source_account(mint, self.pubkey))
        held = token_snapshot(account)
        return 0 if held is None else held.amount

    async def executor_balances(self) -> BalanceReading:
        """SOL and every token account of the mint the executor owns, in one batch.

        Summed over all its accounts, as a transaction's token balances are: tokens sent to
        any account of the executor count.
        """
        confirmed = CommitmentLevel.Confirmed
        balance, accounts = await self._rpc.batch(
            [
                GetBalance(self.pubkey, RpcContextConfig(commitment=confirmed), 0),
                GetTokenAccountsByOwner(
                    self.pubkey,
                    RpcTokenAccountsFilterMint(self.token_mint),
                    RpcAccountInfoConfig(encoding=UiAccountEncoding.Base64, commitment=confirmed),
                    1,
                ),
            ],
            [GetBalanceResp, GetTokenAccountsByOwnerResp],
        )
        tokens = 0
        for keyed in accounts.value:
            held = token_snapshot(keyed.account)
            if held is None or held.mint != self.token_mint or held.owner != self.pubkey:
                raise OperationalError(
                    f"the RPC listed {keyed.pubkey} as a token account of the executor, but it "
                    "is not one: the node's answers cannot be used to check the balances"
                )
            tokens += held.amount
        return BalanceReading(
            executor=str(self.pubkey),
            mint=str(self.token_mint),
            sol_lamports=int(balance.value),
            token_units=tokens,
            slot=int(balance.context.slot),
        )

    async def check_swap(
        self, unsigned_tx: bytes, quote: Quote, *, burn_amount: int = 0
    ) -> GuardReport:
        """The guard alone (simulate mode uses it): figures, or GuardRefused."""
        try:
            tx = VersionedTransaction.from_bytes(unsigned_tx)
        except Exception:
            raise GuardRefused(
                "the swap transaction is not a valid versioned transaction"
            ) from None
        report = await self.guard.inspect(tx, quote, burned=burn_amount)
        self.last_guard_report = report
        return report

    async def prepare_swap(
        self,
        unsigned_tx: bytes,
        quote: Quote,
        *,
        last_valid_block_height: int | None = None,
        burn_amount: int = 0,
    ) -> PreparedTx:
        """Guard, then sign. Pass the API's lastValidBlockHeight when it gave one, and the burn
        our composition put in the same transaction."""
        await self.check_swap(unsigned_tx, quote, burn_amount=burn_amount)
        min_slot = await self.sender.finalized_slot()
        tx = sign_versioned(VersionedTransaction.from_bytes(unsigned_tx), self.__keypair)
        if last_valid_block_height is None:
            last_valid_block_height = await self._upper_bound_last_valid(tx)
        return prepared_tx(TxKind.SWAP, tx, last_valid_block_height, min_slot)

    async def _upper_bound_last_valid(self, tx: VersionedTransaction) -> int:
        """A lastValidBlockHeight no lower than the true one: expiry must never come early."""
        blockhash, last_valid = await self._rpc.get_latest_blockhash()
        if tx.message.recent_blockhash == blockhash:
            return last_valid
        return last_valid + UNKNOWN_BLOCKHASH_MARGIN

    async def prepare_settle(
        self, token_amount: int, destination: Destination, memo: str | None = None
    ) -> PreparedTx:
        # Read before signing: no transaction signed after it can land in it or earlier.
        min_slot = await self.sender.finalized_slot()
        extra = self._memo(memo)
        if destination == Destination.BURN:
            tx, last_valid = await self.settler.burn(token_amount, extra)
            return prepared_tx(TxKind.BURN, tx, last_valid, min_slot)
        if destination == Destination.TREASURY:
            if self.treasury is None:
                raise ConfigError(["settling to the treasury needs a treasury public key"])
            tx, last_valid = await self.settler.transfer(token_amount, self.treasury, extra)
            return prepared_tx(TxKind.TRANSFER, tx, last_valid, min_slot)
        raise ValueError(f"nothing to sign for destination {destination.value!r}")

    def _memo(self, memo: str | None) -> list[Instruction]:
        return [] if memo is None else [memo_instruction(memo, self.pubkey)]

    async def prepare_sol_transfer(
        self, lamports: int, to: str, memo: str | None = None
    ) -> PreparedTx:
        """A signed SOL transfer from the executor (the ads treasury's share of an epoch)."""
        if lamports <= 0:
            raise ValueError(f"a transfer needs a positive amount, got {lamports}")
        instruction = transfer(
            TransferParams(
                from_pubkey=self.pubkey, to_pubkey=Pubkey.from_string(to), lamports=lamports
            )
        )
        min_slot = await self.sender.finalized_slot()
        blockhash, last_valid = await self._rpc.get_latest_blockhash()
        tx = signed_transaction(self.__keypair, [instruction, *self._memo(memo)], blockhash)
        return prepared_tx(TxKind.ADS_TRANSFER, tx, last_valid, min_slot)

    async def land(self, tx: PreparedTx) -> Landing:
        return await self.sender.land(tx)
