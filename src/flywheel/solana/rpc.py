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
from solders.commitment_config import CommitmentLevel
from solders.rpc.requests import batch_to_json

from flywheel.config.secrets import redact_url
from flywheel.errors import FlywheelError, OperationalError, RateLimited, TemporaryError
from flywheel.retry import RetryPolicy, rate_limit_wait, status_text
from flywheel.solana.jsonrpc import batch_results, decode, result_of
from flywheel.solana.rpc_requests import RpcRequests
from flywheel.solana.rpc_stats import RpcHook, RpcStats

__all__ = ["RpcClient", "RpcHook", "RpcStats"]

log = structlog.get_logger(__name__)

T = TypeVar("T")


class _Failed(Exception):
    """One attempt's error with its statistics label; never leaves this module."""

    def __init__(self, outcome: str, error: FlywheelError) -> None:
        self.outcome = outcome
        self.error = error


class RpcClient(RpcRequests):
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
