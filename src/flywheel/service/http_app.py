"""The HTTP side of the service (HTTP_HOST:HTTP_PORT): GET /health and the two webhooks.

    GET  /health                        200 healthy | 503 unhealthy (body: see service.health)
    POST /webhook/trigger               202 {"accepted": true, "epochId": ...}: started; the id
                                        is the epoch's journal id (null only if it could not be
                                        seen within a second: the epoch still runs)
                                        409 an epoch is running (here or in another process)
                                        503 the circuit breaker is open (Retry-After), or the
                                        service is shutting down
    POST /webhook/reset-circuit-breaker 200 {"circuitBreaker": "closed", "previous": ...}

Webhook guard, in order: 403 when webhooks are disabled (WEBHOOK_SECRET unset or shorter than
32 characters: a short secret can be guessed, so it is refused rather than trusted); 413 when
the declared body exceeds 4 KiB; then `Authorization: Bearer <WEBHOOK_SECRET>` (compared in
constant time). The right secret is always let through: the limiter limits failures, not the
operator, who often shares one address with everyone (Docker's port publishing). A failure is
401, or 429 once its client made too many (10 a minute) or all clients together did (100 a
minute, the global ceiling). The body is then read within 10 s and 4 KiB (408, 413).

/health without the secret shows the next epoch only to the minute (the exact second would undo
EPOCH_JITTER_SECONDS) and no time of a sliced buyback's next slice (buybackWindow.nextSliceAt,
the secret of its random schedule); with `Authorization: Bearer <WEBHOOK_SECRET>` both are
exact. A wrong token there counts as a failure, so /health cannot be used to guess the secret
either.
"""

from __future__ import annotations

import asyncio
import hmac
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from flywheel.config.risks import MIN_WEBHOOK_SECRET_LENGTH
from flywheel.service.health import to_the_minute, without_schedule

log = structlog.get_logger("flywheel.http")

MIN_SECRET_LENGTH = MIN_WEBHOOK_SECRET_LENGTH  # `flywheel config check` refuses shorter ones
MAX_BODY_BYTES = 4096
FAILED_AUTH_LIMIT = 10
GLOBAL_FAILED_AUTH_LIMIT = 100  # all clients together, in the same window
FAILED_AUTH_WINDOW_SECONDS = 60.0
BODY_READ_SECONDS = 10.0

TriggerStatus = Literal["accepted", "busy", "locked", "breaker-open", "stopping"]


@dataclass(frozen=True)
class TriggerResult:
    status: TriggerStatus
    epoch_id: str | None = None
    retry_at: datetime | None = None


class WebhookBackend(Protocol):
    """What the HTTP app needs from the service."""

    def health(self) -> tuple[int, dict[str, Any]]: ...
    async def trigger(self, source: str) -> TriggerResult: ...
    def reset_breaker(self) -> str: ...


