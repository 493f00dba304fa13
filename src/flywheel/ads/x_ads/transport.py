"""One signed request to the X Ads API, with X's waiting rules and errors translated.

- OAuth 1.0a HMAC-SHA1 on every request, computed by authlib's RFC 5849 client.
- 429: wait until `x-rate-limit-reset` (or the account limit's reset), as long as the total wait
  for one call stays within `max_rate_limit_wait_seconds`; otherwise `XAdsRateLimited`.
- 5xx: retried a few times with exponential backoff and jitter. A write that got no answer at
  all (timeout after sending) is not retried: it may have happened, and only a lookup can tell.
- Everything else: `XAdsAuthError`, `XAdsFundingError` or `XAdsRequestError` with X's words.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Generator, Mapping
from typing import Any

import httpx
import structlog
from authlib.oauth1 import ClientAuth

from flywheel.errors import (
    XAdsAuthError,
    XAdsError,
    XAdsFundingError,
    XAdsRateLimited,
    XAdsRequestError,
    XAdsUnavailable,
)

log = structlog.get_logger(__name__)

# Sub-strings of X error codes that mean "the money side refused": the operator must look at
# the funding instrument, not at our request.
_FUNDING_CODE_MARKERS = ("FUNDING", "CREDIT", "INSUFFICIENT_FUNDS")
_RESET_HEADERS = (
    ("x-rate-limit-remaining", "x-rate-limit-reset"),
    ("x-account-rate-limit-remaining", "x-account-rate-limit-reset"),
)
_DEFAULT_RATE_LIMIT_WAIT_SECONDS = 60.0
_MAX_RATE_LIMIT_RETRIES = 10
_RESET_MARGIN_SECONDS = 0.1  # reset is whole seconds; a hair later avoids a second 429


class OAuth1Signer(httpx.Auth):
    """httpx auth that signs with authlib's OAuth 1.0a client.

    authlib's own httpx integration (`OAuth1Auth`) targets the `httpx2` package when it is
    installed (solana-py pulls it in), and httpx refuses its objects; its signing core
    (`ClientAuth`) is transport-free, so we drive it from a plain `httpx.Auth`.
    """

    requires_request_body = True

    def __init__(
        self, consumer_key: str, consumer_secret: str, access_token: str, access_token_secret: str
    ) -> None:
        self._client_auth = ClientAuth(
            consumer_key,
            client_secret=consumer_secret,
            token=access_token,
            token_secret=access_token_secret,
        )

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        content_type = request.headers.get("content-type", "")
        headers = {"Content-Type": content_type} if content_type else {}
        _, signed, _ = self._client_auth.prepare(
            request.method, str(request.url), headers, request.content
        )
        request.headers["Authorization"] = signed["Authorization"]
        yield request

    def __repr__(self) -> str:
        return "OAuth1Signer(HMAC-SHA1, secrets hidden)"


class XAdsTransport:
    def __init__(
        self,
        *,
        base_url: str,
        account_id: str,
        signer: OAuth1Signer,
        timeout: float,
        max_rate_limit_wait_seconds: float,
        server_error_retries: int = 3,
        retry_backoff_seconds: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.account_id = account_id
        self._max_wait = max_rate_limit_wait_seconds
        self._retries = server_error_retries
        self._backoff = retry_backoff_seconds
        self._http = httpx.AsyncClient(
            base_url=base_url, auth=signer, timeout=httpx.Timeout(timeout), transport=transport
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(
        self, method: str, path: str, params: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        waited = 0.0
        rate_limited = 0
        failures = 0
        while True:
            try:
                response = await self._http.request(method, path, params=dict(params or {}))
            except httpx.TransportError as exc:
                # A connection never made is safe to retry; a write sent without an answer is not.
                safe = method in ("GET", "PUT", "DELETE") or isinstance(
                    exc, httpx.ConnectError | httpx.ConnectTimeout
                )
                if not safe or failures >= self._retries:
                    outcome = "" if safe else "; the write may or may not have happened"
                    raise XAdsUnavailable(
                        f"X Ads API unreachable on {method} {path}: {type(exc).__name__}{outcome}"
                    ) from exc
                failures += 1
                await self._back_off(method, path, failures, type(exc).__name__)
                continue
            status = response.status_code
            if status == 429:
                wait = _rate_limit_wait(response)
                rate_limited += 1
                if waited + wait > self._max_wait or rate_limited > _MAX_RATE_LIMIT_RETRIES:
                    raise XAdsRateLimited(
                        f"X Ads API rate limit on {method} {path}: the limit resets in "
                        f"{wait:.0f} s, beyond the {self._max_wait:.0f} s we may wait",
                        retry_after=wait,
                    )
                log.warning("x_ads.rate_limited", method=method, path=path, wait_s=round(wait, 2))
                await asyncio.sleep(wait)
                waited += wait
                continue
            if status >= 500:
                if failures >= self._retries:
                    raise XAdsUnavailable(
                        f"X Ads API answered {status} on {method} {path} "
                        f"{failures + 1} times; try again later"
                    )
                failures += 1
                await self._back_off(method, path, failures, str(status))
                continue
            if response.is_success:
                return _json(response, method, path)
            raise self._error(response, method, path)

    async def _back_off(self, method: str, path: str, attempt: int, reason: str) -> None:
        delay = self._backoff * 2 ** (attempt - 1) + random.uniform(0, self._backoff / 2)
        log.warning("x_ads.retry", method=method, path=path, reason=reason, delay_s=round(delay, 2))
        await asyncio.sleep(delay)

    def _error(self, response: httpx.Response, method: str, path: str) -> XAdsError:
        status = response.status_code
        errors = _errors_of(response)
        first = errors[0] if errors else {}
        code = first.get("code")
        message = str(first.get("message") or response.reason_phrase or "no message")
        parameter = first.get("parameter")
        if status in (401, 403):
            return XAdsAuthError(status, self.account_id, f"{message} (code {code})")
        if any(marker in str(code) for marker in _FUNDING_CODE_MARKERS):
            return XAdsFundingError(
                f"X Ads API refused {method} {path} for lack of funding: {message} ({code}). "
                "Check the account's funding instruments in X Ads Manager.",
                reasons=[message],
            )
        return XAdsRequestError(
            method=method,
            path=path,
            status=status,
            code=code,
            api_message=message,
            parameter=str(parameter) if parameter is not None else None,
            errors=errors,
        )


def _rate_limit_wait(response: httpx.Response) -> float:
    """Seconds until the exhausted limit resets, from X's headers (unix seconds)."""
    resets = []
    for remaining_header, reset_header in _RESET_HEADERS:
        reset = response.headers.get(reset_header)
        remaining = response.headers.get(remaining_header)
        if reset and reset.isdigit() and remaining in (None, "0"):
            resets.append(int(reset))
    if resets:
        # A reset already past (clock skew) still earns a short pause, not a hot loop.
        return max(1.0, max(resets) - time.time() + _RESET_MARGIN_SECONDS)
    retry_after = response.headers.get("retry-after", "")
    if retry_after.isdigit():
        return max(1.0, float(retry_after))
    return _DEFAULT_RATE_LIMIT_WAIT_SECONDS


def _json(response: httpx.Response, method: str, path: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise XAdsRequestError(
            method=method,
            path=path,
            status=response.status_code,
            code="INVALID_RESPONSE",
            api_message="the answer is not a JSON object",
        )
    return body


def _errors_of(response: httpx.Response) -> list[dict[str, Any]]:
    try:
        body = response.json()
    except ValueError:
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return []
    return [e for e in errors if isinstance(e, dict)]
