"""The Solana JSON-RPC client every adapter shares: deadlines, retries, statistics, errors.

Requests are solders' request objects (`GetBalance(...).to_json()`), sent with httpx and read by
`jsonrpc` (the envelope and every error code) before solders parses the result: no solana-py
client, so no private API and no foreign exception escapes. Retries follow the one policy in
`flywheel.retry` (429 with Retry-After, 5xx, timeouts); every call ends within its deadline;
per-method counts and latencies go to `RpcStats` and the metrics hook.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import httpx
import structlog
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
    batch_to_json,
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

from flywheel.config.secrets import redact_url
from flywheel.errors import FlywheelError, OperationalError, RateLimited, TemporaryError
from flywheel.retry import RetryPolicy, rate_limit_wait, status_text
from flywheel.solana.jsonrpc import batch_results, decode, result_of
from flywheel.solana.rpc_stats import RpcHook, RpcStats

__all__ = ["RpcClient", "RpcHook", "RpcStats"]

log = structlog.get_logger(__name__)

T = TypeVar("T")

_BASE64 = UiAccountEncoding.Base64


class _Failed(Exception):
    """One attempt's error with its statistics label; never leaves this module."""

    def __init__(self, outcome: str, error: FlywheelError) -> None:
        self.outcome = outcome
        self.error = error


class RpcClient:
    """JSON-RPC to one Solana node with deadlines, retries, statistics; reads `confirmed`."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        deadline_seconds: float = 30.0,
        max_attempts: int = 5,
        backoff_initial: float = 0.25,
        backoff_max: float = 8.0,
        max_retry_after: float = 30.0,
        commitment: CommitmentLevel = CommitmentLevel.Confirmed,
        on_request: RpcHook | None = None,
        stats: RpcStats | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.url = str(url)
        self.commitment = commitment
        self.stats = stats if stats is not None else RpcStats()
        self.on_request = on_request
        self.timeout = timeout
        self.retry = retry or RetryPolicy(
            max_attempts=max_attempts,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
            max_rate_limit_wait=max_retry_after,
            deadline_seconds=deadline_seconds,
            deadline_name="RPC_CALL_DEADLINE_SECONDS",
        )
        # connect, write, each read and waiting for a pooled connection: each at most `timeout`;
        # the whole call is bounded by the retry policy's deadline.
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
            headers={"content-type": "application/json", "accept": "application/json"},
        )

    def __repr__(self) -> str:
        return f"RpcClient(url={redact_url(self.url)!r})"

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> RpcClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # -- the exchange, the retry and the accounting -----------------------------------------
    def _record(self, method: str, outcome: str, seconds: float) -> None:
        self.stats.record(method, outcome, seconds)
        if self.on_request is not None:
            try:
                self.on_request(method, outcome, seconds)
            except Exception:  # a metrics bug must not stop money moving
                log.exception("rpc hook failed", method=method)

    async def _exchange(self, label: str, body: str) -> Any:
        """POST one body; the decoded JSON of a 2xx answer, else a `_Failed`."""
        where = redact_url(self.url)
        error: FlywheelError
        try:
            response = await self._http.post(self.url, content=body)
        except httpx.TimeoutException:
            error = TemporaryError(
                f"RPC {label}: timed out after {self.timeout:g}s at {where} (RPC_TIMEOUT_SECONDS)"
            )
            raise _Failed("timeout", error) from None
        except httpx.TransportError as exc:
            error = TemporaryError(f"RPC {label}: cannot reach {where} ({type(exc).__name__})")
            raise _Failed("transport_error", error) from None
        except httpx.HTTPError as exc:
            error = OperationalError(f"RPC {label}: request failed ({type(exc).__name__})")
            raise _Failed("http_error", error) from None
        status = response.status_code
        if status == 429:
            wait = rate_limit_wait(response.headers, self.retry.wall_clock)
            message = f"RPC {label}: HTTP {status_text(status)} from {where}"
            raise _Failed("rate_limited", RateLimited(message, retry_after=wait))
        if status >= 500 or status == 408:
            error = TemporaryError(f"RPC {label}: HTTP {status_text(status)}", status=status)
            raise _Failed("server_error", error)
        if not 200 <= status < 300:
            error = OperationalError(
                f"RPC {label}: HTTP {status_text(status)} from {where}: check SOLANA_RPC_URL "
                "(and the provider's API key in it)"
            )
            raise _Failed("http_error", error)
        try:
            return decode(label, response.text)
        except FlywheelError as exc:
            raise _Failed("malformed", exc) from None

    async def _attempt(self, label: str, body: str, read: Callable[[Any], T]) -> T:
        started = time.perf_counter()
        outcome = "ok"
        try:
            result = read(await self._exchange(label, body))
        except _Failed as failed:
            outcome = failed.outcome
            raise failed.error from None
        except RateLimited:
            outcome = "rate_limited"
            raise
        except TemporaryError:
            outcome = "rpc_transient"
            raise
        except FlywheelError:
            outcome = "rpc_error"
            raise
        except asyncio.CancelledError:  # the call's deadline struck mid-answer
            outcome = "deadline"
            raise
        finally:
            self._record(label, outcome, time.perf_counter() - started)
        return result

    async def request(self, request: Any, parser: type[T]) -> T:
        """One solders request object, answered as `parser` (a solders `*Resp` class)."""
        label = _method_of(request)
        body = request.to_json()
        return await self.retry.call(
            "RPC", label, lambda: self._attempt(label, body, lambda a: result_of(label, a, parser))
        )

    # -- typed requests ---------------------------------------------------------------------
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

    # -- batches ----------------------------------------------------------------------------
    async def batch(self, requests: Sequence[Any], parsers: Sequence[Any]) -> list[Any]:
        """Send solders request objects as one JSON-RPC batch; answers come back in order.

        Any error answer raises (translated) so callers get all results or none.
        """
        if len(requests) != len(parsers) or not requests:
            raise ValueError("batch needs one parser per request, and at least one request")
        payload = json.loads(batch_to_json(list(requests)))
        for index, item in enumerate(payload):
            item["id"] = index
        body = json.dumps(payload)
        # Distinct methods only, so the statistics' labels stay few however large the batch.
        methods = ",".join(dict.fromkeys(str(item["method"]) for item in payload))
        label = f"batch[{methods}]"
        wanted = list(parsers)
        return await self.retry.call(
            "RPC",
            label,
            lambda: self._attempt(label, body, lambda a: batch_results(label, a, wanted)),
        )


def _method_of(request: Any) -> str:
    return str(json.loads(request.to_json())["method"])
