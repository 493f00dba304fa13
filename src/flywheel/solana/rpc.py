"""The Solana JSON-RPC client every adapter shares: retries, statistics, error translation.

solana-py's `AsyncClient` does the typed requests. This wrapper adds what it lacks: bounded retries
with backoff and jitter on 429 (honouring Retry-After), 5xx and timeouts; per-method counts and
latencies; JSON-RPC batches; and translation of foreign exceptions into `flywheel.errors`, so
nothing above this module ever sees httpx or solana-py exceptions.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx2
import structlog
from solana.exceptions import SolanaRpcException
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Commitment, Confirmed, Finalized, Processed
from solana.rpc.core import RPCException
from solana.rpc.models import MemcmpOpts, TokenAccountOpts, TxOpts
from solders.account import Account
from solders.commitment_config import CommitmentLevel
from solders.hash import Hash
from solders.pubkey import Pubkey
from solders.rpc.config import RpcTransactionConfig
from solders.rpc.errors import (
    BlockStatusNotAvailableYetMessage,
    InternalErrorMessage,
    MinContextSlotNotReachedMessage,
    NodeUnhealthyMessage,
)
from solders.rpc.requests import GetTransaction, batch_to_json
from solders.rpc.responses import (
    GetTransactionResp,
    RpcConfirmedTransactionStatusWithSignature,
    RpcKeyedAccount,
    RpcSimulateTransactionResult,
    batch_from_json,
)
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from solders.transaction_status import (
    EncodedConfirmedTransactionWithStatusMeta,
    TransactionStatus,
    UiTransactionEncoding,
)
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_base

from flywheel.errors import FlywheelError, OperationalError, RateLimited, TemporaryError

log = structlog.get_logger(__name__)

T = TypeVar("T")

# JSON-RPC errors that say "ask again shortly" rather than "this request is wrong".
_TRANSIENT_RPC_ERRORS: tuple[type[object], ...] = (
    NodeUnhealthyMessage,
    BlockStatusNotAvailableYetMessage,
    MinContextSlotNotReachedMessage,
    InternalErrorMessage,
)

_COMMITMENT_LEVELS = {
    Processed: CommitmentLevel.Processed,
    Confirmed: CommitmentLevel.Confirmed,
    Finalized: CommitmentLevel.Finalized,
}

RpcHook = Callable[[str, str, float], None]
"""Called after every HTTP attempt with (method, outcome, seconds)."""


@dataclass
class RpcStats:
    """Per-method request counts by outcome and latency sums; the metrics layer exports them."""

    requests: defaultdict[str, defaultdict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    latency_seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))

    def record(self, method: str, outcome: str, seconds: float) -> None:
        self.requests[method][outcome] += 1
        self.latency_seconds[method] += seconds

    def count(self, method: str, outcome: str | None = None) -> int:
        by_outcome: dict[str, int] = self.requests.get(method, {})
        if outcome is None:
            return sum(by_outcome.values())
        return by_outcome.get(outcome, 0)

    def total(self) -> int:
        """Every HTTP attempt so far, whatever its method and outcome."""
        return sum(sum(outcomes.values()) for outcomes in self.requests.values())

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": {m: dict(o) for m, o in self.requests.items()},
            "latency_seconds": dict(self.latency_seconds),
        }


class _Wait(wait_base):
    """Exponential backoff with full jitter, except that a server's Retry-After wins (capped)."""

    def __init__(self, initial: float, maximum: float, max_retry_after: float) -> None:
        self._initial = initial
        self._maximum = maximum
        self._max_retry_after = max_retry_after

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return min(max(exc.retry_after, 0.0), self._max_retry_after)
        ceiling = min(self._maximum, self._initial * 2 ** (retry_state.attempt_number - 1))
        # Jitter spreads clients that failed together so they do not retry together.
        return random.uniform(ceiling / 2, ceiling)


