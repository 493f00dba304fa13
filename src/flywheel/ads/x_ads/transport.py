"""One signed request to the X Ads API, with X's waiting rules and errors translated.

- OAuth 1.0a HMAC-SHA1 on every request, computed by authlib's RFC 5849 client.
- Retries follow the one policy (`flywheel.retry`): a 429 waits until `x-rate-limit-reset` (or
  the account limit's reset, or Retry-After) within `max_rate_limit_wait_seconds` per call, else
  `XAdsRateLimited`; a 5xx or a dropped connection is retried with backoff and jitter.
- A POST (a create) that got a 5xx or no answer after it was sent is never re-sent: it may have
  happened, so it raises `XAdsOutcomeUnknown` and the engine looks up what X has. GET reads and
  PUT/DELETE (set a status, delete an id) are safe to repeat.
- Every call ends within its deadline; everything else becomes `XAdsAuthError`,
  `XAdsFundingError` or `XAdsRequestError` with X's words.
"""

from __future__ import annotations

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
    XAdsOutcomeUnknown,
    XAdsRateLimited,
    XAdsRequestError,
    XAdsUnavailable,
)
from flywheel.retry import Clock, RetryPolicy, status_text

log = structlog.get_logger(__name__)

# Sub-strings of X error codes that mean "the money side refused": the operator must look at
# the funding instrument, not at our request.
_FUNDING_CODE_MARKERS = ("FUNDING", "CREDIT", "INSUFFICIENT_FUNDS")
_RESET_HEADERS = (
    ("x-rate-limit-remaining", "x-rate-limit-reset"),
    ("x-account-rate-limit-remaining", "x-account-rate-limit-reset"),
)
_DEFAULT_RATE_LIMIT_WAIT_SECONDS = 60.0
# Creates: repeating one after a lost answer could make a second campaign or line item.
_NOT_REPEATABLE = frozenset({"POST"})
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
        deadline_seconds: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.account_id = account_id
        self.retry = retry or RetryPolicy(
            max_attempts=server_error_retries + 1,
            backoff_initial=retry_backoff_seconds,
            backoff_max=max(8.0, retry_backoff_seconds),
            max_rate_limit_wait=max_rate_limit_wait_seconds,
            deadline_seconds=deadline_seconds,
        )
        # connect, write, each read: each at most `timeout`; the whole call has the deadline.
        self._http = httpx.AsyncClient(
            base_url=base_url, auth=signer, timeout=httpx.Timeout(timeout), transport=transport
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(
        self, method: str, path: str, params: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        query = dict(params or {})

        def cut_off(message: str) -> XAdsUnavailable:
            if method in _NOT_REPEATABLE:
                return XAdsOutcomeUnknown(f"{message}; the write may or may not have happened")
            return XAdsUnavailable(message)

        return await self.retry.call(
            "X Ads",
            f"{method} {path}",
            lambda: self._attempt(method, path, query),
            on_deadline=cut_off,
        )

    async def _attempt(self, method: str, path: str, query: dict[str, str]) -> dict[str, Any]:
        """One request; every failure already an `XAdsError`."""
        repeatable = method not in _NOT_REPEATABLE
        try:
            response = await self._http.request(method, path, params=query)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # Never connected, so never sent: safe to retry whatever the method.
            raise XAdsUnavailable(
                f"X Ads API unreachable on {method} {path}: {type(exc).__name__}"
            ) from None
        except httpx.TransportError as exc:
            if not repeatable:
                raise XAdsOutcomeUnknown(
                    f"X Ads API gave no answer to {method} {path} ({type(exc).__name__}); the "
                    "write may or may not have happened: it is looked up, not sent again"
                ) from None
            raise XAdsUnavailable(
                f"X Ads API unreachable on {method} {path}: {type(exc).__name__}"
            ) from None
        status = response.status_code
        if status == 429:  # refused before it was processed: safe to retry, after the wait
            wait = _rate_limit_wait(response, self.retry.wall_clock)
            raise XAdsRateLimited(
                f"X Ads API rate limit on {method} {path} ({status_text(status)}): the limit "
                f"resets in {wait:.0f} s; we wait at most {self.retry.max_rate_limit_wait:.0f} s",
                retry_after=wait,
            )
        if status >= 500:
            if not repeatable:
                raise XAdsOutcomeUnknown(
                    f"X Ads API answered {status} to {method} {path}; the write may or may not "
                    "have happened: it is looked up, not sent again",
                    status=status,
                )
            raise XAdsUnavailable(
                f"X Ads API answered {status} on {method} {path}; try again later", status=status
            )
        if response.is_success:
            return _json(response, method, path)
        raise self._error(response, method, path)

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


def _rate_limit_wait(response: httpx.Response, wall_clock: Clock = time.time) -> float:
    """Seconds until the exhausted limit resets, from X's headers (unix seconds)."""
    resets = []
    for remaining_header, reset_header in _RESET_HEADERS:
        reset = response.headers.get(reset_header)
        remaining = response.headers.get(remaining_header)
        if reset and reset.isdigit() and remaining in (None, "0"):
            resets.append(int(reset))
    if resets:
        # A reset already past (clock skew) still earns a short pause, not a hot loop.
        return max(1.0, max(resets) - wall_clock() + _RESET_MARGIN_SECONDS)
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
