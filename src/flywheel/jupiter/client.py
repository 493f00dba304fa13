"""Jupiter (the Solana DEX aggregator) over HTTP: quotes, swap transactions, USD prices.

Implements the `Dex` and `PriceFeed` ports against Metis v1 (`/swap/v1/quote`, `/swap/v1/swap`)
and Price V3 (`/price/v3`). This is the boundary where httpx's exceptions and Jupiter's error
answers become `flywheel.errors`: nothing from httpx escapes it.
"""

from __future__ import annotations

import json
from decimal import Decimal
from types import TracebackType
from typing import Any

import httpx
import structlog
from solders.pubkey import Pubkey

from flywheel.config.secrets import redact_url
from flywheel.domain.trade import Quote
from flywheel.errors import (
    ConfigError,
    JupiterApiError,
    OperationalError,
    RateLimited,
    TemporaryError,
)
from flywheel.jupiter.models import (
    SOL_MINT,
    api_error,
    decode_json,
    parse_prices,
    parse_quote,
    parse_swap,
)
from flywheel.retry import RetryPolicy, rate_limit_wait, status_text

__all__ = ["SOL_MINT", "JupiterApiError", "JupiterClient"]

log = structlog.get_logger("flywheel.jupiter")

_ATTEMPTS = 4  # 1 try + 3 retries of a 429, 5xx, timeout or dropped connection
_DEFAULT_RATE_LIMIT_WAIT = 1.0  # when a 429 names no reset time


def _check_pubkey(value: str, name: str) -> str:
    try:
        Pubkey.from_string(value)
    except ValueError:
        raise ConfigError([f"{name} is not a valid Solana address: {value!r}"]) from None
    return value