class FailureLimiter:
    """Failed webhook attempts per client IP, and of all clients, in a sliding window.

    Only failures are limited: a request with the right secret never asks. Memory is bounded
    (`max_clients` addresses, `limit` and `global_limit` timestamps).
    """

    def __init__(
        self,
        limit: int = FAILED_AUTH_LIMIT,
        window_seconds: float = FAILED_AUTH_WINDOW_SECONDS,
        *,
        global_limit: int = GLOBAL_FAILED_AUTH_LIMIT,
        max_clients: int = 10_000,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.global_limit = global_limit
        self.window = window_seconds
        self._max_clients = max_clients
        self._now = now
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._all: deque[float] = deque()

    def _wait(self, stamps: deque[float], limit: int) -> float | None:
        if len(stamps) < limit:
            return None
        return max(0.0, stamps[len(stamps) - limit] + self.window - self._now())

    def _recent(self, client: str) -> deque[float]:
        stamps = self._failures.get(client)
        if stamps is None:
            return deque()
        horizon = self._now() - self.window
        while stamps and stamps[0] <= horizon:
            stamps.popleft()
        if not stamps:
            del self._failures[client]
        return stamps

    def retry_after(self, client: str) -> float | None:
        """Seconds until a failing `client` is answered 401 again, or None (not blocked)."""
        horizon = self._now() - self.window
        while self._all and self._all[0] <= horizon:
            self._all.popleft()
        waits = [self._wait(self._recent(client), self.limit)]
        waits.append(self._wait(self._all, self.global_limit))
        found = [w for w in waits if w is not None]
        return max(found) if found else None

    def record_failure(self, client: str) -> None:
        stamps = self._recent(client)
        stamps.append(self._now())
        self._all.append(self._now())
        while len(self._all) > self.global_limit:
            self._all.popleft()
        self._failures[client] = stamps
        self._failures.move_to_end(client)
        while len(stamps) > self.limit:  # older ones no longer decide anything
            stamps.popleft()
        while len(self._failures) > self._max_clients:
            self._failures.popitem(last=False)


def usable_secret(secret: str | None) -> str | None:
    """The webhook secret if it is long enough to trust, else None (webhooks disabled)."""
    if secret is None or len(secret) < MIN_SECRET_LENGTH:
        return None
    return secret


def webhook_status_reason(secret: str | None) -> str:
    """Why webhooks are on or off, for the start-up log (never the secret itself)."""
    if secret is None:
        return "disabled: WEBHOOK_SECRET is not set"
    if len(secret) < MIN_SECRET_LENGTH:
        return (
            f"disabled: WEBHOOK_SECRET has {len(secret)} characters, fewer than "
            f"{MIN_SECRET_LENGTH}; make one with `openssl rand -base64 32`"
        )
    return "enabled"


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(
        body, status_code=status, headers={"Cache-Control": "no-store", **(headers or {})}
    )


def _client(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


class _Guard:
    def __init__(
        self, secret: str | None, limiter: FailureLimiter, max_body: int, body_timeout: float
    ) -> None:
        self._secret = None if secret is None else secret.encode()
        self._limiter = limiter
        self._max_body = max_body
        self._body_timeout = body_timeout

    async def check(self, request: Request) -> Response | None:
        """None when the request may proceed, else the refusal to send."""
        if self._secret is None:
            return _json(403, {"error": "webhooks are disabled on this service (see its log)"})
        client = _client(request)
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self._max_body):
            return _json(413, {"error": f"request body larger than {self._max_body} bytes"})
        refusal = self._authenticate(request)
        if refusal is not None:
            return self._failed(request, client, refusal)
        size = 0
        try:
            async with asyncio.timeout(self._body_timeout):
                async for chunk in request.stream():  # chunked bodies carry no content-length
                    size += len(chunk)
                    if size > self._max_body:
                        return _json(
                            413, {"error": f"request body larger than {self._max_body} bytes"}
                        )
        except TimeoutError:
            wait = self._body_timeout
            return _json(408, {"error": f"request body not sent within {wait:g} s"})
        return None

    def authorized(self, request: Request) -> bool:
        """Whether `request` carries the right secret; a wrong one counts as a failure."""
        if self._secret is None or request.headers.get("authorization") is None:
            return False
        refusal = self._authenticate(request)
        if refusal is not None:
            self._failed(request, _client(request), refusal)
            return False
        return True

    def _failed(self, request: Request, client: str, refusal: str) -> Response:
        wait = self._limiter.retry_after(client)
        self._limiter.record_failure(client)
        if wait is not None:
            return _json(
                429,
                {"error": "too many failed attempts; try again later"},
                {"Retry-After": str(max(1, math.ceil(wait)))},
            )
        log.warning("webhook.auth_failed", client=client, path=request.url.path, why=refusal)
        return _json(401, {"error": refusal}, {"WWW-Authenticate": 'Bearer realm="flywheel"'})

    def _authenticate(self, request: Request) -> str | None:
        assert self._secret is not None
        header = request.headers.get("authorization")
        if header is None:
            return "missing Authorization header; send Authorization: Bearer <WEBHOOK_SECRET>"
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return "Authorization must be: Bearer <WEBHOOK_SECRET>"
        # Starlette decodes header bytes as latin-1: encode back to compare the raw bytes.
        if not hmac.compare_digest(token.strip().encode("latin-1"), self._secret):
            return "invalid webhook token"
        return None


def build_http_app(
    backend: WebhookBackend,
    *,
    webhook_secret: str | None,
    limiter: FailureLimiter | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    body_timeout: float = BODY_READ_SECONDS,
    console: Callable[[WebhookBackend], list[BaseRoute]] | None = None,
) -> Starlette:
    """The Starlette app; `webhook_secret` is the raw WEBHOOK_SECRET (checked for length here).
    `console` makes the web console's routes (service/console), served after these."""
    guard = _Guard(
        usable_secret(webhook_secret), limiter or FailureLimiter(), max_body_bytes, body_timeout
    )

    async def health(request: Request) -> Response:
        status, body = backend.health()
        if not guard.authorized(request):
            body = without_schedule({**body, "nextEpoch": to_the_minute(body.get("nextEpoch"))})
        return _json(status, body)

    async def trigger(request: Request) -> Response:
        refusal = await guard.check(request)
        if refusal is not None:
            return refusal
        result = await backend.trigger(f"webhook:{_client(request)}")
        if result.status == "accepted":
            return _json(202, {"accepted": True, "epochId": result.epoch_id})
        if result.status == "busy":
            return _json(409, {"error": "an epoch is already running", "epochId": result.epoch_id})
        if result.status == "locked":
            return _json(409, {"error": "another process is running an epoch on this state"})
        if result.status == "breaker-open":
            headers = {}
            body: dict[str, Any] = {"error": "circuit breaker is open", "circuitBreaker": "open"}
            if result.retry_at is not None:
                body["retryAt"] = result.retry_at.isoformat().replace("+00:00", "Z")
                wait = result.retry_at.timestamp() - time.time()
                headers["Retry-After"] = str(max(1, math.ceil(wait)))
            return _json(503, body, headers)
        return _json(503, {"error": "the service is shutting down"})

    async def reset(request: Request) -> Response:
        refusal = await guard.check(request)
        if refusal is not None:
            return refusal
        previous = backend.reset_breaker()
        return _json(200, {"circuitBreaker": "closed", "previous": previous})

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/webhook/trigger", trigger, methods=["POST"]),
            Route("/webhook/reset-circuit-breaker", reset, methods=["POST"]),
            *(console(backend) if console is not None else []),
        ]
    )
