"""One retry policy for every client that talks to the outside: Solana RPC, Jupiter, X Ads.

- Only a `TemporaryError` is retried, and never an `OutcomeUnknown`: a write that may have taken
  effect goes back to its caller, which looks up what happened instead of sending it again.
- A `RateLimited` waits what the server said (`Retry-After`, `x-ratelimit-reset`, read by
  `rate_limit_wait`), within a budget per call; a longer wait raises it at once. Anything else
  backs off exponentially with full jitter.
- Every call has a deadline: its attempts and backoffs end within `deadline_seconds`, plus the
  rate-limit waits it was granted. Each attempt runs under what is left of it, so a server that
  trickles one byte at a time cannot hold a call (httpx's read timeout restarts on every byte).
- Waits, the clocks and the jitter come from the caller, so tests never sleep for real.
- Every retry is logged at INFO, e.g. `429 Too Many Requests: retrying` with the service, the
  method, the attempt, the wait and the status (the runbook's scenario 6 symptom).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import TypeVar

import structlog
from tenacity import AsyncRetrying, RetryCallState

from flywheel.errors import OutcomeUnknown, RateLimited, TemporaryError

log = structlog.get_logger("flywheel.retry")

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]

_MIN_RATE_LIMIT_WAIT = 0.1  # a reset already in the past still gets a short pause, never a spin
_UNIX_SECONDS_FLOOR = 1_000_000_000.0  # 2001: below it, x-ratelimit-reset is a delay in seconds


@dataclass(frozen=True)
class RetryPolicy:
    """How one client retries; `sleep`, `monotonic`, `wall_clock` and `jitter` are injectable."""

    max_attempts: int = 4
    backoff_initial: float = 0.25
    backoff_max: float = 8.0
    max_rate_limit_wait: float = 60.0  # all 429 waits of one call together
    deadline_seconds: float = 60.0
    deadline_name: str = "API_CALL_DEADLINE_SECONDS"  # the variable that sets it, for messages
    sleep: Sleep = field(default=asyncio.sleep, compare=False)
    monotonic: Clock = field(default=time.monotonic, compare=False)
    wall_clock: Clock = field(default=time.time, compare=False)  # for reset times in headers
    jitter: Callable[[float, float], float] = field(default=random.uniform, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.deadline_seconds <= 0:
            raise ValueError("deadline_seconds must be positive")
        if self.max_rate_limit_wait < 0:
            raise ValueError("max_rate_limit_wait must not be negative")

    def but(self, **changes: object) -> RetryPolicy:
        return replace(self, **changes)  # type: ignore[arg-type]

    async def call(
        self,
        service: str,
        method: str,
        attempt: Callable[[], Awaitable[T]],
        *,
        on_deadline: Callable[[str], TemporaryError] | None = None,
    ) -> T:
        """Run `attempt` until it succeeds or the policy says stop; the last error is raised.

        `on_deadline` turns the deadline's message into the caller's error (a write cut off
        mid-way is an `OutcomeUnknown`); a plain `TemporaryError` otherwise."""
        return await _Call(self, service, method, on_deadline).run(attempt)


def retryable(exc: BaseException) -> bool:
    return isinstance(exc, TemporaryError) and not isinstance(exc, OutcomeUnknown)


def status_text(status: int | None) -> str:
    """`429 Too Many Requests`, `503 Service Unavailable`; the phrase operators search logs for."""
    if status is None:
        return "no answer"
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def rate_limit_wait(headers: object, wall_clock: Clock = time.time) -> float | None:
    """Seconds until a rate limit resets, from `x-ratelimit-reset` (unix seconds) or
    `Retry-After` (seconds or an HTTP date); None when neither says."""
    get = getattr(headers, "get", None)
    if get is None:
        return None
    reset = get("x-ratelimit-reset")
    if reset is not None:
        seconds = _number(reset)
        if seconds is not None:
            # Unix seconds as Jupiter sends it; a small number is a delay, as some proxies send.
            until = seconds if seconds < _UNIX_SECONDS_FLOOR else seconds - wall_clock()
            return max(until, _MIN_RATE_LIMIT_WAIT)
    after = get("retry-after")
    if after is None:
        return None
    seconds = _number(after)
    if seconds is not None:
        return max(seconds, 0.0)
    try:
        when = parsedate_to_datetime(str(after))
    except (TypeError, ValueError, IndexError):
        return None
    return max(when.timestamp() - wall_clock(), 0.0)


def _number(text: object) -> float | None:
    try:
        value = float(str(text))
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


class _Call:
    """The state of one call: its deadline, its rate-limit budget, its attempts."""

    def __init__(
        self,
        policy: RetryPolicy,
        service: str,
        method: str,
        on_deadline: Callable[[str], TemporaryError] | None,
    ) -> None:
        self.policy = policy
        self.on_deadline = on_deadline or TemporaryError
        self.service = service
        self.method = method
        self.started = policy.monotonic()
        self.granted = 0.0  # rate-limit waits granted so far; they extend the deadline

    def left(self) -> float:
        deadline = self.started + self.policy.deadline_seconds + self.granted
        return deadline - self.policy.monotonic()

    async def run(self, attempt: Callable[[], Awaitable[T]]) -> T:
        retrying = AsyncRetrying(
            sleep=self.policy.sleep,
            stop=self._stop,
            wait=self._wait,
            retry=self._retry,
            before_sleep=self._log,
            reraise=True,
        )
        async for try_ in retrying:
            with try_:
                return await self._one(attempt)
        raise AssertionError("unreachable: tenacity returns or re-raises")  # pragma: no cover

    async def _one(self, attempt: Callable[[], Awaitable[T]]) -> T:
        left = self.left()
        if left <= 0:
            raise self._deadline_error()
        deadline = asyncio.timeout(left)
        try:
            async with deadline:
                return await attempt()
        except TimeoutError:
            if not deadline.expired():
                raise
            raise self._deadline_error() from None

    def _deadline_error(self) -> TemporaryError:
        return self.on_deadline(
            f"{self.service} {self.method}: no complete answer within the call deadline of "
            f"{self.policy.deadline_seconds:g}s ({self.policy.deadline_name})"
        )

    @staticmethod
    def _exception(state: RetryCallState) -> BaseException | None:
        return state.outcome.exception() if state.outcome is not None else None

    def _retry(self, state: RetryCallState) -> bool:
        exc = self._exception(state)
        return exc is not None and retryable(exc)

    def _stop(self, state: RetryCallState) -> bool:
        exc = self._exception(state)
        if state.attempt_number >= self.policy.max_attempts:
            return True
        if isinstance(exc, RateLimited):
            wait = self._rate_limit_wait(exc)
            return self.granted + wait > self.policy.max_rate_limit_wait
        return self._backoff(state.attempt_number) >= self.left()

    def _rate_limit_wait(self, exc: RateLimited) -> float:
        if exc.retry_after is None:
            return self._backoff(1)
        return max(exc.retry_after, _MIN_RATE_LIMIT_WAIT)

    def _backoff(self, attempt: int) -> float:
        return float(min(self.policy.backoff_max, self.policy.backoff_initial * 2 ** (attempt - 1)))

    def _wait(self, state: RetryCallState) -> float:
        exc = self._exception(state)
        if isinstance(exc, RateLimited):
            return self._rate_limit_wait(exc)
        ceiling = self._backoff(state.attempt_number)
        # Full jitter spreads clients that failed together so they do not retry together.
        wait = float(self.policy.jitter(ceiling / 2, ceiling))
        return min(wait, max(self.left(), 0.0))

    def _log(self, state: RetryCallState) -> None:
        exc = self._exception(state)
        status = getattr(exc, "status", None)
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        if isinstance(exc, RateLimited):
            # Counted here, the one hook that runs only when the wait really happens (tenacity
            # has asked `wait` before and after `stop` in different versions).
            self.granted += wait
        log.info(
            f"{status_text(status)}: retrying",
            service=self.service,
            method=self.method,
            attempt=state.attempt_number,
            wait_s=round(wait, 3),
            status=status,
            error=str(exc),
        )