class JupiterClient:
    """The `Dex` and `PriceFeed` ports on Jupiter's HTTP API (or the sandbox's copy of it)."""

    def __init__(
        self,
        base_url: str,
        token_mint: str,
        user_pubkey: str,
        max_slippage_bps: int,
        max_priority_fee_lamports: int = 1_000_000,
        api_key: str | None = None,
        timeout: float = 20,
        max_rate_limit_wait_seconds: float = 60,
        deadline_seconds: float = 60,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        problems: list[str] = []
        if not base_url.startswith(("http://", "https://")):
            shown = redact_url(base_url)
            problems.append(f"Jupiter base URL must start with http:// or https://: {shown!r}")
        if not 0 <= max_slippage_bps <= 10_000:
            problems.append(f"max slippage must be within 0..10000 bps, got {max_slippage_bps}")
        if max_priority_fee_lamports < 0:
            problems.append("max priority fee must not be negative")
        if timeout <= 0:
            problems.append("Jupiter timeout must be positive")
        if max_rate_limit_wait_seconds < 0:
            problems.append("max rate-limit wait must not be negative")
        if deadline_seconds <= 0:
            problems.append("Jupiter call deadline must be positive")
        if problems:
            raise ConfigError(problems)
        self.base_url = base_url.rstrip("/")
        self.token_mint = _check_pubkey(token_mint, "token mint")
        self.user_pubkey = _check_pubkey(user_pubkey, "executor public key")
        self.max_slippage_bps = max_slippage_bps
        self.max_priority_fee_lamports = max_priority_fee_lamports
        self.timeout = timeout
        self.max_rate_limit_wait_seconds = max_rate_limit_wait_seconds
        self.retry = retry or RetryPolicy(
            max_attempts=_ATTEMPTS,
            backoff_initial=0.2,
            backoff_max=3.0,
            max_rate_limit_wait=max_rate_limit_wait_seconds,
            deadline_seconds=deadline_seconds,
        )
        headers = {"accept": "application/json"}
        if api_key:
            headers["x-api-key"] = api_key
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout),  # connect, write, each read; the call has a deadline
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        # Spelled out so the API key (in the client's headers) never reaches a log line.
        shown = redact_url(self.base_url)
        return f"JupiterClient(base_url={shown!r}, token_mint={self.token_mint!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> JupiterClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- Dex ---------------------------------------------------------------------------------
    async def quote(self, in_lamports: int) -> Quote:
        """An ExactIn quote for `in_lamports` of SOL into the token, at our slippage limit."""
        return await self._quote(
            in_lamports,
            "/swap/v1/quote",
            "quote",
            {
                "swapMode": "ExactIn",
                "restrictIntermediateTokens": "true",
            },
        )

    async def _quote(self, in_lamports: int, path: str, where: str, extra: dict[str, str]) -> Quote:
        """GET a quote for SOL into the token (v1 /quote, v2 /build), checked by parse_quote."""
        if in_lamports <= 0:
            raise OperationalError(f"cannot quote {in_lamports} lamports: must be positive")
        params = {
            "inputMint": SOL_MINT,
            "outputMint": self.token_mint,
            "amount": str(in_lamports),
            "slippageBps": str(self.max_slippage_bps),
            **extra,
        }
        text = await self._call("GET", path, where, params=params)
        quote = parse_quote(
            text,
            in_lamports=in_lamports,
            output_mint=self.token_mint,
            max_slippage_bps=self.max_slippage_bps,
        )
        log.debug(
            f"jupiter {where}",
            in_lamports=quote.in_lamports,
            out_amount=quote.out_amount,
            min_out_amount=quote.min_out_amount,
            price_impact_bps=quote.price_impact_bps,
        )
        return quote

    async def swap_transaction(self, quote: Quote) -> bytes:
        """The unsigned swap Jupiter builds for `quote`, refused if Jupiter says it will fail."""
        if not quote.raw:
            raise OperationalError("cannot build a swap: the quote carries no Jupiter answer")
        return await self.v1_swap(quote.raw)

    async def v1_swap(self, quote_response: dict[str, Any]) -> bytes:
        """POST /swap/v1/swap for a quote answer as Jupiter gave it (a buy's or a sale's)."""
        body = {
            "userPublicKey": self.user_pubkey,
            "quoteResponse": quote_response,
            "wrapAndUnwrapSol": True,
            "dynamicComputeUnitLimit": True,
            "prioritizationFeeLamports": {
                "priorityLevelWithMaxLamports": {
                    "priorityLevel": "high",
                    "maxLamports": self.max_priority_fee_lamports,
                }
            },
        }
        text = await self._call("POST", "/swap/v1/swap", "swap", json_body=body)
        return parse_swap(text)

    # -- PriceFeed ---------------------------------------------------------------------------
    async def prices(self) -> tuple[Decimal | None, Decimal | None]:
        """(USD per SOL, USD per whole token) in one request; None where Jupiter has none."""
        mints = (SOL_MINT, self.token_mint)
        text = await self._call("GET", "/price/v3", "price", params={"ids": ",".join(mints)})
        found = parse_prices(text, mints)
        return found[SOL_MINT], found[self.token_mint]

    async def sol_usd(self) -> Decimal | None:
        return (await self.prices())[0]

    async def token_usd(self) -> Decimal | None:
        return (await self.prices())[1]

    # -- HTTP --------------------------------------------------------------------------------
    async def _call(
        self,
        method: str,
        path: str,
        where: str,
        *,
        params: dict[str, str] | None = None,
        json_body: dict[str, Any] | None = None,
    ) -> str:
        """The body of a successful answer; failures retried by the one policy (a swap build
        is a read as far as money goes: nothing is signed or sent)."""
        content = None if json_body is None else json.dumps(json_body).encode()
        return await self.retry.call(
            "Jupiter", where, lambda: self._attempt(method, path, where, params, content)
        )

    async def _attempt(
        self,
        method: str,
        path: str,
        where: str,
        params: dict[str, str] | None,
        content: bytes | None,
    ) -> str:
        """One request; its errors already translated."""
        headers = None if content is None else {"content-type": "application/json"}
        try:
            response = await self._http.request(
                method, path, params=params, content=content, headers=headers
            )
        except httpx.TimeoutException:
            raise TemporaryError(
                f"Jupiter {where}: no answer within {self.timeout:g}s (API_TIMEOUT_SECONDS)"
            ) from None
        except httpx.TransportError as exc:
            shown = redact_url(self.base_url)
            raise TemporaryError(
                f"Jupiter {where}: cannot reach {shown} ({type(exc).__name__})"
            ) from None
        except httpx.HTTPError as exc:
            raise OperationalError(
                f"Jupiter {where}: request failed ({type(exc).__name__})"
            ) from None
        status = response.status_code
        if status == 429:
            wait = rate_limit_wait(response.headers, self.retry.wall_clock)
            delay = _DEFAULT_RATE_LIMIT_WAIT if wait is None else wait
            raise RateLimited(
                f"Jupiter {where}: {status_text(status)}; the limit resets in {delay:.1f}s "
                f"(we wait at most {self.max_rate_limit_wait_seconds:g}s in all)",
                retry_after=delay,
            )
        if 200 <= status < 300:
            return response.text
        body = _body_or_text(response.text)
        if status >= 500:
            raise TemporaryError(str(api_error(where, body, status)), status=status)
        if status in (401, 403):
            raise JupiterApiError(
                f"Jupiter {where}: HTTP {status}, the API key is missing, wrong or lacks "
                "access to this endpoint",
                status=status,
            )
        raise api_error(where, body, status)


def _body_or_text(text: str) -> Any:
    try:
        return decode_json(text, "error")
    except OperationalError:
        return text
