"""The typed requests of the Solana JSON-RPC: one method each, solders in and solders out.

`RpcClient` inherits them; they only build the request and read the answer, through the
client's `request` and `batch` (which own the deadlines, retries and statistics).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from solders.account import Account
from solders.account_decoder import UiAccountEncoding
from solders.commitment_config import CommitmentLevel
from solders.hash import Hash
from solders.pubkey import Pubkey
from solders.rpc.config import (
    RpcAccountInfoConfig,
    RpcContextConfig,
    RpcProgramAccountsConfig,
    RpcSendTransactionConfig,
    RpcSignaturesForAddressConfig,
    RpcSignatureStatusConfig,
    RpcSimulateTransactionAccountsConfig,
    RpcSimulateTransactionConfig,
    RpcTokenAccountsFilterMint,
    RpcTokenAccountsFilterProgramId,
    RpcTransactionConfig,
)
from solders.rpc.filter import Memcmp
from solders.rpc.requests import (
    GetAccountInfo,
    GetBalance,
    GetBlockHeight,
    GetLatestBlockhash,
    GetMinimumBalanceForRentExemption,
    GetMultipleAccounts,
    GetProgramAccounts,
    GetRecentPrioritizationFees,
    GetSignaturesForAddress,
    GetSignatureStatuses,
    GetSlot,
    GetTokenAccountsByOwner,
    GetTokenSupply,
    GetTransaction,
    SendRawTransaction,
    SimulateVersionedTransaction,
)
from solders.rpc.responses import (
    GetAccountInfoResp,
    GetBalanceResp,
    GetBlockHeightResp,
    GetLatestBlockhashResp,
    GetMinimumBalanceForRentExemptionResp,
    GetMultipleAccountsResp,
    GetProgramAccountsResp,
    GetRecentPrioritizationFeesResp,
    GetSignaturesForAddressResp,
    GetSignatureStatusesResp,
    GetSlotResp,
    GetTokenAccountsByOwnerResp,
    GetTokenSupplyResp,
    GetTransactionResp,
    RpcConfirmedTransactionStatusWithSignature,
    RpcKeyedAccount,
    RpcSimulateTransactionResult,
    SendTransactionResp,
    SimulateTransactionResp,
)
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from solders.transaction_status import (
    EncodedConfirmedTransactionWithStatusMeta,
    TransactionStatus,
    UiTransactionEncoding,
)

T = TypeVar("T")

_BASE64 = UiAccountEncoding.Base64


class RpcRequests:
    """getBalance, getTransaction, sendTransaction, ...: the calls the adapters make."""

    commitment: CommitmentLevel

    async def request(self, request: Any, parser: type[T]) -> T:
        raise NotImplementedError  # RpcClient's: the exchange, its retries and its accounting

    async def batch(self, requests: Sequence[Any], parsers: Sequence[Any]) -> list[Any]:
        raise NotImplementedError  # RpcClient's

    def _context(self, commitment: CommitmentLevel | None = None) -> RpcContextConfig:
        return RpcContextConfig(commitment=commitment or self.commitment)

    def _accounts(self) -> RpcAccountInfoConfig:
        return RpcAccountInfoConfig(encoding=_BASE64, commitment=self.commitment)

    async def get_balance(self, pubkey: Pubkey) -> int:
        resp = await self.request(GetBalance(pubkey, self._context()), GetBalanceResp)
        return resp.value

    async def get_block_height(self, commitment: CommitmentLevel | None = None) -> int:
        resp = await self.request(GetBlockHeight(self._context(commitment)), GetBlockHeightResp)
        return resp.value

    async def get_latest_blockhash(
        self, commitment: CommitmentLevel | None = None
    ) -> tuple[Hash, int]:
        """(blockhash, lastValidBlockHeight)."""
        request = GetLatestBlockhash(self._context(commitment))
        resp = await self.request(request, GetLatestBlockhashResp)
        return resp.value.blockhash, resp.value.last_valid_block_height

    async def get_account_info(self, pubkey: Pubkey) -> Account | None:
        resp = await self.request(GetAccountInfo(pubkey, self._accounts()), GetAccountInfoResp)
        return resp.value

    async def get_multiple_accounts(self, pubkeys: Sequence[Pubkey]) -> list[Account | None]:
        keys = list(pubkeys)
        if not keys:
            return []
        request = GetMultipleAccounts(keys, self._accounts())
        resp = await self.request(request, GetMultipleAccountsResp)
        return list(resp.value)

    async def get_token_accounts_by_owner(
        self, owner: Pubkey, *, mint: Pubkey | None = None, program_id: Pubkey | None = None
    ) -> list[RpcKeyedAccount]:
        by: RpcTokenAccountsFilterMint | RpcTokenAccountsFilterProgramId
        if mint is not None:
            by = RpcTokenAccountsFilterMint(mint)
        elif program_id is not None:
            by = RpcTokenAccountsFilterProgramId(program_id)
        else:
            raise ValueError("get_token_accounts_by_owner needs a mint or a program id")
        request = GetTokenAccountsByOwner(owner, by, self._accounts())
        resp = await self.request(request, GetTokenAccountsByOwnerResp)
        return list(resp.value)

    async def get_program_accounts(
        self, program: Pubkey, memcmp: Sequence[tuple[int, str]]
    ) -> list[RpcKeyedAccount]:
        """Accounts of `program` whose data holds each `(offset, base58 bytes)`: a heavy call
        on mainnet, so callers filter narrowly and call it only when the answer is needed."""
        config = RpcProgramAccountsConfig(
            self._accounts(), filters=[Memcmp(offset, value) for offset, value in memcmp]
        )
        resp = await self.request(GetProgramAccounts(program, config), GetProgramAccountsResp)
        return list(resp.value)

    async def get_token_supply(self, mint: Pubkey) -> int:
        resp = await self.request(GetTokenSupply(mint, self.commitment), GetTokenSupplyResp)
        return int(resp.value.amount)

    async def finalized_slot(self) -> int:
        """The finalized slot now. A transaction signed after it cannot land before it: it is
        journaled as the intent's min_slot, where an expiry proof's history must reach back."""
        request = GetSlot(RpcContextConfig(commitment=CommitmentLevel.Finalized))
        return int((await self.request(request, GetSlotResp)).value)

    async def get_minimum_balance_for_rent_exemption(self, size: int) -> int:
        request = GetMinimumBalanceForRentExemption(size, self.commitment)
        resp = await self.request(request, GetMinimumBalanceForRentExemptionResp)
        return resp.value

    async def get_recent_prioritization_fees(self, accounts: Sequence[Pubkey]) -> list[int]:
        """Recent slots' minimum compute-unit prices (micro-lamports) for writers of `accounts`."""
        keys = list(accounts)[:128]  # the method's own limit
        request = GetRecentPrioritizationFees(keys)
        resp = await self.request(request, GetRecentPrioritizationFeesResp)
        return [entry.prioritization_fee for entry in resp.value]

    async def get_signature_statuses(
        self, signatures: Sequence[Signature], *, search_history: bool = True
    ) -> list[TransactionStatus | None]:
        config = RpcSignatureStatusConfig(search_transaction_history=search_history)
        request = GetSignatureStatuses(list(signatures), config)
        resp = await self.request(request, GetSignatureStatusesResp)
        return list(resp.value)

    def _transaction_config(self) -> RpcTransactionConfig:
        return RpcTransactionConfig(
            encoding=UiTransactionEncoding.Json,
            commitment=self.commitment,
            max_supported_transaction_version=0,
        )

    async def get_transaction(
        self, signature: Signature
    ) -> EncodedConfirmedTransactionWithStatusMeta | None:
        request = GetTransaction(signature, self._transaction_config())
        resp = await self.request(request, GetTransactionResp)
        return resp.value

    async def get_transactions(
        self, signatures: Sequence[Signature]
    ) -> list[EncodedConfirmedTransactionWithStatusMeta | None]:
        """getTransaction for many signatures in one batch (None where there is no record)."""
        sigs = list(signatures)
        if not sigs:
            return []
        config = self._transaction_config()
        answers = await self.batch(
            [GetTransaction(sig, config) for sig in sigs], [GetTransactionResp] * len(sigs)
        )
        return [answer.value for answer in answers]

    async def get_signatures_for_address(
        self,
        address: Pubkey,
        *,
        before: Signature | None = None,
        until: Signature | None = None,
        limit: int | None = None,
    ) -> list[RpcConfirmedTransactionStatusWithSignature]:
        """Newest first; `before` and `until` are exclusive."""
        config = RpcSignaturesForAddressConfig(
            before=before, until=until, limit=limit, commitment=self.commitment
        )
        request = GetSignaturesForAddress(address, config)
        resp = await self.request(request, GetSignaturesForAddressResp)
        return list(resp.value)

    async def send_raw_transaction(self, raw: bytes) -> Signature:
        """Send signed bytes as they are: no preflight, no RPC-side retries (we re-send).

        Retrying a send is safe: the same bytes are the same transaction, landed at most once."""
        config = RpcSendTransactionConfig(
            skip_preflight=True, preflight_commitment=self.commitment, max_retries=0
        )
        resp = await self.request(SendRawTransaction(raw, config), SendTransactionResp)
        return resp.value

    async def simulate(
        self, tx: VersionedTransaction, accounts: Sequence[Pubkey]
    ) -> RpcSimulateTransactionResult:
        """Simulate without signature checks, returning the post-state of `accounts`."""
        config = RpcSimulateTransactionConfig(
            sig_verify=False,
            commitment=self.commitment,
            accounts=RpcSimulateTransactionAccountsConfig(list(accounts), _BASE64),
        )
        request = SimulateVersionedTransaction(tx, config)
        resp = await self.request(request, SimulateTransactionResp)
        return resp.value