def _retry_after(response: httpx2.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def translate(exc: BaseException, method: str) -> tuple[FlywheelError, str]:
    """A foreign exception as (flywheel error, outcome label for the statistics)."""
    if isinstance(exc, FlywheelError):
        return exc, "error"
    cause: BaseException = exc
    if isinstance(exc, SolanaRpcException) and exc.__cause__ is not None:
        cause = exc.__cause__
    if isinstance(cause, httpx2.HTTPStatusError):
        status = cause.response.status_code
        if status == 429:
            wait = _retry_after(cause.response)
            return RateLimited(f"RPC {method}: HTTP 429", retry_after=wait), "rate_limited"
        if status >= 500 or status == 408:
            return TemporaryError(f"RPC {method}: HTTP {status}"), "server_error"
        return OperationalError(f"RPC {method}: HTTP {status}"), "http_error"
    if isinstance(cause, httpx2.TimeoutException):
        return TemporaryError(f"RPC {method}: timed out"), "timeout"
    if isinstance(cause, httpx2.HTTPError):
        return TemporaryError(f"RPC {method}: {type(cause).__name__}"), "transport_error"
    if isinstance(exc, RPCException):
        detail = exc.args[0] if exc.args else exc
        message = getattr(detail, "message", str(detail))
        if isinstance(detail, _TRANSIENT_RPC_ERRORS):
            return TemporaryError(f"RPC {method}: {message}"), "rpc_transient"
        return OperationalError(f"RPC {method}: {message}"), "rpc_error"
    return OperationalError(f"RPC {method}: unexpected {type(exc).__name__}: {exc}"), "error"


class _RawBody:
    """Anything with `to_json()` goes through solana-py's provider; a batch is a JSON array."""

    def __init__(self, text: str) -> None:
        self._text = text

    def to_json(self) -> str:
        return self._text


class RpcClient:
    """solana-py's AsyncClient plus retries, statistics and flywheel errors; reads `confirmed`."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        max_attempts: int = 5,
        backoff_initial: float = 0.25,
        backoff_max: float = 8.0,
        max_retry_after: float = 30.0,
        commitment: Commitment = Confirmed,
        on_request: RpcHook | None = None,
        stats: RpcStats | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.url = url
        self.commitment = commitment
        self.stats = stats if stats is not None else RpcStats()
        self.on_request = on_request
        self._max_attempts = max_attempts
        self._wait = _Wait(backoff_initial, backoff_max, max_retry_after)
        # Our retry loop is the only one: solana-py's own transport retry would hide attempts.
        self._client = AsyncClient(
            url, commitment=commitment, timeout=timeout, max_transport_retries=0, http2=False
        )

    async def close(self) -> None:
        await self._client.close()

    async def __aenter__(self) -> RpcClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # -- the retry and accounting core ------------------------------------------------------
    def _record(self, method: str, outcome: str, seconds: float) -> None:
        self.stats.record(method, outcome, seconds)
        if self.on_request is not None:
            try:
                self.on_request(method, outcome, seconds)
            except Exception:  # a metrics bug must not stop money moving
                log.exception("rpc hook failed", method=method)

    async def _attempt(self, method: str, call: Callable[[], Awaitable[T]]) -> T:
        started = time.perf_counter()
        try:
            result = await call()
        except Exception as exc:
            error, outcome = translate(exc, method)
            self._record(method, outcome, time.perf_counter() - started)
            raise error from exc
        self._record(method, "ok", time.perf_counter() - started)
        return result

    async def call(self, method: str, call: Callable[[], Awaitable[T]]) -> T:
        """Run `call` with bounded retries on temporary failures; errors come out translated."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(TemporaryError),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._attempt(method, call)
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    # -- typed requests ---------------------------------------------------------------------
    async def get_balance(self, pubkey: Pubkey) -> int:
        resp = await self.call("getBalance", lambda: self._client.get_balance(pubkey))
        return resp.value

    async def get_block_height(self, commitment: Commitment | None = None) -> int:
        resp = await self.call(
            "getBlockHeight", lambda: self._client.get_block_height(commitment or self.commitment)
        )
        return resp.value

    async def get_latest_blockhash(self, commitment: Commitment | None = None) -> tuple[Hash, int]:
        """(blockhash, lastValidBlockHeight)."""
        resp = await self.call(
            "getLatestBlockhash",
            lambda: self._client.get_latest_blockhash(commitment or self.commitment),
        )
        return resp.value.blockhash, resp.value.last_valid_block_height

    async def get_account_info(self, pubkey: Pubkey) -> Account | None:
        resp = await self.call(
            "getAccountInfo", lambda: self._client.get_account_info(pubkey, encoding="base64")
        )
        return resp.value

    async def get_multiple_accounts(self, pubkeys: Sequence[Pubkey]) -> list[Account | None]:
        keys = list(pubkeys)
        if not keys:
            return []
        resp = await self.call(
            "getMultipleAccounts",
            lambda: self._client.get_multiple_accounts(keys, encoding="base64"),
        )
        return list(resp.value)

    async def get_token_accounts_by_owner(
        self, owner: Pubkey, *, mint: Pubkey | None = None, program_id: Pubkey | None = None
    ) -> list[RpcKeyedAccount]:
        opts = TokenAccountOpts(mint=mint, program_id=program_id, encoding="base64")
        resp = await self.call(
            "getTokenAccountsByOwner",
            lambda: self._client.get_token_accounts_by_owner(owner, opts),
        )
        return list(resp.value)

    async def get_program_accounts(
        self, program: Pubkey, memcmp: Sequence[tuple[int, str]]
    ) -> list[RpcKeyedAccount]:
        """Accounts of `program` whose data holds each `(offset, base58 bytes)`: a heavy call
        on mainnet, so callers filter narrowly and call it only when the answer is needed."""
        filters = [MemcmpOpts(offset=offset, bytes=value) for offset, value in memcmp]
        resp = await self.call(
            "getProgramAccounts",
            lambda: self._client.get_program_accounts(program, encoding="base64", filters=filters),
        )
        return list(resp.value)

    async def get_token_supply(self, mint: Pubkey) -> int:
        resp = await self.call("getTokenSupply", lambda: self._client.get_token_supply(mint))
        return int(resp.value.amount)

    async def get_minimum_balance_for_rent_exemption(self, size: int) -> int:
        resp = await self.call(
            "getMinimumBalanceForRentExemption",
            lambda: self._client.get_minimum_balance_for_rent_exemption(size),
        )
        return resp.value

    async def get_signature_statuses(
        self, signatures: Sequence[Signature], *, search_history: bool = True
    ) -> list[TransactionStatus | None]:
        sigs = list(signatures)
        resp = await self.call(
            "getSignatureStatuses",
            lambda: self._client.get_signature_statuses(
                sigs, search_transaction_history=search_history
            ),
        )
        return list(resp.value)

    async def get_transaction(
        self, signature: Signature
    ) -> EncodedConfirmedTransactionWithStatusMeta | None:
        resp = await self.call(
            "getTransaction",
            lambda: self._client.get_transaction(
                signature,
                encoding="json",
                commitment=self.commitment,
                max_supported_transaction_version=0,
            ),
        )
        return resp.value

    async def get_transactions(
        self, signatures: Sequence[Signature]
    ) -> list[EncodedConfirmedTransactionWithStatusMeta | None]:
        """getTransaction for many signatures in one batch (None where there is no record)."""
        sigs = list(signatures)
        if not sigs:
            return []
        config = RpcTransactionConfig(
            encoding=UiTransactionEncoding.Json,
            commitment=_COMMITMENT_LEVELS[self.commitment],
            max_supported_transaction_version=0,
        )
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
        resp = await self.call(
            "getSignaturesForAddress",
            lambda: self._client.get_signatures_for_address(
                address, before=before, until=until, limit=limit, commitment=self.commitment
            ),
        )
        return list(resp.value)

    async def send_raw_transaction(self, raw: bytes) -> Signature:
        """Send signed bytes as they are: no preflight, no RPC-side retries (we re-send)."""
        opts = TxOpts(
            skip_preflight=True,
            skip_confirmation=True,
            preflight_commitment=self.commitment,
            max_retries=0,
        )
        resp = await self.call(
            "sendTransaction", lambda: self._client.send_raw_transaction(raw, opts)
        )
        return resp.value

    async def simulate(
        self, tx: VersionedTransaction, accounts: Sequence[Pubkey]
    ) -> RpcSimulateTransactionResult:
        """Simulate without signature checks, returning the post-state of `accounts`."""
        addresses = list(accounts)
        resp = await self.call(
            "simulateTransaction",
            lambda: self._client.simulate_transaction(
                tx,
                sig_verify=False,
                commitment=self.commitment,
                accounts_addresses=addresses,
                accounts_encoding="base64",
            ),
        )
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
        body = _RawBody(json.dumps(payload))
        # Distinct methods only, so the statistics' labels stay few however large the batch.
        methods = ",".join(dict.fromkeys(str(item["method"]) for item in payload))
        label = f"batch[{methods}]"

        async def send() -> list[Any]:
            raw = await self._client._provider.make_request_unparsed(body)
            answers = json.loads(raw)
            if not isinstance(answers, list) or len(answers) != len(requests):
                raise OperationalError(f"RPC {label}: the server did not answer as a batch")
            answers.sort(key=lambda a: a.get("id", math.inf) if isinstance(a, dict) else math.inf)
            parsed = batch_from_json(json.dumps(answers), list(parsers))
            for item in parsed:
                if not isinstance(item, tuple(parsers)):
                    raise RPCException(item)
            return list(parsed)

        return await self.call(label, send)
